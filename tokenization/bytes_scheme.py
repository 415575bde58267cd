"""bytes scheme: each UTF-8 byte v becomes id `byte_base + v`, one EOS after each document.

Trade-off: no Python per document. Arrow's `binary_join_element_wise` appends a placeholder byte to every
document in C++ (a memcpy per document), then one numpy pass widens to uint16 and adds the offset, and a
scatter of n writes puts EOS on the placeholders; both run per ~1 MiB chunk so the uint8 copy stays in cache.
Measured on the shared 2-core dev box (bench/tokenization_bytes.py, 64 MB of the sample corpus): about 0.6-0.9x
a bare numpy widening of the same bytes (the memcpy-class floor), vs ~0.3x for a boolean-mask fill and ~0.1x
for an index scatter of every byte.

Invalid UTF-8: the bytes are taken as they are, so this scheme is lossless for any bytes (a `binary` column, or a
string column built without validation); `decode` returns the exact bytes and only `decode_text` checks UTF-8.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tokenization.arrow_io import text_buffers
from tokenization.config import TokenizeConfig
from tokenization.layout import IdLayout, layout_for

_PLACEHOLDER = pa.scalar(b"\x00", pa.large_binary())
_EMPTY = pa.scalar(b"", pa.large_binary())
_CHUNK_BYTES = 1 << 20


def encode_bytes(texts: pa.Array, layout: IdLayout, *, append_eos: bool,
                 dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(offsets: (n+1,) int64 from 0, values: (offsets[-1],) dtype) for a text column without nulls.

    Example (carding layout, eos 2): ["hi", ""] -> offsets [0, 3, 4], values [168, 169, 2, 2].
    """
    if not append_eos:
        data, offs = text_buffers(texts)
        values = np.add(data[offs[0]:offs[-1]], dtype.type(layout.byte_base), dtype=dtype)
        return offs - offs[0], values
    binary = _as_large_binary(texts)
    _, offs = text_buffers(binary)
    n = len(offs) - 1
    rel = offs - offs[0]
    offsets = rel + np.arange(n + 1)  # one EOS slot after each document
    values = np.empty(int(offsets[-1]), dtype=dtype)
    # Chunks of ~1 MiB of text keep the joined uint8 copy in cache before it is widened into `values`: a Python
    # loop over chunks, not documents (64 MB: 64 iterations). Measured: 1 MiB chunks ~1.5x faster than one join.
    bounds = np.unique(np.concatenate([np.searchsorted(rel, np.arange(0, max(int(rel[-1]), 1), _CHUNK_BYTES)),
                                       [n]]))
    base = dtype.type(layout.byte_base)
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        # "hi", "" -> "hi\0", "\0": the placeholder slots are exactly where each document's EOS goes.
        joined = pc.binary_join_element_wise(binary.slice(a, b - a), _EMPTY, _PLACEHOLDER)
        data, jo = text_buffers(joined)
        np.add(data[jo[0]:jo[-1]], base, out=values[offsets[a]:offsets[b]], dtype=dtype)
    values[offsets[1:] - 1] = layout.specials["eos"]
    return offsets, values


def _as_large_binary(texts: pa.Array) -> pa.Array:
    """Zero-copy view as large_binary when the offsets are already 64-bit, else a cast (copies offsets)."""
    if texts.type == pa.large_string():
        return texts.view(pa.large_binary())
    if texts.type == pa.large_binary():
        return texts
    return texts.cast(pa.large_binary())


def decode_bytes(ids: np.ndarray, layout: IdLayout) -> bytes:
    """Bytes of `ids` (one document, or a packed row): pad/bos/eos and packing markers are dropped; any other id
    outside the byte range raises ValueError naming its position."""
    ids = np.asarray(ids)
    is_byte = (ids >= layout.byte_base) & (ids < layout.byte_base + 256)
    if not is_byte.all():
        droppable = np.array(sorted({layout.specials[k] for k in ("pad", "bos", "eos") if k in layout.specials}
                                    | set(layout.markers)), dtype=np.int64)
        bad = ~is_byte & ~np.isin(ids, droppable)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(f"token {pos}: id {int(ids[pos])} is neither a byte "
                             f"({layout.byte_base}..{layout.byte_base + 255}) nor pad/bos/eos/marker in the "
                             f"{layout.name} layout")
        ids = ids[is_byte]
    return (ids - layout.byte_base).astype(np.uint8).tobytes()


class BytesScheme:
    """The bytes scheme behind `Tokenizer`: carding (vocab 320) or byt5 (vocab 384) layout."""

    def __init__(self, config: TokenizeConfig) -> None:
        self.config = config
        self.layout = layout_for(config.layout, proxy=False)
        self.vocab_size = self.layout.vocab_size
        self.special_ids = dict(self.layout.specials)
        self.marker_ids = self.layout.markers

    def encode(self, texts: pa.Array, doc_ids: pa.Array | None, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        return encode_bytes(texts, self.layout, append_eos=self.config.append_eos, dtype=dtype)

    def decode(self, ids: np.ndarray, doc: str | None) -> bytes:
        try:
            return decode_bytes(ids, self.layout)
        except ValueError as err:
            raise ValueError(f"document {doc}: {err}" if doc is not None else str(err)) from None

    def spec(self) -> dict:
        return {"layout": self.layout.name, "byte_base": self.layout.byte_base}

"""The tokenize stage: one class over three schemes, each encoding a whole Arrow batch from flat buffers."""
from __future__ import annotations

import dataclasses
import enum
import json
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tokenization.arrow_io import list_buffers, text_buffers, tokens_array
from tokenization.config import Scheme, TokenizeConfig

SPEC_VERSION = 1


class _Scheme(Protocol):
    vocab_size: int
    special_ids: dict[str, int]
    marker_ids: tuple[int, ...]

    def encode(self, texts: pa.Array, doc_ids: pa.Array | None,
               dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]: ...

    def decode(self, ids: np.ndarray, doc: str | None) -> bytes: ...

    def spec(self) -> dict: ...


class Tokenizer:
    """Adds `tokens: large_list<uint16|uint32>` and `n_tokens: int32` to document batches; decodes exactly.

    Build once per worker (`Tokenizer(config)`); `process` is deterministic and independent of batch
    boundaries (the proxy view choice hashes the document id).
    """

    def __init__(self, config: TokenizeConfig) -> None:
        self.config = config
        self._scheme: _Scheme = _build_scheme(config)
        self.vocab_size: int = self._scheme.vocab_size
        """Ids are in [0, vocab_size)."""
        self.token_dtype: np.dtype = np.dtype(np.uint16 if self.vocab_size <= 2**16 else np.uint32)
        """uint16 when every id fits, else uint32."""
        self.special_ids: dict[str, int] = dict(self._scheme.special_ids)
        """name -> id of each special (pad, bos, eos, span sentinels, view_sep); absent names do not exist."""
        self.marker_ids: tuple[int, ...] = tuple(self._scheme.marker_ids)
        """Ids reserved for packing markers; the tokenizer never emits them and decode drops them."""
        self.eos_id: int | None = self.special_ids.get("eos")
        self.pad_id: int | None = self.special_ids.get("pad")
        self.bos_id: int | None = self.special_ids.get("bos")

    @classmethod
    def from_spec(cls, spec: dict, *, bpe_path: str | None = None) -> Tokenizer:
        """A tokenizer rebuilt from `spec()` as found in manifest.json, so a shard decodes without its recipe.

        bpe: `bpe_path` overrides the spec's path (the model file travels with the shards); its sha256 must
        match the spec's.
        """
        if spec.get("spec_version") != SPEC_VERSION:
            raise ValueError(f"tokenizer spec version {spec.get('spec_version')!r}: this carding reads "
                             f"version {SPEC_VERSION}")
        fields = dict(spec["config"])
        if bpe_path is not None:
            fields["bpe_path"] = bpe_path
        fields["train"] = None
        tok = cls(TokenizeConfig(**_config_from_json(fields)))
        if "sha256" in spec and tok.spec().get("sha256") != spec["sha256"]:
            raise ValueError(f"tokenizer file {fields.get('bpe_path')}: sha256 {tok.spec().get('sha256')} differs "
                             f"from the manifest's {spec.get('sha256')}")
        return tok

    def encode(self, texts: pa.Array | pa.ChunkedArray, doc_ids: pa.Array | pa.ChunkedArray | None = None
               ) -> pa.LargeListArray:
        """Tokens of a text column (string/large_string/binary/large_binary, no nulls) as large_list<dtype>.

        doc_ids: the documents' `id` column; the proxy scheme needs it (the view choice hashes it).
        """
        texts = _one_chunk(texts)
        if texts.null_count:
            raise ValueError(f"{texts.null_count} null texts: the reader quarantines rows without text, "
                             "so a null here is a bug upstream of tokenize")
        offsets, values = self._scheme.encode(texts, None if doc_ids is None else _one_chunk(doc_ids),
                                              self.token_dtype)
        return tokens_array(offsets, values)

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Same rows and columns, plus `tokens` and `n_tokens` (replaced if already present)."""
        if "text" not in batch.schema.names:
            raise ValueError(f"batch has no `text` column (columns: {batch.schema.names})")
        doc_ids = batch.column("id") if "id" in batch.schema.names else None
        if doc_ids is not None and doc_ids.null_count:
            raise ValueError(f"{doc_ids.null_count} null ids: every document has an id (DOCUMENT_SCHEMA)")
        if doc_ids is None and self.config.scheme == Scheme.proxy:
            raise ValueError("batch has no `id` column: the proxy scheme hashes ids to choose each view")
        tokens = self.encode(batch.column("text"), doc_ids)
        n_tokens = pa.array(np.diff(tokens.offsets.to_numpy()).astype(np.int32))
        for name, column in (("tokens", tokens), ("n_tokens", n_tokens)):
            if name in batch.schema.names:
                batch = batch.set_column(batch.schema.get_field_index(name), name, column)
            else:
                batch = batch.append_column(name, column)
        return batch

    def decode(self, ids: np.ndarray, *, doc: str | None = None) -> bytes:
        """The exact bytes that produced `ids` (one document's tokens; EOS, pad, bos and markers are dropped).

        Raises ValueError naming `doc`, the span and the position on an unknown id or a corrupt compressed span.
        """
        return self._scheme.decode(np.asarray(ids), doc)

    def decode_text(self, ids: np.ndarray, *, doc: str | None = None) -> str:
        """decode() then strict UTF-8, at the very end (a window may split a character)."""
        return self.decode(ids, doc=doc).decode("utf-8")

    def decode_batch(self, tokens: pa.Array | pa.ChunkedArray,
                     doc_ids: pa.Array | pa.ChunkedArray | None = None) -> pa.LargeBinaryArray:
        """decode() of every row of a tokens column: large_binary, one value per row (a loop over rows: decode is
        off the hot path)."""
        values, offs = list_buffers(_one_chunk(tokens))
        names = [None] * (len(offs) - 1) if doc_ids is None else _one_chunk(doc_ids).to_pylist()
        return pa.array([self.decode(values[offs[i]:offs[i + 1]], doc=names[i]) for i in range(len(offs) - 1)],
                        pa.large_binary())

    def counts(self, batch: pa.RecordBatch) -> dict[str, int]:
        """Additive figures of a tokenized batch for the manifest: sum them over batches, then `summarize_counts`.

        Always: documents, text_bytes, tokens. proxy adds comp_docs, paired_docs, comp_doc_bytes, comp_doc_tokens
        (compressed-only documents), comp_windows, comp_spans, comp_payload_tokens, fallback_windows.
        """
        texts = _one_chunk(batch.column("text"))
        tokens = _one_chunk(batch.column("tokens"))
        _, offs = text_buffers(texts)
        out = {"documents": batch.num_rows, "text_bytes": int(offs[-1] - offs[0]),
               "tokens": int(pc.sum(batch.column("n_tokens")).as_py() or 0)}
        if self.config.scheme == Scheme.proxy:
            out |= self._scheme.counts(texts, _one_chunk(batch.column("id")), tokens)
        return out

    def spec(self) -> dict:
        """JSON-able description written to manifest.json["tokenizer"]: enough to decode any shard."""
        return {"spec_version": SPEC_VERSION, "scheme": str(self.config.scheme), "vocab_size": self.vocab_size,
                "dtype": self.token_dtype.name, "special_ids": dict(self.special_ids),
                "marker_ids": list(self.marker_ids), "append_eos": self.config.append_eos,
                **self._scheme.spec(), "config": _config_to_json(self.config)}


def summarize_counts(counts: dict[str, int]) -> dict[str, float | int]:
    """The summed `Tokenizer.counts` plus ratios for manifest.json["tokenizer"]["stats"].

    bytes_per_token: text bytes / tokens (EOS and sentinels included); proxy adds comp_view_bytes_per_token
    (compressed-only documents) and fallback_share (windows kept raw because their frame was not shorter).
    """
    out: dict[str, float | int] = dict(counts)
    if counts.get("tokens"):
        out["bytes_per_token"] = round(counts["text_bytes"] / counts["tokens"], 4)
    if counts.get("comp_doc_tokens"):
        out["comp_view_bytes_per_token"] = round(counts["comp_doc_bytes"] / counts["comp_doc_tokens"], 4)
    if counts.get("comp_windows"):
        out["fallback_share"] = round(counts["fallback_windows"] / counts["comp_windows"], 4)
    return out


def _build_scheme(config: TokenizeConfig) -> _Scheme:
    if config.scheme == Scheme.bytes:
        from tokenization.bytes_scheme import BytesScheme
        return BytesScheme(config)
    if config.scheme == Scheme.proxy:
        from tokenization.proxy import ProxyScheme
        return ProxyScheme(config)
    from tokenization.bpe import BpeScheme
    return BpeScheme(config)


def _one_chunk(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _config_to_json(config: TokenizeConfig) -> dict:
    """The scheme-relevant config fields as plain JSON values (StrEnums as strings, train dropped)."""
    out = {}
    for f in dataclasses.fields(config):
        if f.name == "train":
            continue
        value = getattr(config, f.name)
        out[f.name] = value.value if isinstance(value, enum.Enum) else value
    return json.loads(json.dumps(out))


def _config_from_json(fields: dict) -> dict:
    from tokenization.config import Codec, Layout
    enums = {"scheme": Scheme, "layout": Layout, "codec": Codec}
    return {k: enums[k](v) if k in enums else v for k, v in fields.items()}


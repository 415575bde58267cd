"""proxy scheme: compressed views of documents (Zheng et al. 2026) cut in windows (Lester et al. 2024).

Each document gets, by a pure function of (seed, id), the raw view `[raw_open] bytes+64 [raw_close]` or the
compressed view: per window of W bytes a fresh compressor frame `[comp_open] c+320 [comp_close]`, so each window
decodes alone (a window whose frame is not shorter stays raw when fallback_raw). A paired document carries both
views, in seeded order, split by `view_sep`. One EOS ends each document.

Trade-off: compression is the only per-window Python call (one one-shot compress per window, as the peer does;
python-zstandard's multi_compress_to_buffer measured 3x slower on the sample's short windows, and zlib has no
batch API). Assembly is one Arrow `take` over a binary view of a buffer whose elements are the windows (+64),
the frames (+320) and the six structural tokens, so every byte is copied by memcpy in C++, never indexed one
by one (a numpy index gather measured ~13x slower).

Corruption: `decode` decompresses each span strictly (complete frame, checksum, no trailing bytes, at most W
bytes), so a flipped byte raises, naming document and span. zstd frames carry a 4-byte checksum by default
(config.checksum: a frame is canonical, so re-compressing cannot catch a flipped literal); raw deflate has no
integrity check at all.
"""
from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import zstandard

from stages.schema import stable_hash
from tokenization.arrow_io import text_buffers
from tokenization.config import Codec, TokenizeConfig
from tokenization.layout import carding_layout

_WBITS = {Codec.gzip: 31, Codec.zlib: 15, Codec.deflate: -15}
_PAIR_SEED_SALT = 0x9E3779B97F4A7C15
_SECTION = np.int64(1) << 40  # sort-key stride between the sections of a document (first view, sep, second, eos)


def uniform_of(doc_ids: pa.Array, seed: int) -> np.ndarray:
    """(n,) float64 in [0, 1): the top 53 bits of stable_hash(id, seed); the same on every machine and batching."""
    return (stable_hash(doc_ids, seed) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class ProxyScheme:
    """The proxy scheme behind `Tokenizer`: vocab 576 (64 specials, 256 raw, 256 compressed byte ids)."""

    def __init__(self, config: TokenizeConfig) -> None:
        self.config = config
        self.layout = carding_layout(proxy=True)
        self.vocab_size = self.layout.vocab_size
        self.special_ids = dict(self.layout.specials)
        self.marker_ids = self.layout.markers
        sp = self.layout.specials
        # the six one-token elements appended after the data in the assembly list array, in this order
        self._structural = np.array([sp["raw_open"], sp["raw_close"], sp["comp_open"], sp["comp_close"],
                                     sp["view_sep"], sp["eos"]], dtype=np.int64)
        if config.codec == Codec.zstd:
            fmt = zstandard.FORMAT_ZSTD1_MAGICLESS if config.magicless else zstandard.FORMAT_ZSTD1
            params = zstandard.ZstdCompressionParameters.from_level(
                config.level, format=fmt, write_checksum=config.checksum, write_content_size=False, write_dict_id=False)
            self._zstd = zstandard.ZstdCompressor(compression_params=params)
            self._zstd_d = zstandard.ZstdDecompressor(format=fmt)

    # ---- choices: pure functions of (seed, id, length) ------------------------------------------------------
    def views(self, doc_ids: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(compressed, paired, raw_first): (n,) bool each; paired implies compressed."""
        n = len(doc_ids)
        comp = uniform_of(doc_ids, self.config.seed) < self.config.share if n else np.zeros(0, bool)
        if self.config.pair_prob > 0 and n:
            pair_seed = (self.config.seed ^ _PAIR_SEED_SALT) % (1 << 64)
            h = stable_hash(doc_ids, pair_seed)
            paired = comp & ((h >> np.uint64(11)).astype(np.float64) / float(1 << 53) < self.config.pair_prob)
            raw_first = (h & np.uint64(1)).astype(bool)
        else:
            paired = np.zeros(n, bool)
            raw_first = np.zeros(n, bool)
        return comp, paired, raw_first

    def windows_per_doc(self, lengths: np.ndarray) -> np.ndarray:
        """(n,) int64: ceil(len / W); whole documents when W is None; 0 for an empty document."""
        if self.config.window_bytes is None:
            return (lengths > 0).astype(np.int64)
        return -(-lengths // self.config.window_bytes)

    # ---- encode ---------------------------------------------------------------------------------------------
    def encode(self, texts: pa.Array, doc_ids: pa.Array | None, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        if doc_ids is None:
            raise ValueError("the proxy scheme needs the documents' ids (the view choice hashes them)")
        data, offs = text_buffers(texts)
        data = data[offs[0]:offs[-1]]
        offs = offs - offs[0]
        n = len(offs) - 1
        lengths = np.diff(offs)
        comp, paired, raw_first = self.views(doc_ids)

        # windows of every document tile the data: doc d, window k covers [offs[d] + k*W, min(.., offs[d+1]))
        n_win = self.windows_per_doc(lengths)
        win_doc = np.repeat(np.arange(n, dtype=np.int64), n_win)
        first_win = np.concatenate([[0], np.cumsum(n_win)])
        win_k = np.arange(len(win_doc), dtype=np.int64) - first_win[win_doc]
        w = self.config.window_bytes
        win_start = offs[win_doc] + (win_k * w if w is not None else 0)
        win_end = np.minimum(win_start + w, offs[win_doc + 1]) if w is not None else offs[win_doc + 1]
        win_len = win_end - win_start

        # compress every window of a compressed-view document, one frame each
        cw = np.flatnonzero(comp[win_doc])
        frames, frame_len = self._compress(data, win_start[cw], win_len[cw])
        use_frame = frame_len < win_len[cw] if self.config.fallback_raw else np.ones(len(cw), bool)

        # one values buffer of elements: window i (+64) for i < n_windows, then the frames (+320), then the 6
        # structural tokens; elem_offs delimits them
        n_w, n_f = len(win_doc), len(cw)
        values = np.empty(len(data) + len(frames) + 6, dtype=dtype)
        np.add(data, dtype.type(self.layout.byte_base), out=values[:len(data)], dtype=dtype)
        np.add(frames, dtype.type(self.layout.comp_base), out=values[len(data):len(data) + len(frames)], dtype=dtype)
        values[len(data) + len(frames):] = self._structural
        frame_offs = np.concatenate([[0], np.cumsum(frame_len)]) + len(data)
        elem_offs = np.concatenate([np.append(win_start, len(data)), frame_offs[1:],
                                    len(data) + len(frames) + np.arange(1, 7)]).astype(np.int64)
        raw_open, raw_close, comp_open, comp_close, sep, eos = n_w + n_f + np.arange(6)

        # the element sequence of each document, as (doc, key, element) triples sorted by (doc, key)
        # example, doc 0 = "abc" raw view, W=2: keys 0..3 -> [raw_open, win0 "ab", win1 "c", raw_close], eos
        parts_doc, parts_key, parts_elem = [], [], []

        def add(doc: np.ndarray, key: np.ndarray, elem: np.ndarray) -> None:
            parts_doc.append(doc)
            parts_key.append(key)
            parts_elem.append(elem)

        has_raw_view = ~comp | paired
        raw_section = np.where(paired & ~raw_first, 2, 0) * _SECTION
        comp_section = np.where(paired & raw_first, 2, 0) * _SECTION
        docs = np.arange(n, dtype=np.int64)
        rv = docs[has_raw_view]
        add(rv, raw_section[rv], np.full(len(rv), raw_open))
        add(rv, raw_section[rv] + n_win[rv] + 1, np.full(len(rv), raw_close))
        rw = np.flatnonzero(has_raw_view[win_doc])
        add(win_doc[rw], raw_section[win_doc[rw]] + win_k[rw] + 1, rw)
        # compressed view: window k -> keys 3k, 3k+1, 3k+2 (open, frame or window, close)
        cdoc, base = win_doc[cw], comp_section[win_doc[cw]] + 3 * win_k[cw]
        add(cdoc, base, np.where(use_frame, comp_open, raw_open))
        add(cdoc, base + 1, np.where(use_frame, n_w + np.arange(n_f), cw))
        add(cdoc, base + 2, np.where(use_frame, comp_close, raw_close))
        pd = docs[paired]
        add(pd, np.full(len(pd), _SECTION), np.full(len(pd), sep))
        if self.config.append_eos:
            add(docs, np.full(n, 3 * _SECTION), np.full(n, eos))
        all_doc, all_key, all_elem = (np.concatenate(p) for p in (parts_doc, parts_key, parts_elem))
        order = np.lexsort((all_key, all_doc))
        all_doc, all_elem = all_doc[order], all_elem[order]

        # take over a binary view of the values (element = its tokens' bytes): Arrow copies each element with one
        # memcpy; a take over the equivalent large_list measured 10x slower (248 vs 23 ms for 76 000 elements)
        width = values.itemsize
        source = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(elem_offs) - 1,
                                                  [None, pa.py_buffer(elem_offs * width), pa.py_buffer(values)])
        taken_data, taken_offs = text_buffers(source.take(pa.array(all_elem)))
        out_values = taken_data[taken_offs[0]:taken_offs[-1]].view(dtype)
        elem_len = np.diff(elem_offs)[all_elem]
        doc_tokens = np.bincount(all_doc, weights=elem_len, minlength=n).astype(np.int64)
        out_offsets = np.concatenate([[0], np.cumsum(doc_tokens)]).astype(np.int64)
        return out_offsets, out_values

    def _compress(self, data: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(frames: flat uint8, frame_len: (k,) int64) of k windows data[starts[i] : starts[i] + lens[i]]."""
        if len(starts) == 0:
            return np.zeros(0, np.uint8), np.zeros(0, np.int64)
        view = memoryview(data)
        # one C call per window; zstd's multi_compress_to_buffer measured 3x slower than this loop on short windows
        compress = self._zstd.compress if self.config.codec == Codec.zstd else self._zlib_compress
        pieces = [compress(view[a:a + m]) for a, m in zip(starts.tolist(), lens.tolist())]
        frame_len = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
        return np.frombuffer(b"".join(pieces), dtype=np.uint8), frame_len

    def _zlib_compress(self, window: memoryview | bytes) -> bytes:
        c = zlib.compressobj(self.config.level, zlib.DEFLATED, _WBITS[self.config.codec])
        return c.compress(window) + c.flush()

    def compress_window(self, window: bytes) -> bytes:
        """One window's frame, as encode makes it (one-shot; the benchmark's peer path)."""
        if self.config.codec == Codec.zstd:
            return self._zstd.compress(window)
        return self._zlib_compress(window)

    # ---- decode ---------------------------------------------------------------------------------------------
    def decode(self, ids: np.ndarray, doc: str | None) -> bytes:
        """Walk the spans; a paired document's two views must agree. Raises ValueError naming doc and span."""
        sp = self.layout.specials
        ids = np.asarray(ids).astype(np.int64, copy=False)
        where = f"document {doc}" if doc is not None else "tokens"
        special_pos = np.flatnonzero(ids < self.layout.byte_base)
        views: list[list[bytes]] = [[]]
        droppable = {sp["pad"], sp["bos"], sp["eos"], *self.layout.markers}
        opener = {sp["raw_open"]: sp["raw_close"], sp["comp_open"]: sp["comp_close"]}
        specials = ids[special_pos].tolist()
        positions = special_pos.tolist()
        i, j, span = 0, 0, 0
        # a Python loop over structural tokens only (a few per window); span payloads are numpy slices
        while j < len(positions):
            pos, tok = positions[j], specials[j]
            if pos > i:
                raise ValueError(f"{where}: tokens {i}..{pos - 1} lie outside any span")
            if tok in droppable or tok == sp["view_sep"]:
                if tok == sp["view_sep"]:
                    if len(views) == 2:
                        raise ValueError(f"{where}: second view_sep at token {pos}")
                    views.append([])
                i, j = pos + 1, j + 1
                continue
            if tok not in opener:
                raise ValueError(f"{where}: unexpected special id {tok} at token {pos} (expected a span opener)")
            if j + 1 >= len(positions) or specials[j + 1] != opener[tok]:
                raise ValueError(f"{where}: span {span} opened at token {pos} is not closed by id {opener[tok]}")
            end = positions[j + 1]
            views[-1].append(self._span_bytes(ids[pos + 1:end], tok == sp["comp_open"],
                                              f"{where}: span {span} (tokens {pos}..{end})"))
            span += 1
            i, j = end + 1, j + 2
        if i < len(ids):
            raise ValueError(f"{where}: tokens {i}..{len(ids) - 1} lie outside any span")
        decoded = [b"".join(v) for v in views]
        if len(decoded) == 2 and decoded[0] != decoded[1]:
            raise ValueError(f"{where}: the two views of a paired document differ "
                             f"({len(decoded[0])} vs {len(decoded[1])} bytes)")
        return decoded[0]

    def _span_bytes(self, payload: np.ndarray, compressed: bool, where: str) -> bytes:
        base = self.layout.comp_base if compressed else self.layout.byte_base
        if payload.size and (payload.min() < base or payload.max() >= base + 256):
            bad = int(payload[(payload < base) | (payload >= base + 256)][0])
            raise ValueError(f"{where}: id {bad} is not a {'compressed' if compressed else 'raw'} byte id "
                             f"({base}..{base + 255})")
        raw = (payload - base).astype(np.uint8).tobytes()
        if not compressed:
            return raw
        return self._decompress(raw, where)

    def _decompress(self, frame: bytes, where: str) -> bytes:
        limit = self.config.window_bytes
        try:
            if self.config.codec == Codec.zstd:
                d = self._zstd_d.decompressobj()
                out = d.decompress(frame)
                complete, rest = d.eof, d.unused_data
            else:
                d = zlib.decompressobj(_WBITS[self.config.codec])
                out = d.decompress(frame)
                complete, rest = d.eof, d.unused_data
        except (zstandard.ZstdError, zlib.error) as err:
            raise ValueError(f"{where}: corrupt {self.config.codec} frame: {err}") from None
        if not complete or rest:
            raise ValueError(f"{where}: corrupt {self.config.codec} frame: "
                             f"{'truncated' if not complete else f'{len(rest)} bytes after its end'}")
        if limit is not None and len(out) > limit:
            raise ValueError(f"{where}: frame decompresses to {len(out)} bytes, more than the window "
                             f"({limit} bytes)")
        return out

    def spec(self) -> dict:
        c = self.config
        lib = ({"zstandard": zstandard.__version__, "zstd": ".".join(map(str, zstandard.ZSTD_VERSION))}
               if c.codec == Codec.zstd else {"zlib": zlib.ZLIB_RUNTIME_VERSION})
        return {"layout": "carding", "byte_base": self.layout.byte_base, "comp_base": self.layout.comp_base,
                "codec": str(c.codec), "level": c.level, "window_bytes": c.window_bytes, "share": c.share,
                "pair_prob": c.pair_prob, "fallback_raw": c.fallback_raw, "magicless": c.magicless,
                "seed": c.seed, "checksum": c.checksum if c.codec == Codec.zstd else c.codec != Codec.deflate, "compressor_versions": lib}

    def counts(self, texts: pa.Array, doc_ids: pa.Array, tokens: pa.Array) -> dict[str, int]:
        """Additive proxy figures of one tokenized batch (the runner sums them; `summarize_counts` divides).

        The view choice and window count are pure functions of (seed, id, length), so they are recomputed here
        rather than carried in a column; fallback windows = windows of compressed views - compressed spans.
        """
        from tokenization.arrow_io import list_buffers

        _, offs = text_buffers(texts)
        lengths = np.diff(offs)
        values, tok_offs = list_buffers(tokens)
        n_tok = np.diff(tok_offs)
        comp, paired, _ = self.views(doc_ids)
        only_comp = comp & ~paired
        flat = values[tok_offs[0]:tok_offs[-1]]
        comp_spans = int(np.count_nonzero(flat == self.layout.specials["comp_open"]))
        comp_payload = int(np.count_nonzero(flat >= self.layout.comp_base))
        windows = int(self.windows_per_doc(lengths)[comp].sum())
        return {"comp_docs": int(comp.sum()), "paired_docs": int(paired.sum()),
                "comp_doc_bytes": int(lengths[only_comp].sum()), "comp_doc_tokens": int(n_tok[only_comp].sum()),
                "comp_windows": windows, "comp_spans": comp_spans, "comp_payload_tokens": comp_payload,
                "fallback_windows": windows - comp_spans}

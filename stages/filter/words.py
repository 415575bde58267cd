"""Word tokens as datatrove counts them (spaCy blank English, whitespace tokens dropped), for whole batches.

datatrove 0.10.1 calls `spacy.blank("en")` on every document, three times in the FineWeb chain plus once per C4
line for sentences; that is most of its ~100 documents/s. spaCy's tokenizer cuts the text into runs of
non-whitespace characters (`str.isspace`) and tokenizes each run on its own (tokenizer.pyx `_tokenize_affixes`),
so the tokens of a document are the concatenation of the tokens of its runs. Carding therefore splits whole Arrow
columns into runs (one RE2 call), dictionary-encodes them, and asks spaCy only about runs it has never seen; a
cache maps each run to its token types, and each token type to the features the rules need. On the bundled
Gutenberg text, 13 % of runs are distinct within 300 documents, and fewer across batches, so spaCy sees a small
share of the text, yet the tokens are spaCy's own: no approximation to list in the parity test.

The cache is bounded (`max_cached_chunks`) and dropped on pickling; its content never changes a result.
"""
from __future__ import annotations

import functools
import sys
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PY_WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
"""Every character Python's `str.isspace()`, `split()` and `strip()` treat as whitespace (29 of them).
RE2's `\\s` is ASCII only, so every regex here spells the set out."""

_WS_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE)
WS_RUN = f"[{_WS_CLASS}]+"
"""RE2 pattern for a run of Python whitespace."""
NON_WS_RUN = f"[^{_WS_CLASS}]+"
"""RE2 pattern for a run of non-whitespace (a spaCy chunk, a `str.split()` word)."""

_PUNCTUATION = None  # datatrove PUNCTUATION_SET, loaded lazily to keep datatrove out of import time
_SENT_PUNCT = None


def _punctuation() -> frozenset[str]:
    """datatrove's `PUNCTUATION` set (utils/text.py), copied so the stage does not need datatrove at run time."""
    global _PUNCTUATION
    if _PUNCTUATION is None:
        ascii_ctrl = "".join(map(chr, (x for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b))))
        _PUNCTUATION = frozenset(
            "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + ascii_ctrl)
    return _PUNCTUATION


def _sentence_punct() -> frozenset[str]:
    """spaCy `Sentencizer.default_punct_chars`: a token equal to one of these ends a sentence."""
    global _SENT_PUNCT
    if _SENT_PUNCT is None:
        from spacy.pipeline import Sentencizer

        _SENT_PUNCT = frozenset(Sentencizer.default_punct_chars)
    return _SENT_PUNCT


_HASH_BASE = np.uint64(1_000_003)


@functools.lru_cache(maxsize=1)
def _blank_english():  # spacy.Language; untyped library
    """One `spacy.blank("en")` per process (~0.5 s to build), as datatrove's `load_word_tokenizer` caches it.

    Its lexical-attribute getters (shape, like_num, like_url, ...) are removed: the tokenizer never reads them,
    and computing them for every new word was half of spaCy's time (0.97 s instead of 1.87 s for 50 k chunks).
    """
    import spacy

    nlp = spacy.blank("en")
    nlp.vocab.lex_attr_getters = {}
    return nlp


def _is_punct(text: str) -> bool:
    """spaCy's lexeme `is_punct` (spacy/lang/lex_attrs.py): every character in a Unicode P* category."""
    return all(unicodedata.category(c).startswith("P") for c in text)


@dataclass(slots=True)
class Tokens:
    """Word tokens of n texts as flat arrays.

    offsets: (n+1,) int64; the tokens of text i are types[offsets[i]:offsets[i+1]].
    types: (n_tokens,) int32 ids into the splitter's type table (`TypeTable` arrays).
    """

    offsets: np.ndarray
    types: np.ndarray

    @property
    def doc_of(self) -> np.ndarray:
        """(n_tokens,) int64 owner text of every token."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


class _Growable:
    """A numpy array that grows by doubling; `view` is the filled part."""

    def __init__(self, dtype: type) -> None:
        self._data = np.zeros(1024, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self._data):
            bigger = np.zeros(max(need, 2 * len(self._data)), dtype=self._data.dtype)
            bigger[: self.n] = self._data[: self.n]
            self._data = bigger
        self._data[self.n : need] = values
        self.n = need

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.n]


class WordSplitter:
    """spaCy blank-English tokens of whole Arrow columns, through a cache of whitespace-free chunks.

    Type features (arrays indexed by type id): `type_chars` int64 length in code points, `type_content` bool
    (a character outside datatrove's PUNCTUATION), `type_alpha` bool (a `str.isalpha` character), `type_stop`
    int16 (index in `stop_words` or -1), `type_hash` / `type_pow` uint64 (polynomial hash of the characters and
    base**length, mod 2**64, so the hash of a concatenation folds from its parts), `type_orth` uint64 (spaCy's
    string hash), `type_sent_punct` bool (ends a sentence for spaCy's sentencizer), `type_punct` bool (spaCy
    `is_punct`).
    """

    def __init__(self, stop_words: tuple[str, ...] = (), max_cached_chunks: int = 2_000_000) -> None:
        self.stop_words = tuple(stop_words)
        self.max_cached_chunks = max_cached_chunks
        self._reset()

    def __getstate__(self) -> dict:
        return {"stop_words": self.stop_words, "max_cached_chunks": self.max_cached_chunks}

    def __setstate__(self, state: dict) -> None:
        self.stop_words = state["stop_words"]
        self.max_cached_chunks = state["max_cached_chunks"]
        self._reset()

    def _reset(self) -> None:
        self._chunk_id: dict[str, int] = {}
        self._chunk_tok_offsets = _Growable(np.int64)
        self._chunk_tok_offsets.extend(np.zeros(1, dtype=np.int64))
        self._chunk_tok_types = _Growable(np.int32)
        self._type_id: dict[int, int] = {}
        self._types = {name: _Growable(dt) for name, dt in (
            ("chars", np.int64), ("content", np.bool_), ("alpha", np.bool_), ("stop", np.int16),
            ("hash", np.uint64), ("pow", np.uint64), ("orth", np.uint64), ("sent_punct", np.bool_),
            ("punct", np.bool_))}

    def type_array(self, name: str) -> np.ndarray:
        """Feature `name` of every known token type (see the class docstring)."""
        return self._types[name].view

    @property
    def nlp(self):  # spacy.Language; untyped library
        return _blank_english()

    def split_chunks(self, text: pa.Array) -> tuple[pa.Array, np.ndarray]:
        """(non-empty whitespace-free chunks, (n+1,) int64 offsets per text): `str.split()` of every text."""
        lists = pc.split_pattern_regex(pc.fill_null(text, ""), WS_RUN)
        values = pc.list_flatten(lists)
        parents = pc.list_parent_indices(lists).to_numpy()
        keep = pc.greater(pc.binary_length(values), 0)
        values = values.filter(keep)
        parents = parents[keep.to_numpy(zero_copy_only=False)]
        offsets = np.zeros(len(text) + 1, dtype=np.int64)
        np.cumsum(np.bincount(parents, minlength=len(text)), out=offsets[1:])
        return values, offsets

    def chunk_ids(self, chunks: pa.Array) -> np.ndarray:
        """(n_chunks,) int64 cache ids of chunks, tokenizing the unseen ones with spaCy in one call."""
        if len(chunks) == 0:
            return np.zeros(0, dtype=np.int64)
        enc = pc.dictionary_encode(chunks)
        uniques = enc.dictionary.to_pylist()
        if len(self._chunk_id) + len(uniques) > self.max_cached_chunks:
            self._reset()
        # One dict lookup per distinct chunk of the batch: Arrow has no persistent hash table across calls.
        get = self._chunk_id.get
        ids = np.fromiter((get(u, -1) for u in uniques), dtype=np.int64, count=len(uniques))
        new = np.flatnonzero(ids < 0)
        if len(new):
            ids[new] = self._add_chunks([uniques[i] for i in new])
        return ids[enc.indices.to_numpy(zero_copy_only=False)]

    def _add_chunks(self, chunks: list[str]) -> np.ndarray:
        """Tokenize new chunks with spaCy (joined by single spaces: one call) and return their new ids."""
        from spacy.attrs import IDX, ORTH

        nlp = self.nlp
        starts = np.zeros(len(chunks), dtype=np.int64)
        lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
        with nlp.memory_zone():
            doc = nlp.tokenizer(" ".join(chunks))
            arr = doc.to_array([ORTH, IDX]).astype(np.uint64)
            orths, idx = arr[:, 0], arr[:, 1].astype(np.int64)
            owner = np.searchsorted(starts, idx, side="right") - 1
            uniq_orth, first = np.unique(orths, return_index=True)
            unknown = [i for i, o in enumerate(uniq_orth.tolist()) if o not in self._type_id]
            if unknown:
                texts = [doc[int(first[i])].text for i in unknown]
                self._add_types([int(uniq_orth[i]) for i in unknown], texts)
        type_of = self._type_id
        types = np.fromiter((type_of[o] for o in orths.tolist()), dtype=np.int32, count=len(orths))
        counts = np.bincount(owner, minlength=len(chunks))
        base = self._chunk_tok_offsets.view[-1]
        self._chunk_tok_offsets.extend(base + np.cumsum(counts))
        self._chunk_tok_types.extend(types)
        first_id = len(self._chunk_id)
        for i, c in enumerate(chunks):
            self._chunk_id[c] = first_id + i
        return np.arange(first_id, first_id + len(chunks), dtype=np.int64)

    def _add_types(self, orths: list[int], texts: list[str]) -> None:
        """Compute each new token type's features once (Python per new type: a vocabulary, not the text)."""
        punct = _punctuation()
        sent = _sentence_punct()
        stop = {w: i for i, w in enumerate(self.stop_words)}
        mask = (1 << 64) - 1
        base = int(_HASH_BASE)
        hashes, pows = [], []
        for t in texts:
            h, p = 0, 1
            for ch in t:
                h = (h * base + ord(ch) + 1) & mask
                p = (p * base) & mask
            hashes.append(h)
            pows.append(p)
        first = self._types["chars"].n
        cols = {
            "chars": [len(t) for t in texts],
            "content": [any(ch not in punct for ch in t) for t in texts],
            "alpha": [any(ch.isalpha() for ch in t) for t in texts],
            "stop": [stop.get(t, -1) for t in texts],
            "hash": hashes, "pow": pows, "orth": orths,
            "sent_punct": [t in sent for t in texts],
            "punct": [_is_punct(t) for t in texts],
        }
        for name, values in cols.items():
            self._types[name].extend(np.array(values, dtype=self._types[name].view.dtype))
        for i, o in enumerate(orths):
            self._type_id[o] = first + i

    def tokens_of_chunks(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(token types (n_tokens,) int32, tokens per chunk (n_chunks,) int64) of a sequence of chunk ids.

        CSR gather: chunk c owns tok_types[off[c]:off[c+1]]; e.g. off=[0,2,3], ids=[1,0] -> types[2], types[0:2].
        """
        off = self._chunk_tok_offsets.view
        starts = off[ids]
        counts = off[ids + 1] - starts
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int32), counts
        ends = np.cumsum(counts)
        pos = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - counts), counts)
        return self._chunk_tok_types.view[pos], counts

    def tokens(self, text: pa.Array) -> Tokens:
        """datatrove's `split_into_words(text)` for every text, as flat token types."""
        chunks, chunk_offsets = self.split_chunks(text)
        types, per_chunk = self.tokens_of_chunks(self.chunk_ids(chunks))
        cum = np.zeros(len(per_chunk) + 1, dtype=np.int64)
        np.cumsum(per_chunk, out=cum[1:])
        return Tokens(offsets=cum[chunk_offsets], types=types)

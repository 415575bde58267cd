"""Word tokens as datatrove counts them (spaCy blank English, whitespace tokens dropped), for whole batches.

datatrove 0.10.1 calls `spacy.blank("en")` on every document, three times in the FineWeb chain plus once per C4
line for sentences; that is most of its ~100-250 documents/s. spaCy's tokenizer cuts the text into runs of
non-whitespace characters (`str.isspace`) and tokenizes each run on its own (tokenizer.pyx `_tokenize_affixes`),
so the tokens of a document are the concatenation of the tokens of its runs ("chunks"). Carding therefore splits
whole Arrow columns into chunks (`utf8_split_whitespace`, whose whitespace set is Python's), looks every chunk up
in a compiled table (`chunk_table`), and tokenizes only chunks it has never seen: spaCy's own algorithm and rules,
compiled (`affix_rules`), for ~98 % of them, spaCy itself for the rest (a token run that its special-case matcher
rewrites, a URL), all new chunks of a batch at once; the table maps each chunk to its token types, and each type
to the features the rules need. The tokens are spaCy's own: no approximation to list in the parity test.

Measured (one core, CPU seconds, 2-core machine at load 3-10): on 20 000 bench documents 174 k chunks are
distinct and 3.6 k go to spaCy; the chain does ~9 000 documents/s there (spaCy on every new chunk, ~35 us each,
held it at ~4 000). On fresh-cache synthetic web pages (`bench.corpus`, ~3 KB, nearly every chunk new to the
batch) ~1 600 documents/s against ~1 100 before the compiled table and rules.

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
from numba import njit

from stages.filter import rule_cache
from stages.filter.affix_rules import SpacyRules, rule_tables
from stages.filter.chunk_table import ChunkTable
from stages.imports import hidden_modules, load_numba_math

PY_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                 "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
"""Every character Python's `str.isspace()`, `split()` and `strip()` treat as whitespace (29 of them).
RE2's `\\s` is ASCII only, so every regex here spells the set out. Spelled out rather than found by scanning
every code point (60 ms of each worker's start); test_words.py checks it against the scan."""

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
        _SENT_PUNCT = frozenset(_rule_tables()["sent_punct"])
    return _SENT_PUNCT


def _import_spacy():  # the spacy module; untyped library
    """spaCy, imported with PyTorch and CuPy hidden unless this process has already imported them.

    spaCy's `thinc` imports torch (and probes CuPy) whenever they are installed, for models carding never loads;
    every Ray worker that filters pays it once: `import spacy` took 1.8 s here with torch installed and 0.6 s
    with it hidden, and 5.8 s against 1.8 s on the 16-core device machine (`stages.imports.hidden_modules`: the
    process can still import torch itself; thinc alone keeps believing it absent).
    """
    if "spacy" not in sys.modules:
        with hidden_modules("torch", "cupy"):
            import spacy  # noqa: F401
    return sys.modules["spacy"]


_HASH_BASE = np.uint64(1_000_003)
_NOT_PUNCTUATION, _ALPHA, _CATEGORY_P = np.uint8(1), np.uint8(2), np.uint8(4)


@functools.lru_cache(maxsize=1)
def _blank_english():  # spacy.Language; untyped library
    """One `spacy.blank("en")` per process (~0.5 s to build), as datatrove's `load_word_tokenizer` caches it.

    Its lexical-attribute getters (shape, like_num, like_url, ...) are removed: the tokenizer never reads them,
    and computing them for every new word was half of spaCy's time (0.97 s instead of 1.87 s for 50 k chunks).
    """
    spacy = _import_spacy()
    nlp = spacy.blank("en")
    nlp.vocab.lex_attr_getters = {}
    nlp.tokenizer.suffix_search = _tail_search(nlp.tokenizer.suffix_search.__self__.search)
    return nlp


_SUFFIX_WINDOW = 8
"""Characters a suffix search looks at: longer than any bounded suffix of spaCy's English rules (the longest are
5-character units after a digit, `اكواب`; currencies reach 3, `US$`)."""


def _tail_search(search):  # re.Pattern.search -> the same answers, faster
    """spaCy's suffix search, started `_SUFFIX_WINDOW` characters before the end instead of at 0.

    Every suffix alternative ends at `$`; all but the ellipsis (`\\.\\.+`) are at most 5 characters long, and a
    lookbehind still sees the characters before `pos`. A match starting exactly at the window start may be the
    tail of a longer ellipsis, so that case searches the whole string again. Same tokens (test_words.py), and
    spaCy's time on new chunks falls by a quarter: its suffix regex tries all 83 alternatives at every position.
    """
    def tail_search(string: str):
        start = len(string) - _SUFFIX_WINDOW
        if start <= 0:
            return search(string)
        match = search(string, start)
        if match is not None and match.start() == start:
            return search(string)
        return match

    tail_search.__wrapped__ = search  # affix_rules.rule_tables reads the regex source through it
    return tail_search


@functools.lru_cache(maxsize=1)
def _rule_tables() -> dict:
    """`affix_rules.rule_tables` of `_blank_english()`, read from `rule_cache` when an earlier process built it."""
    return rule_cache.load_tables(lambda: rule_tables(_blank_english().tokenizer))


def warm_rule_cache() -> None:
    """Build spaCy's tables into `rule_cache` in this process unless one on this machine already did.

    The runner runs it in one task before it starts the filter tasks when the machine has no cache yet: every
    worker would otherwise import spaCy and build the same tables at once (the first batch of a cold process took
    5.5 s against 0.2 s warm, 2-core box); with it they all load the file."""
    if not rule_cache.has_tables():
        _rule_tables()


@functools.lru_cache(maxsize=1)
def _spacy_rules() -> SpacyRules:
    """spaCy's English tokenizer rules, compiled (`affix_rules`), built once per process."""
    return SpacyRules(_rule_tables())


@functools.lru_cache(maxsize=1)
def _spacy_answers() -> dict[str, tuple[int, ...]]:
    """spaCy's token lengths of chunks the rules defer, as stored by earlier processes; this process adds its own."""
    return rule_cache.load_answers()


_FLAGS = np.full(sys.maxunicode + 1, 255, dtype=np.uint8)
"""Per code point: not in datatrove's PUNCTUATION, `str.isalpha`, Unicode category P* (255 = not computed yet)."""


def _codepoint_flags(cps: np.ndarray) -> np.ndarray:
    """Flags of each code point, computing (in Python, exactly as Python's Unicode tables say) only unseen ones."""
    new = np.unique(cps[_FLAGS[cps] == 255])
    if len(new):
        punct = _punctuation()
        chars = [chr(c) for c in new.tolist()]
        _FLAGS[new] = np.array([(_NOT_PUNCTUATION if ch not in punct else 0) | (_ALPHA if ch.isalpha() else 0)
                                | (_CATEGORY_P if unicodedata.category(ch)[0] == "P" else 0) for ch in chars],
                               dtype=np.uint8)
    return _FLAGS[cps]


@njit(cache=True)
def _poly_hash(cps: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per string: sum((cp+1) * B**(len-1-i)) and B**len, mod 2**64 (uint64 wrap-around)."""
    n = len(offsets) - 1
    hashes = np.zeros(n, dtype=np.uint64)
    pows = np.ones(n, dtype=np.uint64)
    for s in range(n):
        h = np.uint64(0)
        p = np.uint64(1)
        for i in range(offsets[s], offsets[s + 1]):
            h = h * _HASH_BASE + np.uint64(cps[i]) + np.uint64(1)
            p = p * _HASH_BASE
        hashes[s] = h
        pows[s] = p
    return hashes, pows


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

    def take(self, idx: np.ndarray) -> Tokens:
        """The tokens of texts idx, in that order (CSR gather: offsets [0,2,3], idx [1] -> types[2:3])."""
        starts = self.offsets[idx]
        counts = self.offsets[idx + 1] - starts
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        pos = np.arange(offsets[-1], dtype=np.int64) + np.repeat(starts - offsets[:-1], counts)
        return Tokens(offsets=offsets, types=self.types[pos])


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
    base**length, mod 2**64, so the hash of a concatenation folds from its parts), `type_sent_punct` bool (ends a sentence for spaCy's sentencizer), `type_punct` bool (spaCy
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
        load_numba_math()  # before the first kernel (ChunkTable.ids): keeps SciPy out of the worker
        self._chunks = ChunkTable()
        self._chunk_tok_offsets = _Growable(np.int64)
        self._chunk_tok_offsets.extend(np.zeros(1, dtype=np.int64))
        self._chunk_tok_types = _Growable(np.int32)
        self._type_id: dict[str, int] = {}
        self._types = {name: _Growable(dt) for name, dt in (
            ("chars", np.int64), ("content", np.bool_), ("alpha", np.bool_), ("stop", np.int16),
            ("hash", np.uint64), ("pow", np.uint64), ("sent_punct", np.bool_),
            ("punct", np.bool_))}

    def type_array(self, name: str) -> np.ndarray:
        """Feature `name` of every known token type (see the class docstring)."""
        return self._types[name].view

    @property
    def nlp(self):  # spacy.Language; untyped library
        return _blank_english()

    def split_chunks(self, text: pa.Array) -> tuple[pa.Array, np.ndarray]:
        """(non-empty whitespace-free chunks, (n+1,) int64 offsets per text): `str.split()` of every text."""
        # Arrow's whitespace == str.isspace (all 29). Trimmed first: pyarrow 26's utf8_split_whitespace reads past
        # the end of the data buffer when the last string ends in non-ASCII whitespace ("... \xa0 "), and then
        # ~14 % of calls return a stray " " piece (measured on 20,000 calls); trimmed texts never end in whitespace.
        lists = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(pc.fill_null(text, "")))
        values = pc.list_flatten(lists)
        parents = pc.list_parent_indices(lists).to_numpy()
        keep = pc.greater(pc.binary_length(values), 0)
        values = values.filter(keep)
        parents = parents[keep.to_numpy(zero_copy_only=False)]
        offsets = np.zeros(len(text) + 1, dtype=np.int64)
        np.cumsum(np.bincount(parents, minlength=len(text)), out=offsets[1:])
        return values, offsets

    def chunk_ids(self, chunks: pa.Array) -> np.ndarray:
        """(n_chunks,) int64 cache ids of chunks (a string array), tokenizing the unseen ones first."""
        if len(chunks) == 0:
            return np.zeros(0, dtype=np.int64)
        if self._chunks.n_ids + len(chunks) > self.max_cached_chunks:
            self._reset()
        ids, first = self._chunks.ids(chunks)
        if len(first):
            self._add_chunks(chunks.take(pa.array(first)).to_pylist())
        return ids

    def _add_chunks(self, chunks: list[str]) -> None:
        """Tokenize new chunks and append their tokens, in the order `ChunkTable` gave them ids.

        spaCy's rules, compiled (`affix_rules`), answer ~98 % of chunks; spaCy itself the rest (a token run the
        special-case matcher rewrites, a URL core). Every chunk's tokens tile it, so all tokens
        are slices of the joined chunks: one Arrow string array over its UTF-8 bytes, dictionary-encoded, gives
        the type ids without a Python string per token.
        """
        joined = "".join(chunks)
        lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
        offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        n_tok, ends, deferred = _spacy_rules().token_ends(joined, cps, offsets)
        if len(deferred):
            answers = _spacy_answers()
            hard = [i for i in deferred.tolist() if chunks[i] not in answers]
            if hard:  # only here does this process import spaCy
                new = {chunks[i]: tuple(map(len, toks))
                       for i, toks in zip(hard, self._spacy_tokens([chunks[i] for i in hard]))}
                answers.update(new)
                rule_cache.store_answers(new)
            for i in deferred.tolist():
                self._set_ends(ends, n_tok, offsets, i, answers[chunks[i]])
        total = int(n_tok.sum())
        first_tok = np.cumsum(n_tok) - n_tok
        flat_ends = ends[np.repeat(offsets[:-1] - first_tok, n_tok) + np.arange(total, dtype=np.int64)]
        # code point -> UTF-8 byte offsets of the token boundaries (tokens tile `joined`)
        byte_len = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)
        byte_at = np.zeros(len(cps) + 1, dtype=np.int64)
        np.cumsum(byte_len, out=byte_at[1:])
        bounds = np.zeros(total + 1, dtype=np.int64)
        bounds[1:] = byte_at[flat_ends]
        token_arr = pa.LargeStringArray.from_buffers(total, pa.py_buffer(bounds), pa.py_buffer(joined.encode("utf-8")))
        enc = pc.dictionary_encode(token_arr)
        uniques = enc.dictionary.to_pylist()
        type_of = self._type_id
        unknown = [t for t in uniques if t not in type_of]
        if unknown:
            self._add_types(unknown)
        uniq_types = np.fromiter((type_of[t] for t in uniques), dtype=np.int32, count=len(uniques))
        types = uniq_types[enc.indices.to_numpy(zero_copy_only=False)]
        base = self._chunk_tok_offsets.view[-1]
        self._chunk_tok_offsets.extend(base + np.cumsum(n_tok))
        self._chunk_tok_types.extend(types)
        assert len(self._chunk_tok_offsets.view) - 1 == self._chunks.n_ids, "token data out of step with chunk ids"

    @staticmethod
    def _set_ends(ends: np.ndarray, n_tok: np.ndarray, offsets: np.ndarray, i: int, lengths: tuple[int, ...]) -> None:
        """Write chunk i's tokens (lengths in code points; they tile the chunk) as token ends."""
        ends[offsets[i]:offsets[i] + len(lengths)] = offsets[i] + np.cumsum(lengths)
        n_tok[i] = len(lengths)

    def _spacy_tokens(self, chunks: list[str]) -> list[list[str]]:
        """spaCy's tokens of each chunk alone, from one tokenizer call over the chunks joined by newlines.

        Not by spaces: spaCy's special-case matcher can let a match across a space suppress an emoticon in the
        next chunk (`s}k: (:°.` gives `(`, `:` where `(:°.` alone gives `(:`), which would make a chunk's tokens
        depend on its neighbours in this call. A newline becomes a token of its own that no special case
        contains, so every chunk is tokenized as if alone (test_words.py checks it on shuffled random chunks).
        """
        nlp = self.nlp  # first: it imports spaCy with torch hidden; `spacy.attrs` alone would import torch (2.7 s)
        from spacy.attrs import IDX, LENGTH

        joined = "\n".join(chunks)
        starts = np.zeros(len(chunks), dtype=np.int64)
        np.cumsum(np.fromiter((len(c) + 1 for c in chunks[:-1]), dtype=np.int64, count=len(chunks) - 1),
                  out=starts[1:])
        with nlp.memory_zone():
            arr = nlp.tokenizer(joined).to_array([IDX, LENGTH]).astype(np.int64)
        separators = starts[1:] - 1
        arr = arr[~np.isin(arr[:, 0], separators)]
        owner = np.searchsorted(starts, arr[:, 0], side="right") - 1
        out: list[list[str]] = [[] for _ in chunks]
        for o, i, n in zip(owner.tolist(), arr[:, 0].tolist(), arr[:, 1].tolist()):
            out[o].append(joined[i:i + n])
        return out

    def _add_types(self, texts: list[str]) -> None:
        """Compute each new token type's features once, over the code points of all new types at once."""
        sent = _sentence_punct()
        stop = {w: i for i, w in enumerate(self.stop_words)}
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        cps = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        flags = _codepoint_flags(cps)
        starts = offsets[:-1]
        hashes, pows = _poly_hash(cps, offsets)
        first = self._types["chars"].n
        cols = {
            "chars": lengths,
            "content": np.add.reduceat((flags & _NOT_PUNCTUATION) != 0, starts) > 0,
            "alpha": np.add.reduceat((flags & _ALPHA) != 0, starts) > 0,
            "stop": np.fromiter((stop.get(t, -1) for t in texts), dtype=np.int16, count=len(texts)),
            "hash": hashes, "pow": pows,
            "sent_punct": np.fromiter((t in sent for t in texts), dtype=np.bool_, count=len(texts)),
            "punct": np.add.reduceat((flags & _CATEGORY_P) == 0, starts) == 0,
        }
        for name, values in cols.items():
            self._types[name].extend(np.asarray(values, dtype=self._types[name].view.dtype))
        for i, t in enumerate(texts):
            self._type_id[t] = first + i

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

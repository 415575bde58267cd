"""spaCy's English tokenizer re-run by rule on whitespace-free chunks, compiled (numba), without calling spaCy.

spaCy tokenizes a whitespace-free chunk by a fixed algorithm (tokenizer.pyx `_split_affixes`, `_attach_tokens`,
`_apply_special_cases`): peel prefixes and suffixes (`find_prefix`, `find_suffix`) until none is left or the rest
is a special case, then split the core at infixes (`find_infix`) unless it is a special case or a URL, then let
the special-case matcher rewrite token runs that spell an exception with affixes (`:)`, `10a.m.`). This module
runs the same algorithm with each regex replaced by what it reduces to, since every English alternative is one
character of a class, a short literal, or a run of dots, with one-character lookarounds:

- prefix (`re.search` of `^alt|...`, first alternative wins): a run of >= 2 dots, `+` not before a digit,
  `US$`/`C$`/`A$`, else one character of class PRE1;
- suffix (all alternatives end in `$`, so the leftmost start from which one matches wins): a final run of >= 2
  dots, one character of class SUF1, `……`/`'s`/`'S`/`’s`/`’S`, `.` after a DOTPRE character, after two capitals
  or after `°` + one of `FfCcKk`; after an ASCII digit also `+`, a currency or a unit (`km`, `%`, `m/s`, ...);
- infix (`finditer`: leftmost position, first alternative): dot runs, one character of class INFIX1 (`…`,
  symbols), `[+-*^]` between digits (or before `-`), `.` between DOT_BEFORE and DOT_AFTER, `,` between letters, a
  hyphen (`-`, `–`, `—`, `--`, `---`, `——`, `~`, in that order) after a letter or digit before a letter,
  `[:<>=/]` after a letter or digit before a letter.

The classes of each code point are read from the live tokenizer's own regexes by one-character probes, lazily
for the code points a batch brings (`CodepointClasses`); the literals from spaCy's `char_classes`; special cases
from `tokenizer.rules`. Lookbehinds see only the string the regex is given (the suffix search gets the string
minus its prefix, the infix search the core), as in spaCy. What the rules cannot answer exactly goes back to
spaCy: a core holding `.` that spaCy's URL regex matches (checked with that regex), a token run spelling a
special case whose matcher pattern would rewrite it, and characters whose probes disagree with the model above.

tests/stages/filter/test_affix_rules.py compares the result with spaCy on random and hypothesis-generated chunks
drawn from the characters and literals the rules name, test_words.py on every distinct chunk of the bundled
corpus; offline, 2.75 M distinct random chunks of 1-14 such pieces (30 seeds x 100 k draws) and the 174 k
distinct chunks of 20 000 bench documents gave no difference. The rules answer 98 % of those bench chunks (the
rest: 2 005 matcher runs such as `):` ending `f(x):`, 1 555 URL cores) in ~1.2 us each, against ~35 us for spaCy
on a new chunk.
"""
from __future__ import annotations

import re
import sys

import numpy as np
from numba import njit

from stages.filter.chunk_table import same_span

_B = np.uint64(1_000_003)

(F_PRE1, F_SUF1, F_DOTPRE, F_UPPER, F_LOWER, F_ALPHA, F_DIGIT, F_DOT_BEFORE, F_DOT_AFTER, F_INFIX1,
 F_UNSAFE, F_HYPHEN_START) = (1 << i for i in range(12))
"""Per code point: prefix alone; suffix alone; `.` after it is a suffix; ALPHA_UPPER; ALPHA_LOWER; ALPHA; [0-9];
`.` infix may follow it; `.` infix may precede it; infix alone; probes outside the model (defer to spaCy); first
character of a hyphen alternative."""
F_PROBED = 1 << 15

_MAX_DIGIT_LITERAL = 5
"""Longest currency or unit spaCy splits after a digit (`اكواب`, `km/h`); checked in `SpacyRules.__init__`."""

_NEUTRAL = "\x01"
"""A character no prefix, suffix or infix rule names: the context of the one-character probes."""

OK, DEFER, MATCHER, URL_CHECK = 0, 1, 2, 3
"""Status of a chunk: tokens exact; a character outside the model (ask spaCy); a token run spells a special case
the matcher would rewrite (ask spaCy); tokens exact unless spaCy's URL regex matches the core."""


@njit(cache=True, inline="always")
def _hash(cps: np.ndarray, lo: int, hi: int) -> np.uint64:
    h = np.uint64(0)
    for i in range(lo, hi):
        h = h * _B + np.uint64(cps[i]) + np.uint64(1)
    return h


def _py_hash(s: str) -> int:
    """`_hash` of a whole string, in Python."""
    h = 0
    for ch in s:
        h = (h * 1_000_003 + ord(ch) + 1) & 0xFFFF_FFFF_FFFF_FFFF
    return h


@njit(cache=True, inline="always")
def _bloom_slot(length: int, first: int, last: int) -> int:
    return (length * 40503 + first * 2654435761 + last * 97) & 0xFFFF


@njit(cache=True)
def _find(cps: np.ndarray, lo: int, hi: int, keys: np.ndarray, ids: np.ndarray, s_cps: np.ndarray,
          s_off: np.ndarray, bloom: np.ndarray) -> int:
    """Index of the string cps[lo:hi] among stored strings (sorted hashes `keys` -> `ids`, verified), or -1.

    `bloom` (65536,) bool marks the (length, first, last character) of every stored string: most lookups stop
    there (1 347 special cases fill ~2 % of it) without hashing the string.
    """
    if hi <= lo or not bloom[_bloom_slot(hi - lo, cps[lo], cps[hi - 1])]:
        return -1
    h = _hash(cps, lo, hi)
    k = np.searchsorted(keys, h)
    while k < len(keys) and keys[k] == h:
        s = ids[k]
        a, b = s_off[s], s_off[s + 1]
        if b - a == hi - lo and same_span(s_cps, a, cps, lo, hi - lo):
            return s
        k += 1
    return -1


@njit(cache=True)
def _has_at(cps: np.ndarray, pos: int, hi: int, lit: np.ndarray, a: int, b: int) -> bool:
    """cps[pos:hi] starts with lit[a:b]."""
    if hi - pos < b - a:
        return False
    for j in range(b - a):
        if cps[pos + j] != lit[a + j]:
            return False
    return True


@njit(cache=True)
def _prefix_len(cps: np.ndarray, lo: int, hi: int, flags: np.ndarray, pre_lit: np.ndarray,
                pre_off: np.ndarray) -> int:
    """spaCy `find_prefix(cps[lo:hi])`."""
    if hi <= lo:
        return 0
    c = cps[lo]
    if c == 46:  # '.': `\.\.+`
        j = lo
        while j < hi and cps[j] == 46:
            j += 1
        return j - lo if j - lo >= 2 else 0
    if c == 43:  # '+': `\+(?![0-9])`
        return 1 if lo + 1 >= hi or not (flags[cps[lo + 1]] & F_DIGIT) else 0
    for k in range(len(pre_off) - 1):  # US$ C$ A$
        if _has_at(cps, lo, hi, pre_lit, pre_off[k], pre_off[k + 1]):
            return pre_off[k + 1] - pre_off[k]
    return 1 if flags[c] & F_PRE1 else 0


@njit(cache=True)
def _suffix_len(cps: np.ndarray, lo: int, hi: int, flags: np.ndarray, suf_lit: np.ndarray, suf_off: np.ndarray,
                dig_lit: np.ndarray, dig_off: np.ndarray) -> int:
    """spaCy `find_suffix(cps[lo:hi])`: the leftmost start from which some alternative matches to the end."""
    n = hi - lo
    if n <= 0:
        return 0
    best = hi
    last = cps[hi - 1]
    if last == 46:
        j = hi
        while j > lo and cps[j - 1] == 46:
            j -= 1
        if hi - j >= 2:
            best = j
        elif (n >= 2 and (flags[cps[hi - 2]] & F_DOTPRE)
              or n >= 3 and (flags[cps[hi - 2]] & F_UPPER) and (flags[cps[hi - 3]] & F_UPPER)):
            best = hi - 1
        elif n >= 3 and cps[hi - 3] == 176 and (cps[hi - 2] == 70 or cps[hi - 2] == 102 or cps[hi - 2] == 67
                                                or cps[hi - 2] == 99 or cps[hi - 2] == 75 or cps[hi - 2] == 107):
            best = hi - 1  # (?<=°[FfCcKk])\.
    if flags[last] & F_SUF1:
        best = min(best, hi - 1)
    for k in range(len(suf_off) - 1):  # …… 's 'S ’s ’S
        m = suf_off[k + 1] - suf_off[k]
        if n >= m and _has_at(cps, hi - m, hi, suf_lit, suf_off[k], suf_off[k + 1]):
            best = min(best, hi - m)
    digit_near = False  # a digit-conditioned literal needs a digit within its length + 1 of the end
    for j in range(max(lo, hi - _MAX_DIGIT_LITERAL - 1), hi):
        if flags[cps[j]] & F_DIGIT:
            digit_near = True
            break
    for k in range(len(dig_off) - 1 if digit_near else 0):  # (?<=[0-9])(\+|currency|unit)
        m = dig_off[k + 1] - dig_off[k]
        if n >= m + 1 and (flags[cps[hi - m - 1]] & F_DIGIT) and _has_at(cps, hi - m, hi, dig_lit, dig_off[k],
                                                                           dig_off[k + 1]):
            best = min(best, hi - m)
    return hi - best


@njit(cache=True)
def _infix_at(cps: np.ndarray, lo: int, hi: int, pos: int, flags: np.ndarray, hyph: np.ndarray,
              hyph_off: np.ndarray) -> int:
    """End of the infix match starting at pos in the core cps[lo:hi] (alternatives in spaCy's order), or -1."""
    c = cps[pos]
    fp = flags[cps[pos - 1]] if pos > lo else 0
    nxt = cps[pos + 1] if pos + 1 < hi else -1
    fn = flags[nxt] if nxt >= 0 else 0
    if c == 46 and nxt == 46:  # \.\.+
        j = pos
        while j < hi and cps[j] == 46:
            j += 1
        return j
    if flags[c] & F_INFIX1:  # … and symbols
        return pos + 1
    # (?<=[0-9])[+\-\*^](?=[0-9-])
    if (c == 43 or c == 45 or c == 42 or c == 94) and (fp & F_DIGIT) and ((fn & F_DIGIT) or nxt == 45):
        return pos + 1
    # (?<=[a-z quotes])\.(?=[A-Z quotes])
    if c == 46 and (fp & F_DOT_BEFORE) and (fn & F_DOT_AFTER):
        return pos + 1
    # (?<=[alpha]),(?=[alpha])
    if c == 44 and (fp & F_ALPHA) and (fn & F_ALPHA):
        return pos + 1
    if fp & (F_ALPHA | F_DIGIT):
        # (?<=[alpha 0-9])(?:-|–|—|--|---|——|~)(?=[alpha])
        for k in range(len(hyph_off) - 1 if flags[c] & F_HYPHEN_START else 0):
            e = pos + hyph_off[k + 1] - hyph_off[k]
            if e < hi and _has_at(cps, pos, hi, hyph, hyph_off[k], hyph_off[k + 1]) and (flags[cps[e]] & F_ALPHA):
                return e
        # (?<=[alpha 0-9])[:<>=/](?=[alpha])
        if (c == 58 or c == 60 or c == 62 or c == 61 or c == 47) and (fn & F_ALPHA):
            return pos + 1
    return -1


@njit(cache=True)
def tokenize_chunks(cps: np.ndarray, offsets: np.ndarray, flags: np.ndarray, pre_lit: np.ndarray,
                    pre_off: np.ndarray, suf_lit: np.ndarray, suf_off: np.ndarray, dig_lit: np.ndarray,
                    dig_off: np.ndarray, hyph: np.ndarray, hyph_off: np.ndarray, sp_keys: np.ndarray,
                    sp_ids: np.ndarray, sp_cps: np.ndarray, sp_off: np.ndarray, sp_bloom: np.ndarray,
                    sp_tok_len: np.ndarray, sp_tok_off: np.ndarray, mt_keys: np.ndarray, mt_ids: np.ndarray,
                    mt_cps: np.ndarray, mt_off: np.ndarray, mt_bloom: np.ndarray,
                    mt_n_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """spaCy tokens of each chunk cps[offsets[i]:offsets[i+1]], as token ends.

    Returns status (n,) int8 (OK, DEFER, MATCHER, URL_CHECK), n_tokens (n,) int64, ends (len(cps),) int64
    (chunk i's k-th token ends at ends[offsets[i] + k]; tokens tile the chunk, so ends suffice), and the core
    (lo, hi), (n,) int64 each, for the URL check. Worked example: "(don't." -> prefix "(", suffix ".", core
    "don't" is the special case ["do", "n't"] -> ends [1, 3, 6, 7].
    """
    n = len(offsets) - 1
    status = np.zeros(n, dtype=np.int8)
    n_tok = np.zeros(n, dtype=np.int64)
    ends = np.zeros(len(cps), dtype=np.int64)
    core_lo = np.zeros(n, dtype=np.int64)
    core_hi = np.zeros(n, dtype=np.int64)
    longest = 0
    for i in range(n):
        longest = max(longest, offsets[i + 1] - offsets[i])
    pre_ends = np.zeros(longest + 1, dtype=np.int64)
    suf_starts = np.zeros(longest + 1, dtype=np.int64)
    mt_max_chars = 0
    for m in range(len(mt_off) - 1):
        mt_max_chars = max(mt_max_chars, mt_off[m + 1] - mt_off[m])
    specials = (sp_keys, sp_ids, sp_cps, sp_off, sp_bloom)
    matcher = (mt_keys, mt_ids, mt_cps, mt_off, mt_bloom)
    for i in range(n):
        s0, s1 = offsets[i], offsets[i + 1]
        safe = True
        for j in range(s0, s1):
            if flags[cps[j]] & F_UNSAFE:
                safe = False
                break
        if not safe:
            status[i] = DEFER
            continue
        out = s0  # next free slot in ends
        lo, hi = s0, s1
        sp = _find(cps, s0, s1, *specials)
        if sp >= 0:  # the whole chunk is a special case
            p = s0
            for k in range(sp_tok_off[sp], sp_tok_off[sp + 1]):
                p += sp_tok_len[k]
                ends[out] = p
                out += 1
            lo = hi
        else:
            n_pre, n_suf = 0, 0
            last_size = -1
            while hi > lo and hi - lo != last_size:
                if _find(cps, lo, hi, *specials) >= 0:
                    break
                last_size = hi - lo
                pre = _prefix_len(cps, lo, hi, flags, pre_lit, pre_off)
                if pre and hi > lo + pre and _find(cps, lo + pre, hi, *specials) >= 0:
                    pre_ends[n_pre] = lo + pre
                    n_pre += 1
                    lo += pre
                    break
                suf = _suffix_len(cps, lo + pre, hi, flags, suf_lit, suf_off, dig_lit, dig_off)
                if suf and hi - suf > lo and _find(cps, lo, hi - suf, *specials) >= 0:
                    suf_starts[n_suf] = hi - suf
                    n_suf += 1
                    hi -= suf
                    break
                if pre:
                    pre_ends[n_pre] = lo + pre
                    n_pre += 1
                    lo += pre
                if suf:  # the suffix was searched after the prefix, so both fit
                    suf_starts[n_suf] = hi - suf
                    n_suf += 1
                    hi -= suf
            for k in range(n_pre):
                ends[out] = pre_ends[k]
                out += 1
            if hi > lo:
                sp = _find(cps, lo, hi, *specials)
                if sp >= 0:
                    p = lo
                    for k in range(sp_tok_off[sp], sp_tok_off[sp + 1]):
                        p += sp_tok_len[k]
                        ends[out] = p
                        out += 1
                else:
                    for j in range(lo, hi):
                        if cps[j] == 46:  # every URL holds a dot; spaCy's regex decides later
                            status[i] = URL_CHECK
                            break
                    # infix split; a match at the core's first position is skipped (spaCy's start_before_infixes)
                    start = lo
                    pos = lo
                    while pos < hi:
                        e = _infix_at(cps, lo, hi, pos, flags, hyph, hyph_off)
                        if e < 0:
                            pos += 1
                            continue
                        if pos != lo:
                            if pos != start:
                                ends[out] = pos
                                out += 1
                            ends[out] = e
                            out += 1
                            start = e
                        pos = e
                    if start < hi:
                        ends[out] = hi
                        out += 1
            for k in range(n_suf - 1, -1, -1):  # innermost suffix first; suffix k ends where suffix k-1 starts
                ends[out] = suf_starts[k - 1] if k > 0 else s1
                out += 1
        n_tok[i] = out - s0
        core_lo[i], core_hi[i] = lo, hi
        # the special-case matcher: a run of tokens spelling a special case whose pattern has that many tokens
        for a in range(n_tok[i]):
            start_a = s0 if a == 0 else ends[s0 + a - 1]
            for b in range(a, n_tok[i]):
                if ends[s0 + b] - start_a > mt_max_chars:
                    break
                m = _find(cps, start_a, ends[s0 + b], *matcher)
                if m >= 0 and mt_n_tokens[m] == b - a + 1:
                    status[i] = MATCHER
    return status, n_tok, ends, core_lo, core_hi


def _sorted_strings(strings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sorted hashes, their string ids, code points, offsets, bloom) for `_find`."""
    off = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in strings], out=off[1:])
    cps = np.frombuffer("".join(strings).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    hashes = np.array([_py_hash(s) for s in strings], dtype=np.uint64)
    order = np.argsort(hashes, kind="stable")
    bloom = np.zeros(1 << 16, dtype=np.bool_)
    for s in strings:
        bloom[(len(s) * 40503 + ord(s[0]) * 2654435761 + ord(s[-1]) * 97) & 0xFFFF] = True
    return hashes[order], order.astype(np.int64), cps, off, bloom


def _literals(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(code points, offsets) of literals, in the given order."""
    off = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in strings], out=off[1:])
    return np.frombuffer("".join(strings).encode("utf-32-le"), dtype=np.uint32).astype(np.int64), off


def _orth_texts(substrings: list) -> list[str]:
    from spacy.attrs import ORTH

    return [t[ORTH] if ORTH in t else t["ORTH"] for t in substrings]


def rule_tables(tokenizer) -> dict:  # spacy Tokenizer (untyped library) -> the tables of `SpacyRules`
    """Everything `SpacyRules` reads from a spaCy English tokenizer, as arrays, strings and regex sources.

    Plain data (arrays, strings, tuples), so `rule_cache` can store it and a worker can build `SpacyRules` without
    spaCy. The regexes travel as (pattern, flags): `re.compile` of the same source is the same regex (prefix,
    suffix, infix and URL searches are plain `re` patterns in spaCy 3).
    """
    from spacy.lang.char_classes import (
        ALPHA,
        ALPHA_LOWER,
        ALPHA_UPPER,
        CURRENCY,
        HYPHENS,
        UNITS,
    )
    from spacy.pipeline import Sentencizer
    from spacy.tokenizer import Tokenizer

    currency = [c.replace("\\", "") for c in CURRENCY.split("|")]  # spaCy's list escapes `$` only
    digit_lits = sorted({"+", *currency, *UNITS.split("|")}, key=len, reverse=True)
    rules = tokenizer.rules
    specials = list(rules)
    tok_lens = [[len(t) for t in _orth_texts(rules[s])] for s in specials]
    sp_tok_off = np.zeros(len(specials) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in tok_lens], out=sp_tok_off[1:])
    # Matcher patterns (tokenizer.pyx add_special_case): specials with an affix or infix, tokenized without
    # special cases; only those whose own tokens differ from their pattern can change a token run.
    bare = Tokenizer(tokenizer.vocab, rules={}, prefix_search=tokenizer.prefix_search,
                     suffix_search=tokenizer.suffix_search, infix_finditer=tokenizer.infix_finditer,
                     token_match=tokenizer.token_match, url_match=tokenizer.url_match)
    harmful, n_tokens = [], []
    for s in specials:
        if (tokenizer.faster_heuristics and not tokenizer.find_prefix(s) and not tokenizer.find_infix(s)
                and not tokenizer.find_suffix(s) and " " not in s):
            continue
        pattern = [t.text for t in bare(s)]
        if pattern != _orth_texts(rules[s]):
            harmful.append(s)
            n_tokens.append(len(pattern))
    if (tokenizer.prefix_search(_NEUTRAL) or tokenizer.suffix_search(_NEUTRAL)
            or list(tokenizer.infix_finditer("a" + _NEUTRAL + "a"))):
        raise RuntimeError(f"spaCy's rules changed: the probe context {_NEUTRAL!r} is an affix")
    if max(map(len, digit_lits)) > _MAX_DIGIT_LITERAL:
        raise RuntimeError(f"spaCy's units changed: one is longer than {_MAX_DIGIT_LITERAL} characters")
    for u in digit_lits:
        m = tokenizer.suffix_search("1" + u)
        if m is None or m.start() != 1:
            raise RuntimeError(f"spaCy's suffix rules changed: {u!r} after a digit is not a suffix")
    if tokenizer.token_match is not None:
        raise RuntimeError("spaCy's English tokenizer has a token_match now: the rules assume none")
    tables = {
        "pre": _literals([c for c in currency if len(c) > 1]),
        "suf": _literals(["……", "'s", "'S", "’s", "’S"]),
        "dig": _literals(digit_lits),
        "hyph": _literals(HYPHENS.split("|")),
        "sp": _sorted_strings(specials),
        "sp_tok_len": np.array([x for t in tok_lens for x in t], dtype=np.int64),
        "sp_tok_off": sp_tok_off,
        "mt": _sorted_strings(harmful),
        "mt_n_tokens": np.array(n_tokens, dtype=np.int64),
        "hyphen_starts": "".join(sorted({h[0] for h in HYPHENS.split("|")})),
        "prefix": _regex_of(tokenizer.prefix_search),
        "suffix": _regex_of(tokenizer.suffix_search),
        "infix": _regex_of(tokenizer.infix_finditer),
        "url": _regex_of(tokenizer.url_match),
        "alpha": (f"[{ALPHA}]", 0), "upper": (f"[{ALPHA_UPPER}]", 0), "lower": (f"[{ALPHA_LOWER}]", 0),
        "sent_punct": "".join(sorted(Sentencizer.default_punct_chars)),
        "probed": np.zeros(0, dtype=np.uint16),
    }
    rules = SpacyRules(tables)
    rules._probe(np.arange(_PROBED_AHEAD, dtype=np.int64))
    tables["probed"] = rules.flags[:_PROBED_AHEAD].copy()
    return tables


_PROBED_AHEAD = 0x3000
"""Code points probed when the tables are built (all scripts up to CJK punctuation; 0.2 s once), so a worker
compiles the probe regexes (`_optimize_charset` of spaCy's big classes: 0.1 s) only for a rarer code point."""


def _regex_of(method) -> tuple[str, int]:  # a bound re.Pattern method, or a wrapper with `__wrapped__`
    """(pattern, flags) of the compiled regex behind a tokenizer search function."""
    pattern = getattr(getattr(method, "__wrapped__", method), "__self__", None)
    if not isinstance(pattern, re.Pattern):
        raise TypeError(f"spaCy's tokenizer search {method!r} is not a `re` pattern method")
    return pattern.pattern, pattern.flags


class SpacyRules:
    """Tables for `tokenize_chunks` (from `rule_tables`), and the regexes that probe new code points."""

    def __init__(self, tables: dict) -> None:
        self.pre, self.suf, self.dig, self.hyph = tables["pre"], tables["suf"], tables["dig"], tables["hyph"]
        self.sp, self.sp_tok_len, self.sp_tok_off = tables["sp"], tables["sp_tok_len"], tables["sp_tok_off"]
        self.mt, self.mt_n_tokens = tables["mt"], tables["mt_n_tokens"]
        self._hyphen_starts = frozenset(tables["hyphen_starts"])
        self._sources = {name: tables[name] for name in ("prefix", "suffix", "infix", "url", "alpha", "upper", "lower")}
        self._compiled: dict[str, re.Pattern] = {}
        self.flags = np.zeros(sys.maxunicode + 1, dtype=np.uint16)
        self.flags[:len(tables["probed"])] = tables["probed"]

    def _regex(self, name: str) -> re.Pattern:
        """One probe or URL regex, compiled on its first use. Most batches need no probe (`_PROBED_AHEAD`), and a URL
        check needs `url` alone: 11 ms to compile against ~60 ms for all seven, in each worker's first task."""
        rx = self._compiled.get(name)
        if rx is None:
            rx = self._compiled[name] = re.compile(*self._sources[name])
        return rx

    def _probe(self, cps: np.ndarray) -> None:
        """Fill the classes of code points not seen yet, from one-character probes of the tokenizer's regexes."""
        new = np.unique(cps[(self.flags[cps] & F_PROBED) == 0])
        if not len(new):
            return
        pre, suf, infix = self._regex("prefix").search, self._regex("suffix").search, self._regex("infix").finditer
        upper, lower = self._regex("upper").fullmatch, self._regex("lower").fullmatch
        alpha = self._regex("alpha").fullmatch
        for c in new.tolist():
            ch = chr(c)
            f = F_PROBED
            m = pre(ch + _NEUTRAL)
            if m is not None and ch not in "+.":
                f |= F_PRE1 if m.end() == 1 else F_UNSAFE
            m = suf(ch)
            if m is not None:
                f |= F_SUF1 if m.start() == 0 else F_UNSAFE
            m = suf(_NEUTRAL + ch)
            if m is not None and m.start() != 1:
                f |= F_UNSAFE
            m = suf(ch + ".")
            if ch != "." and m is not None and m.start() == 1:
                f |= F_DOTPRE
            if upper(ch):
                f |= F_UPPER
            if lower(ch):
                f |= F_LOWER
            if alpha(ch):
                f |= F_ALPHA
            if "0" <= ch <= "9":
                f |= F_DIGIT
            if ch != "." and any(m.start() == 1 and m.group() == "." for m in infix(ch + ".A")):
                f |= F_DOT_BEFORE
            if ch != "." and any(m.start() == 1 and m.group() == "." for m in infix("a." + ch)):
                f |= F_DOT_AFTER
            alone = [(m.start(), m.end()) for m in infix(_NEUTRAL + ch + _NEUTRAL)]
            if ch in self._hyphen_starts:
                f |= F_HYPHEN_START
            if alone == [(1, 2)] and ch != ".":
                f |= F_INFIX1
            elif alone:
                f |= F_UNSAFE
            self.flags[c] = f

    def token_ends(self, joined: str, cps: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray]:
        """Tokens of the chunks joined[offsets[i]:offsets[i+1]] (cps: their code points, int64).

        Returns n_tokens (n,) int64, ends (len(cps),) int64 (chunk i's k-th token ends at ends[offsets[i] + k],
        in code points of `joined`) and the (m,) int64 chunks left to spaCy (their entries unset).
        """
        self._probe(cps)
        status, n_tok, ends, core_lo, core_hi = tokenize_chunks(
            cps, offsets, self.flags, *self.pre, *self.suf, *self.dig, *self.hyph, *self.sp, self.sp_tok_len,
            self.sp_tok_off, *self.mt, self.mt_n_tokens)
        defer = (status == DEFER) | (status == MATCHER)
        check = np.flatnonzero(status == URL_CHECK)
        if len(check):
            url = self._regex("url").match
            # One regex call per core holding a dot (a URL needs one): 1 in 10 distinct chunks of the bench corpus.
            defer[check] = np.fromiter((url(joined[a:b]) is not None for a, b in
                                        zip(core_lo[check].tolist(), core_hi[check].tolist())),
                                       dtype=np.bool_, count=len(check))
        return n_tok, ends, np.flatnonzero(defer)

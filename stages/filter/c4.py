"""C4 quality rules (Raffel et al. 2020, §2.2), as datatrove's `C4QualityFilter`: drops lines, edits `text`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from stages.filter.chunk_table import string_buffers
from stages.filter.result import FilterResult, combine_rule_masks
from stages.filter.segments import char_lengths, owner, split_regex, splitlines, strip
from stages.filter.words import PY_WHITESPACE, WS_RUN, WordSplitter

C4_POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                        "use cookies")
"""datatrove `c4_filters.POLICY_SUBSTRINGS` (from tensorflow_datasets `c4_utils.py`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class C4Config:
    """Switches and thresholds of datatrove 0.10.1 `C4QualityFilter` (split on lines, as C4 does).

    Kept lines, stripped and joined by `\\n`, replace `text` of every document this filter keeps.
    """

    remove_citations: bool = True
    """Delete `[digits]`, `[edit]`, `[citation needed]` from lines; datatrove default True."""

    filter_no_terminal_punct: bool = True
    """Drop lines not ending in `. ? ! " '` (or ending in `...`); datatrove default True, C4 paper.
    FineWeb sets False (`examples/fineweb.py`)."""

    min_num_sentences: int | None = 5
    """Fewest spaCy-sentencizer sentences over kept lines (`too_few_sentences`); datatrove default 5."""

    min_words_per_line: int | None = 3
    """Drop lines with fewer whitespace words (counted before citation removal); datatrove default 3."""

    max_word_length: int | None = 1000
    """Drop lines holding a whitespace word longer than this many characters; datatrove default 1000."""

    filter_lorem_ipsum: bool = True
    """Reject a document whose kept line holds `lorem ipsum`, any case (`lorem_ipsum`); datatrove default True."""

    filter_javascript: bool = True
    """Drop lines holding `javascript`, any case; datatrove default True."""

    filter_curly_bracket: bool = True
    """Reject a document whose kept line holds `{` (`curly_bracket`); datatrove default True."""

    filter_policy: bool = True
    """Drop lines holding a cookie/terms phrase (`C4_POLICY_SUBSTRINGS`), any case; datatrove default True."""

    def __post_init__(self) -> None:
        for name in ("min_num_sentences", "min_words_per_line"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"c4.{name}={v}: must be >= 0 or null (off)")
        if self.max_word_length is not None and self.max_word_length < 1:
            raise ValueError(f"c4.max_word_length={self.max_word_length}: must be >= 1 character or null (off)")


CITATION = r"\[\p{Nd}*]|\[edit]|\[citation needed]"
"""datatrove `CITATION_REGEX` in RE2: Python's `\\d` on str is any Unicode decimal digit, RE2's is ASCII only."""


def lower_contains(phrase: str) -> str:
    """RE2 pattern true where `phrase` (ASCII) occurs in `line.lower()`, computed without lowering.

    Python's lower() maps to ASCII letters only from their capitals, `K` (U+212A, Kelvin) -> `k` and
    `İ` (U+0130) -> `i` + U+0307 (the combining dot then blocks any phrase that continues after the `i`),
    so per-letter classes are exact where pc.utf8_lower is not (spec filter.md, traps).
    """
    out = []
    for ch in phrase:
        if ch == "k":
            out.append("[kK\\x{212a}]")
        elif ch.isalpha():
            out.append(f"[{ch}{ch.upper()}]")
        else:
            out.append("\\" + ch if not ch.isalnum() and ch != " " else ch)
    return "".join(out)


@njit(cache=True)
def _sentences_per_line(line_chunks: np.ndarray, chunk_tokens: np.ndarray, types: np.ndarray,
                        sent_punct: np.ndarray, punct: np.ndarray, ws_before: np.ndarray,
                        ws_after: np.ndarray) -> np.ndarray:
    """datatrove's `len(split_into_sentences(line))`: spaCy sentencizer sentences, whitespace-only ones included,
    and at least 1 (it cuts the line at the sentence ends, so a line without tokens is one part).

    A token in the sentencizer's punct_chars (P) sets `seen_period`; the next token that is neither P nor
    `is_punct` (R; whitespace tokens are R) starts a sentence. Whitespace tokens sit before a chunk when
    ws_before is set, and at the end of a line when ws_after is set.
    """
    n_lines = len(line_chunks) - 1
    out = np.zeros(n_lines, dtype=np.int64)
    for li in range(n_lines):
        n_sent = 0
        seen = False
        for c in range(line_chunks[li], line_chunks[li + 1] + 1):
            last = c == line_chunks[li + 1]
            if (ws_after[li] if last else ws_before[c]):
                # one whitespace token: class R
                if n_sent == 0:
                    n_sent = 1
                elif seen:
                    n_sent += 1
                    seen = False
            if last:
                break
            for k in range(chunk_tokens[c], chunk_tokens[c + 1]):
                t = types[k]
                is_p = sent_punct[t]
                if n_sent == 0:
                    n_sent = 1
                    if is_p:
                        seen = True
                elif seen and not is_p and not punct[t]:
                    n_sent += 1
                    seen = False
                elif is_p:
                    seen = True
        out[li] = max(1, n_sent)
    return out


_WS_TABLE = np.zeros(0x3001, dtype=np.bool_)
_WS_TABLE[[ord(ch) for ch in PY_WHITESPACE]] = True
"""Python whitespace by code point (the largest is U+3000)."""


@njit(cache=True)
def _separators(data: np.ndarray, offs: np.ndarray, line_chunks: np.ndarray,
                is_ws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where spaCy makes whitespace tokens in each line: (ws_before (n_chunks,) bool, ws_after (n_lines,) bool).

    ws_before: a whitespace run precedes the chunk and is not exactly one " " (any run before a line's first
    chunk counts: spaCy attaches a single space only to a preceding token). ws_after: the line ends in such a
    run after at least one chunk. Example: "a  b " -> ws_before [F, T], ws_after F (a final single space).
    Lines are UTF-8 bytes data[offs[l]:offs[l+1]]; chunks are numbered as `WordSplitter.split_chunks` does.
    """
    n_lines = len(offs) - 1
    ws_before = np.zeros(line_chunks[n_lines], dtype=np.bool_)
    ws_after = np.zeros(n_lines, dtype=np.bool_)
    for li in range(n_lines):
        chunk = line_chunks[li]
        run_len = 0  # code points in the current whitespace run
        run_space = True  # the run is exactly " " so far
        in_chunk = False
        i = offs[li]
        end = offs[li + 1]
        while i < end:
            b = data[i]
            if b < 0x80:
                cp = np.int64(b)
                i += 1
            elif b < 0xE0:
                cp = (np.int64(b & 0x1F) << 6) | np.int64(data[i + 1] & 0x3F)
                i += 2
            elif b < 0xF0:
                cp = (np.int64(b & 0x0F) << 12) | (np.int64(data[i + 1] & 0x3F) << 6) | np.int64(data[i + 2] & 0x3F)
                i += 3
            else:
                cp = 0x10000  # 4-byte characters are never whitespace
                i += 4
            if cp < len(is_ws) and is_ws[cp]:
                if in_chunk:
                    in_chunk = False
                    run_len = 0
                    run_space = True
                run_len += 1
                run_space = run_space and cp == 32
            elif not in_chunk:
                in_chunk = True
                first = chunk == line_chunks[li]
                ws_before[chunk] = run_len > 0 and (first or not (run_len == 1 and run_space))
                chunk += 1
        ws_after[li] = (not in_chunk) and run_len > 0 and not (run_len == 1 and run_space) \
            and chunk > line_chunks[li]
    return ws_before, ws_after


class C4Filter:
    """C4 line rules on whole batches; reasons `c4.lorem_ipsum`, `c4.curly_bracket`, `c4.too_few_sentences`.

    Returns the edited texts (kept lines, stripped, joined by `\n`, stripped) for every row.
    """

    name = "c4"

    def __init__(self, config: C4Config, words: WordSplitter | None = None) -> None:
        self.config = config
        self.words = words if words is not None else WordSplitter()
        self._policy = "|".join(lower_contains(p) for p in C4_POLICY_SUBSTRINGS)

    def evaluate(self, text: pa.Array) -> FilterResult:
        c = self.config
        n = len(text)
        raw, off = splitlines(text)
        lines = strip(raw)
        n_lines = len(lines)
        doc = owner(off)
        alive = np.ones(n_lines, dtype=bool)
        if c.max_word_length is not None:
            alive &= ~self._has_long_word(lines, c.max_word_length)
        n_words = np.diff(self.words.split_chunks(lines)[1])  # `len(line.split())`, as Arrow splits: ~4x the regex
        if c.remove_citations:
            lines = pc.replace_substring_regex(lines, CITATION, "")
        if c.filter_no_terminal_punct:
            ends = pc.match_substring_regex(lines, r"[.?!\"']$").to_numpy(zero_copy_only=False)
            ellipsis = pc.ends_with(lines, "...").to_numpy(zero_copy_only=False)
            alive &= ends & ~ellipsis
        if c.min_words_per_line is not None:
            alive &= n_words >= c.min_words_per_line
        event = np.zeros(n_lines, dtype=bool)
        lorem = np.zeros(n_lines, dtype=bool)
        if c.filter_lorem_ipsum:
            lorem = alive & self._match(lines, lower_contains("lorem ipsum"))
            event |= lorem
            alive &= ~lorem
        if c.filter_javascript:
            alive &= ~self._match(lines, lower_contains("javascript"))
        if c.filter_curly_bracket:
            curly = alive & pc.match_substring(lines, "{").to_numpy(zero_copy_only=False)
            event |= curly
            alive &= ~curly
        if c.filter_policy:
            alive &= ~self._match(lines, self._policy)

        # The document is rejected at its first line that holds lorem ipsum or `{` (datatrove returns mid-loop).
        first_event = np.full(n, n_lines, dtype=np.int64)
        ev = np.flatnonzero(event)
        np.minimum.at(first_event, doc[ev], ev)
        has_event = first_event < n_lines
        event_is_lorem = np.zeros(n, dtype=bool)
        event_is_lorem[has_event] = lorem[first_event[has_event]]
        rules = [("lorem_ipsum", has_event & event_is_lorem), ("curly_bracket", has_event & ~event_is_lorem)]

        kept = lines.filter(pa.array(alive))
        kept_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(doc[alive], minlength=n), out=kept_off[1:])
        word_counts = None
        if c.min_num_sentences is not None:
            line_sentences, line_tokens = self._sentences(kept)
            sentences = np.bincount(doc[alive], weights=line_sentences, minlength=n)
            rules.append(("too_few_sentences", sentences < c.min_num_sentences))
            # the edited text is its kept lines joined by "\n" (whitespace), so its words are theirs
            word_counts = np.bincount(doc[alive], weights=line_tokens, minlength=n).astype(np.int64)
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(kept_off.astype(np.int32)), kept.cast(pa.string())),
                                "\n")
        return FilterResult(reasons=combine_rule_masks(self.name, rules, n),
                            text=strip(joined).cast(pa.large_string()), word_counts=word_counts)

    @staticmethod
    def _match(lines: pa.Array, pattern: str) -> np.ndarray:
        return pc.match_substring_regex(lines, pattern).to_numpy(zero_copy_only=False)

    @staticmethod
    def _has_long_word(lines: pa.Array, max_chars: int) -> np.ndarray:
        """(n_lines,) bool: a whitespace word longer than max_chars; only lines that long are split."""
        out = np.zeros(len(lines), dtype=bool)
        long_lines = np.flatnonzero(char_lengths(lines) > max_chars)
        if len(long_lines):
            words, w_off = split_regex(lines.take(pa.array(long_lines)), WS_RUN)
            longest = np.zeros(len(long_lines), dtype=np.int64)
            np.maximum.at(longest, owner(w_off), char_lengths(words))
            out[long_lines] = longest > max_chars
        return out

    def _sentences(self, lines: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(n_lines,) float64 sentences of each line, as datatrove's `len(split_into_sentences(line))`, and
        (n_lines,) float64 word tokens of each line (`split_into_words`, whitespace tokens dropped)."""
        w = self.words
        chunks, line_chunks = w.split_chunks(lines)
        ids = w.chunk_ids(chunks)
        types, per_chunk = w.tokens_of_chunks(ids)
        chunk_tokens = np.zeros(len(per_chunk) + 1, dtype=np.int64)
        np.cumsum(per_chunk, out=chunk_tokens[1:])
        # Whitespace around chunks, from one pass over the lines' UTF-8 bytes (a regex split costs 3x more)
        data, offs = string_buffers(lines.cast(pa.large_string()))
        ws_before, ws_after = _separators(data, offs, line_chunks, _WS_TABLE)
        sentences = _sentences_per_line(line_chunks, chunk_tokens, types, w.type_array("sent_punct"),
                                        w.type_array("punct"), ws_before, ws_after).astype(np.float64)
        return sentences, np.diff(chunk_tokens[line_chunks]).astype(np.float64)

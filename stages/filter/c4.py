"""C4 quality rules (Raffel et al. 2020, §2.2), as datatrove's `C4QualityFilter`: drops lines, edits `text`."""
from __future__ import annotations

from dataclasses import dataclass

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


class C4Filter:
    name = "c4"

    def __init__(self, config: C4Config) -> None:
        from datatrove.pipeline.filters import C4QualityFilter as _DT

        c = config
        self.config = config
        self._dt = _DT(remove_citations=c.remove_citations, filter_no_terminal_punct=c.filter_no_terminal_punct,
                       min_num_sentences=-1 if c.min_num_sentences is None else c.min_num_sentences,
                       min_words_per_line=-1 if c.min_words_per_line is None else c.min_words_per_line,
                       max_word_length=-1 if c.max_word_length is None else c.max_word_length,
                       filter_lorem_ipsum=c.filter_lorem_ipsum, filter_javascript=c.filter_javascript,
                       filter_curly_bracket=c.filter_curly_bracket, filter_policy=c.filter_policy)

    def evaluate(self, text):
        from stages.filter.result import evaluate_per_row

        return evaluate_per_row(self.name, self._dt, text, {})

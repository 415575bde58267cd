"""datatrove's `simplify_text` on a whole Arrow column: every step is one pyarrow (RE2) kernel over the batch.

Order as datatrove (utils/text.py): lowercase → numbers → weekdays → months → punctuation → whitespace →
NFD without combining marks → strip. Intended differences, listed in the parity test:
- `utf8_lower` maps a word-final `Σ` to `σ`; Python's `str.lower` gives `ς` (context-sensitive casing).
- 220 code points unassigned in Python 3.11's Unicode 14 but assigned in pyarrow's newer Unicode (case pairs,
  digits) normalise differently; all 282,230 others match (exhaustive scan, tests/stages/dedup).
Cost: ~75 ms per MB on one core here, a third of the raw-text → band-keys time.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from stages.dedup.config import NormalizeConfig

# datatrove utils/text.py `PUNCTUATION` (datatrove 0.10.1): the characters `simplify_text` turns into spaces.
# Only this string is translated; datatrove's TERMINAL_PUNCTUATION set is not. The parity test checks it is equal.
PUNCTUATION = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + "".join(
    map(chr, (x for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b)))
)

_PUNCTUATION_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PUNCTUATION) + "]"
# Python's `\s` and `str.strip()` on str: every character with `str.isspace()`. RE2's `\s` is `[\t\n\f\r ]` only,
# so the class names the rest: \v, \x1c-\x1f, \x85 and the Unicode separators `\p{Z}` (NBSP, \u2000-\u200a, ...).
_SPACE_CLASS = r"[\t\n\x{0b}\f\r\x{1c}-\x{1f}\x{85}\p{Z}]"
_NUMBERS = r"\p{Nd}+([.,،٫⎖⎗⎘]\p{Nd}+)?"
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"


def normalize_text(texts: pa.Array | pa.ChunkedArray, config: NormalizeConfig) -> pa.Array:
    """The normalised text of each row: (n,) large_string, null text becomes "".

    With the defaults the result has no leading/trailing space and single spaces between words, so a split on
    " " gives the words (empty only for an empty text).
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    t = pc.fill_null(texts.cast(pa.large_string()), "")
    if config.lowercase:
        t = pc.utf8_lower(t)
    if config.norm_numbers:
        t = pc.replace_substring_regex(t, _NUMBERS, "0")
    if config.norm_weekdays:
        t = pc.replace_substring_regex(t, _WEEKDAYS, "WEEKDAY")
    if config.norm_monthnames:
        t = pc.replace_substring_regex(t, _MONTHS, "MONTH")
    if config.remove_punctuation and config.norm_whitespace:
        # one pass: a run of punctuation and spaces becomes one space, as translate-then-collapse does
        # (25 ms instead of 38 ms per MB here)
        t = pc.replace_substring_regex(t, f"[{_PUNCTUATION_CLASS[1:-1]}{_SPACE_CLASS[1:-1]}]+", " ")
    elif config.remove_punctuation:
        t = pc.replace_substring_regex(t, _PUNCTUATION_CLASS, " ")
    elif config.norm_whitespace:
        t = pc.replace_substring_regex(t, f"{_SPACE_CLASS}+", " ")
    if config.norm_unicode_diacritics:
        t = pc.replace_substring_regex(pc.utf8_normalize(t, "NFD"), r"\p{Mn}+", "")
    # datatrove's final `text.strip()`: combining marks removed at an end can leave a space there.
    return pc.replace_substring_regex(t, f"^{_SPACE_CLASS}+|{_SPACE_CLASS}+$", "")

"""The filter stage's inputs and oracle, shared by `bench.filter_heuristics` and tests/stages/filter: the bundled
corpus (data/sample) as texts, generated edge cases, and datatrove 0.10.1's own filter classes run in process."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import zstandard

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

EDGE_CASES = [
    "", " ", "\n\n\n", "\t \u00a0", "two words", "\r\n".join(["The cat sat on the mat and that was it."] * 8),
    "- item one\n- item two\n- item three\n• item four\n" * 5,
    "The The The the be to of and that with have " * 10,
    "The only stop word here is The, capitalised. " * 12,
    ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
     "dolore magna aliqua. ") * 8,
    "Short line\nlorem ipsum here without end\n" + "This is a complete sentence with the end. " * 10,
    "A line with { a brace and no stop\n" + "This is a complete sentence with the words of the end. " * 10,
    "code { brace } inside a kept line of the text.\n" + "The sentence is long enough to be kept by it. " * 10,
    "Ends with a dot and a trailing space. \n" * 12 + "The end of the text is here and that is all.",
    ("Non\u00a0breaking\u00a0spaces between the words of the text, which is a sentence. " * 10),
    "Line one of the text is here.\u2028Line two of the text is here.\u2029" * 12,
    "İSTANBUL LOREM İPSUM and the JAVASCRIPT of the COOKIE POLICY. " * 10,
    "Wikipedia says so.[1] The sky is blue.[citation needed] The grass is green.[edit] " * 8,
    "Wait... what... really... no... " * 20,
    "# heading\n## another\n### more # and # more # of the hashes in the text\n" * 5,
    "the be to " + "x " * 60,
    ("word " * 1200 + ".\n") + "This is the end of the text and it has the words. " * 6,
    "a" * 1200 + " is a long word. " + "This line has the words of the sentence. " * 10,
    "Hello.  World.\tAnother sentence here!  And one more?  Yes.\nThe end of that is the text here.  " * 6,
    "The quick brown fox jumps over the lazy dog and that is the end. \x1c " * 10,
    "A paragraph that repeats.\n\nA paragraph that repeats.\n\nA paragraph that repeats.\n\nThe one that does not.",
    "\n".join(f"item {i}\n" for i in range(40)) + "\nThe list above has the items of the text in it.",
    "\u212aelvin cookies: this site uses \u212aOOKIES and the cookie policy of the web.\n" * 3
    + "Javascript is required to see the rest of the page, and that is all of it.\n" * 3
    + "This sentence is the one that stays in the text. " * 6,
]
"""Generated edge cases (spec filter.md, acceptance checks): empty, whitespace only, CRLF, two words, bullets,
`The`-only stop words, lorem ipsum after a dropped line, `{` in a dropped line, trailing space after `.`,
NBSP, U+2028, dotted capital I and Kelvin-free casing, citations, ellipses, hashes, long words, double spaces."""


def sample_texts(max_chars: int = 4000, limit_per_source: int | None = None) -> list[str]:
    """Texts of the bundled corpus (data/sample), each cut to max_chars (at a line break when one is near)."""
    out: list[str] = []
    for source in _sources():
        for t in source[:limit_per_source]:
            if len(t) > max_chars:
                cut = t.rfind("\n", 0, max_chars)
                t = t[: cut if cut > max_chars // 2 else max_chars]
            out.append(t)
    return out


def _warc_html() -> list[str]:
    from warcio.archiveiterator import ArchiveIterator

    pages = []
    with open(SAMPLE / "pydocs.warc.gz", "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response":
                pages.append(rec.content_stream().read().decode("utf-8", errors="replace"))
    return pages


def datatrove_filters(fineweb_c4: bool = True) -> list:
    """datatrove's FineWeb heuristic chain with class defaults, C4 with FineWeb's `filter_no_terminal_punct=False`."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return [("gopher_rep", GopherRepetitionFilter()), ("gopher_qual", GopherQualityFilter()),
            ("c4", C4QualityFilter(filter_no_terminal_punct=not fineweb_c4)), ("fineweb_qual", FineWebQualityFilter())]


DATATROVE_REASONS = {"gopher_enough_stop_words": "too_few_stop_words"}
"""datatrove reason -> carding rule where the names differ (datatrove's name says the opposite of the test)."""


DATATROVE_CRASH = "datatrove.ZeroDivisionError"
"""The oracle's answer where datatrove raises instead of deciding (a text without words, word-count rule off)."""


def datatrove_decisions(texts: list[str], filters: list) -> list[tuple[str | None, str]]:
    """(carding-style reason or None, final text) per text, running datatrove's filters in order."""
    from datatrove.data import Document

    out = []
    for i, t in enumerate(texts):
        doc = Document(text=t, id=str(i))
        reason = None
        for name, f in filters:
            try:
                res = f.filter(doc)
            except ZeroDivisionError:  # datatrove divides by the word count even when a text has no words
                reason = DATATROVE_CRASH
                break
            ok, why = (res, None) if not isinstance(res, tuple) else res
            if not ok:
                why = why or "filtered"
                why = DATATROVE_REASONS.get(why, why.removeprefix("gopher_") if name == "gopher_qual" else why)
                reason = f"{name}.{why}"
                break
        out.append((reason, doc.text))
    return out


def bench_documents(n_docs: int, target_chars: int = 800) -> list[str]:
    """n_docs real documents of about target_chars: every sample text cut at line breaks into pieces, in a fixed
    interleaved order (gutenberg, fortunes, code, html), so any prefix mixes the sources."""
    pieces_by_source: list[list[str]] = []
    for source in _sources():
        pieces = []
        for t in source:
            start = 0
            while start < len(t):
                end = start + target_chars
                if end < len(t):
                    cut = t.find("\n", end)
                    end = len(t) if cut < 0 or cut > end + target_chars else cut + 1
                pieces.append(t[start:end])
                start = end
        pieces_by_source.append(pieces)
    out: list[str] = []
    i = 0
    while len(out) < n_docs and any(i < len(p) for p in pieces_by_source):
        out.extend(p[i] for p in pieces_by_source if i < len(p))
        i += 1
    if len(out) < n_docs:  # the sample holds ~22 k pieces; repeat it beyond that
        out = (out * (n_docs // max(1, len(out)) + 1))
    return out[:n_docs]


def synthetic_documents(n_docs: int, seed: int = 0) -> list[str]:
    """n_docs web-like documents of `bench.corpus` (the pipeline benchmark's synthetic corpus: unigram English
    prose, ~3 KB a page, 15 % planted low-quality pages), generated once into its cache folder and read back.
    Nearly every whitespace chunk of a page is new to a fresh filter chain, as in the pipeline's first batches."""
    from bench.corpus import CorpusSpec, ensure_corpus

    corpus = ensure_corpus(CorpusSpec(kind="synthetic", n_docs=n_docs, seed=seed, n_files=1))
    texts: list[str] = []
    for path in corpus.files:
        with open(path, encoding="utf-8") as f:
            texts.extend(json.loads(line)["text"] for line in f)
    return texts[:n_docs]


def _sources() -> list[list[str]]:
    with open(SAMPLE / "gutenberg.jsonl.zst", "rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read()
    gutenberg = [json.loads(line)["text"] for line in raw.decode().splitlines()]
    with gzip.open(SAMPLE / "fortunes.jsonl.gz", "rt", encoding="utf-8") as f:
        fortunes = [json.loads(line)["text"] for line in f]
    with open(SAMPLE / "fortunes-de.jsonl", encoding="utf-8") as f:
        fortunes += [json.loads(line)["text"] for line in f]
    code = pq.read_table(SAMPLE / "code.parquet").column("text").to_pylist()
    html = [p.read_text(encoding="utf-8", errors="replace") for p in sorted((SAMPLE / "html").glob("*.html"))]
    return [gutenberg, fortunes, code, html + _warc_html()]

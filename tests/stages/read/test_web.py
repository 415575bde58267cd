"""HTML and WARC input: real Python-docs pages from the bundled sample, main text extracted by trafilatura."""
from __future__ import annotations

import json

from stages.read import ReadConfig, plan_partitions, read_partition


def test_warc_responses_become_documents_with_url_meta() -> None:
    config = ReadConfig(paths=["data/sample/pydocs.warc.gz"])
    result = read_partition(plan_partitions(config)[0], config)
    assert result.records == 62  # the HTML responses; text/plain and image/png records are skipped
    assert result.documents.num_rows > 50
    meta = json.loads(result.documents.column("meta")[0].as_py())
    assert meta["url"].startswith("https://docs.python.org/3.11/")
    assert all(len(t) > 100 for t in result.documents.column("text").to_pylist()[:10])
    # navigation boilerplate is gone: the sidebar's "Navigation" heading is not in the main text
    assert not any(t.startswith("Navigation") for t in result.documents.column("text").to_pylist())


def test_html_files_are_one_document_each() -> None:
    config = ReadConfig(paths=["data/sample/html"])
    parts = plan_partitions(config)
    results = [read_partition(p, config) for p in parts]
    assert len(parts) == 5
    assert sum(r.records for r in results) == 5

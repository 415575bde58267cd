"""Document stages: read, filter, dedup, rewrite — pure logic over Arrow batches, no Ray.

In:  raw files (jsonl[.gz|.zst], parquet, html, warc).
Out: document batches with the schema of `stages.schema.DOCUMENT_SCHEMA`
     (`id`, `text`, `source`, `meta`) plus a `reject_reason` column (null = keep).
"""

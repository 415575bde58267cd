"""Parquet → document rows, a run of row groups per call (columns read as Arrow, no per-row Python)."""
from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from stages.read.config import ReadConfig
from stages.read.partitions import Partition, check_parquet_schema
from stages.read.records import QuarantineRows, ReadResult, finish_partition


def read_parquet(part: Partition, config: ReadConfig) -> ReadResult:
    """Read row groups [start, end) of one file; a file without a string `text` column raises, naming it."""
    pf = pq.ParquetFile(part.path)
    schema = pf.schema_arrow
    check_parquet_schema(part.path, schema, config.text_field)  # plan_partitions checked it; a file may change
    end = part.end if part.end is not None else pf.num_row_groups
    groups = list(range(part.start, end))
    table = pf.read_row_groups(groups) if groups else schema.empty_table()
    first_row = sum(pf.metadata.row_group(g).num_rows for g in range(part.start))
    if config.sample_docs is not None:
        table = table.slice(0, config.sample_docs)
    n = table.num_rows
    ids = table.column(config.id_field).cast(pa.string()).combine_chunks() if config.id_field in schema.names \
        else pa.nulls(n, pa.string())
    metas = _meta_column(table, n)
    return finish_partition(
        file=part.path, source=part.source, ids=ids, texts=table.column(config.text_field).combine_chunks(),
        metas=metas, offsets=first_row + np.arange(n, dtype=np.int64), lines=None, raw=None,
        quarantine=QuarantineRows(part.path), max_doc_bytes=config.max_doc_bytes,
    )


def _meta_column(table: pa.Table, n: int) -> pa.Array:
    if "meta" not in table.column_names:
        return pa.nulls(n, pa.string())
    col = table.column("meta").combine_chunks()
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col.cast(pa.string())
    if pa.types.is_struct(col.type):
        return pl.from_arrow(col).struct.json_encode().to_arrow().cast(pa.string())
    raise ValueError(f"meta column of type {col.type}: expected a JSON string or a struct")

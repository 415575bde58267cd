"""The one place that merges, splits and counts rejection reasons (STYLE.md §2).

Filters and dedup never drop rows: they set `reject_reason`. A row keeps its *first* reason, so the
report counts each removed document once, under the rule that removed it first.
"""
from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from stages.schema import REASON


def reasons_of(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """The batch's `reject_reason` column, or all-null when no stage has set it yet."""
    if REASON in batch.schema.names:
        col = batch.column(REASON)
        return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return pa.nulls(batch.num_rows, pa.string())


def add_reasons(batch: pa.RecordBatch, new: pa.Array) -> pa.RecordBatch:
    """Set `reject_reason` to `new` where the row has no reason yet; earlier reasons win.

    new: (n,) string, null where this stage keeps the row.
    """
    if len(new) != batch.num_rows:
        raise ValueError(f"reason column has {len(new)} rows, batch has {batch.num_rows}")
    merged = pc.coalesce(reasons_of(batch), new.cast(pa.string()))
    if REASON in batch.schema.names:
        return batch.set_column(batch.schema.get_field_index(REASON), REASON, merged)
    return batch.append_column(pa.field(REASON, pa.string()), merged)


def reason_where(mask: pa.Array, reason: str) -> pa.Array:
    """A reason column: `reason` where mask is true, else null. mask: (n,) bool, nulls count as false."""
    return pc.if_else(pc.fill_null(mask, False), pa.scalar(reason, pa.string()), pa.scalar(None, pa.string()))


def split_kept(batch: pa.RecordBatch | pa.Table) -> tuple[pa.Table, pa.Table]:
    """(kept rows without the reason column, rejected rows with it)."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    reasons = reasons_of(table)
    keep = pc.is_null(reasons)
    kept = table.filter(keep)
    if REASON in kept.schema.names:
        kept = kept.drop_columns([REASON])
    rejected = table.filter(pc.invert(keep))
    if REASON not in rejected.schema.names:
        rejected = rejected.append_column(pa.field(REASON, pa.string()), pa.nulls(0, pa.string()))
    return kept, rejected


def count_reasons(batch: pa.RecordBatch | pa.Table) -> dict[str, int]:
    """{reason: rows} over the rejected rows, sorted by reason so reports are stable."""
    reasons = reasons_of(batch)
    counts = pc.value_counts(pc.drop_null(reasons)).to_pylist()
    return dict(sorted((c["values"], c["counts"]) for c in counts))


def check_conservation(n_in: int, n_kept: int, removed: dict[str, int], quarantined: dict[str, int], where: str) -> None:
    """Raise when in != kept + removed + quarantined: a document was lost or counted twice."""
    total = n_kept + sum(removed.values()) + sum(quarantined.values())
    if total != n_in:
        raise RuntimeError(
            f"{where}: conservation broken: documents_in={n_in} but kept={n_kept} + removed={sum(removed.values())}"
            f" + quarantined={sum(quarantined.values())} = {total}"
        )


def merge_counts(*counts: dict[str, int]) -> dict[str, int]:
    """Sum several {reason: n} maps into one, sorted by reason."""
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return dict(sorted(total.items()))

"""`carding inspect OUT [--plots]`: what the shards hold, as polars tables (and matplotlib PNGs).

Tables: row length histogram, fill (tokens / rows·L and padding), documents per row, buckets, sources (doc_id
prefixes) and the manifest's document counts by reason. One format is read (Parquet through `polars.scan_parquet`
when present, else Arrow IPC), since both hold the same rows. Only the list lengths and doc_ids are loaded, not
the token values. PNGs go to `OUT/inspect/*.png`, beside the manifest.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipelines.manifest import load_manifest
from pipelines.shards import ShardFormat

__all__ = ["inspect_output", "shard_frame"]

_LENGTH_BINS = 10
"""Equal-width bins of the length histogram over [0, L]."""

_SOURCE_PATTERN = r"^([^:/@#]+)"
"""A doc_id's source: the text before its first ':', '/', '@' or '#' (`fortune/work/00340`, `<id>@<offset>`).
WARC record ids (`<urn:uuid:…>`) carry no source and are counted as `warc`; padding segments (doc_id "") are left
out."""


def shard_frame(out_dir: Path, manifest: dict[str, Any] | None = None) -> pl.LazyFrame:
    """Lazy frame over one format's shards in manifest order, with a `shard` column (relative path)."""
    out_dir = Path(out_dir)
    manifest = manifest if manifest is not None else load_manifest(out_dir)
    shards = manifest.get("shards", [])
    formats = {s.get("format") for s in shards}
    fmt = ShardFormat.PARQUET if ShardFormat.PARQUET.value in formats else ShardFormat.ARROW
    frames = []
    for entry in shards:
        if entry.get("format") != fmt.value:
            continue
        path = str(out_dir / entry["path"])
        lf = pl.scan_parquet(path) if fmt == ShardFormat.PARQUET else pl.scan_ipc(path)
        frames.append(lf.with_columns(pl.lit(entry["path"]).alias("shard")))
    if not frames:
        return pl.LazyFrame(schema={"input_ids": pl.List(pl.UInt32), "doc_lens": pl.List(pl.Int32),
                                    "doc_ids": pl.List(pl.String), "bucket": pl.Int16, "shard": pl.String})
    return pl.concat(frames, how="vertical_relaxed")


def _row_tokens(manifest: dict[str, Any], max_len: int) -> int:
    """L for fill: the manifest's row_tokens, else the packer's max_tokens, else the longest row seen."""
    for value in (manifest.get("row_tokens"), (manifest.get("packer") or {}).get("max_tokens")):
        if isinstance(value, int) and value > 0:
            return value
    return max(1, max_len)


def _tables(out_dir: Path, manifest: dict[str, Any]) -> dict[str, pl.DataFrame]:
    rows = (shard_frame(out_dir, manifest)
            .select(pl.col("input_ids").list.len().alias("tokens"),
                    pl.col("doc_lens").list.len().alias("documents"),
                    pl.col("bucket"), pl.col("doc_ids"))
            .collect())
    n_rows = rows.height
    total = int(rows["tokens"].sum() or 0)
    max_len = int(rows["tokens"].max() or 0)
    L = _row_tokens(manifest, max_len)
    width = max(1, -(-L // _LENGTH_BINS))
    lengths = (rows.with_columns(((pl.col("tokens") - 1).clip(0) // width).alias("bin"))
               .group_by("bin").agg(pl.len().alias("rows"), pl.col("tokens").sum().alias("tokens"))
               .sort("bin")
               .with_columns((pl.col("bin") * width + 1).alias("from"), ((pl.col("bin") + 1) * width).alias("to"),
                             (pl.col("rows") / max(1, n_rows)).round(4).alias("share"))
               .select("from", "to", "rows", "tokens", "share"))
    fill = pl.DataFrame({"rows": [n_rows], "tokens": [total], "L": [L],
                         "fill": [round(total / (n_rows * L), 6) if n_rows else 0.0],
                         "padding_tokens": [n_rows * L - total],
                         "mean_tokens": [round(total / n_rows, 2) if n_rows else 0.0], "max_tokens": [max_len]})
    docs = (rows.group_by("documents").agg(pl.len().alias("rows")).sort("documents")
            .with_columns((pl.col("rows") / max(1, n_rows)).round(4).alias("share")))
    buckets = (rows.group_by("bucket").agg(pl.len().alias("rows"), pl.col("tokens").sum().alias("tokens"))
               .sort("bucket").with_columns((pl.col("tokens") / max(1, total)).round(4).alias("token_share")))
    sources = (rows.select(pl.col("doc_ids").explode().alias("doc_id")).drop_nulls()
               .filter(pl.col("doc_id") != "")
               .with_columns(pl.when(pl.col("doc_id").str.starts_with("<urn:")).then(pl.lit("warc"))
                             .otherwise(pl.col("doc_id").str.extract(_SOURCE_PATTERN, 1).fill_null("?"))
                             .alias("source"),
                             pl.col("doc_id").str.replace(r"@\d+$", "").alias("document"))
               .group_by("source").agg(pl.col("document").n_unique().alias("documents"),
                                       pl.len().alias("segments"))
               .sort("documents", "source", descending=[True, False]))
    counts = manifest.get("counts") or {}
    reason_rows = [("in", "documents_in", counts.get("documents_in")),
                   ("kept", "documents_kept", counts.get("documents_kept"))]
    for kind in ("removed", "quarantined"):
        for reason, n in sorted((counts.get(kind) or {}).items()):
            reason_rows.append((kind, reason, n))
    manifest_counts = pl.DataFrame({"kind": [r[0] for r in reason_rows], "name": [r[1] for r in reason_rows],
                                    "documents": [None if r[2] is None else int(r[2]) for r in reason_rows]},
                                   schema={"kind": pl.String, "name": pl.String, "documents": pl.Int64})
    return {"lengths": lengths, "fill": fill, "documents_per_row": docs, "buckets": buckets, "sources": sources,
            "manifest_counts": manifest_counts}


def _plot(tables: dict[str, pl.DataFrame], plot_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    specs = [("lengths", "to", "rows", "row length (tokens, bin upper edge)"),
             ("documents_per_row", "documents", "rows", "documents per row"),
             ("buckets", "bucket", "tokens", "bucket (log2 length, -1 = none)"),
             ("sources", "source", "documents", "source (doc_id prefix)")]
    paths = []
    for name, x, y, xlabel in specs:
        df = tables[name]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar([str(v) for v in df[x].to_list()], df[y].to_list(), color="#4878a8")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(y)
        ax.set_title(name.replace("_", " "))
        ax.tick_params(axis="x", labelrotation=45 if df.height > 8 else 0)
        fig.tight_layout()
        path = plot_dir / f"{name}.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        paths.append(path)
    return paths


def inspect_output(out_dir: Path, plots: bool = False) -> str:
    """Printable summary tables of `out_dir`'s shards; with `plots`, PNGs under `out_dir/inspect/` too.

    A missing manifest raises FileNotFoundError naming it (run `carding validate` for a full check).
    """
    out_dir = Path(out_dir)
    manifest = load_manifest(out_dir)
    tables = _tables(out_dir, manifest)
    parts = [f"carding inspect {out_dir}  (fingerprint {str(manifest.get('fingerprint', '?'))[:16]}…)"]
    with pl.Config(tbl_rows=50, tbl_cols=12, tbl_hide_dataframe_shape=True, tbl_width_chars=120):
        for name, df in tables.items():
            parts.append(f"\n{name.replace('_', ' ')}\n{df}")
    if plots:
        for path in _plot(tables, out_dir / "inspect"):
            parts.append(f"plot: {path}")
    return "\n".join(parts) + "\n"

"""The table every run ends with: documents in, kept, removed by reason, quarantined, tokens, rows, fill, time."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pipelines.runner import RunReport


def summary_table(report: RunReport) -> Table:
    """A rich table of the run's counts and per-stage times (in = kept + removed + quarantined is checked before)."""
    c = report.counts
    title = "carding dry run (nothing written to the destination)" if report.dry_run else f"carding run → {report.out_dir}"
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("what", no_wrap=True)
    table.add_column("documents / value", justify="right")
    table.add_column("share", justify="right")
    n_in = max(1, c["documents_in"])
    table.add_row("documents in", f"{c['documents_in']:,}", "100.0 %")
    table.add_row("kept", f"{c['documents_kept']:,}", f"{100 * c['documents_kept'] / n_in:.1f} %")
    for reason, n in c["removed"].items():
        table.add_row(f"  removed: {reason}", f"{n:,}", f"{100 * n / n_in:.1f} %")
    for reason, n in c["quarantined"].items():
        table.add_row(f"  quarantined: {reason}", f"{n:,}", f"{100 * n / n_in:.1f} %")
    if c.get("rewrites_kept"):
        table.add_row("rewrites kept (new rows)", f"{c['rewrites_kept']:,}", "")
    table.add_section()
    table.add_row("tokens", f"{c['tokens']:,}", "")
    table.add_row("sequences", f"{c['sequences']:,}", "")
    table.add_row("fill rate", f"{100 * c.get('fill', 0.0):.2f} %", "")
    table.add_row("padding tokens", f"{c['padding_tokens']:,}", "")
    table.add_row("truncations", f"{c['truncations']:,}", "")
    table.add_section()
    for stage, seconds in report.stage_seconds.items():
        docs = report.stage_docs.get(stage, 0)
        rate = f"{docs / seconds:,.0f} docs/s" if seconds > 0 and docs else ""
        table.add_row(f"time: {stage}", f"{seconds:.2f} s", rate)
    if report.resumed_partitions:
        table.add_row("resumed partitions", f"{report.resumed_partitions:,}", "")
    table.caption = report.cluster
    return table


def print_summary(report: RunReport, console: Console | None = None) -> None:
    (console or Console()).print(summary_table(report))

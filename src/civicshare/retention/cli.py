"""`civicshare retention`: purge data past its retention period, and see what is due when."""

from __future__ import annotations

from datetime import date, datetime

import typer
from rich.console import Console
from rich.table import Table

from civicshare import db
from civicshare.config import get_settings
from civicshare.retention import service

app = typer.Typer(
    help="Retention: purge data past its retention period, with evidence in the audit log.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


def _today(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD") from None


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@app.command("run")
def run(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what is due; change nothing."),
    today: str | None = typer.Option(None, "--today", help="Run as of this date (YYYY-MM-DD)."),
) -> None:
    """Purge superseded snapshots and rows past their retention period; expire agreements."""
    settings = get_settings()
    engine = db.open_store(settings)
    settings.ensure_dirs()
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            report = service.run(session, settings, today=_today(today), dry_run=dry_run)
            if dry_run:
                session.rollback()
    finally:
        engine.dispose()

    title = "Would be purged" if dry_run else "Purged"
    table = Table(
        "dataset", "version", "rule", "due", "rows", "size", "Parquet SHA-256", title=title
    )
    for purge in report.purges:
        if dry_run or purge.done:
            table.add_row(
                purge.dataset,
                f"v{purge.version}",
                purge.rule,
                purge.due_on.isoformat(),
                f"{purge.row_count:,}",
                _size(purge.bytes),
                (purge.data_sha256 or "(no file)")[:12] + "…",
            )
    if report.purges:
        console.print(table)
    for trim in report.trims:
        target = f"v{trim.to_version}" if trim.to_version else "a new version"
        verb = "would drop" if dry_run else "dropped"
        console.print(
            f"{trim.dataset} v{trim.from_version}: {verb} {_plural(trim.rows_dropped, 'row')} "
            f"with {trim.age_column} before {trim.cutoff.isoformat()}; "
            f"{trim.rows_kept:,} kept in {target}."
        )
    for ref in report.completed:
        verb = "would be finished" if dry_run else "finished"
        console.print(f"{ref}: purge from an earlier run {verb} (its files were still present).")
    for purged in report.resident_details:
        verb = "would be deleted" if dry_run else "deleted"
        console.print(
            f"{purged.reference}: the resident's details {verb} (due {purged.due_on.isoformat()}, "
            f"{purged.bytes:,} bytes sealed, SHA-256 {purged.sealed_sha256[:12]}…)."
        )
    for reference, number, reason in report.expired:
        console.print(f"{reference} version {number} expired: {reason}.")
    for error in report.errors:
        console.print(f"[red]{error}[/]")
    counts = report.counts()
    if dry_run:
        console.print(
            f"Dry run as of {report.today.isoformat()}: {_plural(counts['due'], 'snapshot')} "
            "would be purged. Nothing was changed; agreements were not expired."
        )
    else:
        console.print(
            f"{_plural(counts['purged'], 'snapshot')} purged ({_size(report.bytes_freed)} freed), "
            f"{_plural(counts['expired'], 'agreement')} expired. Evidence is in the audit log "
            "(civicshare audit verify)."
        )
    if report.resident_details and not dry_run:
        n = counts["resident_details"]
        console.print(f"Resident details deleted from {n:,} enquir{'y' if n == 1 else 'ies'}.")
    if report.errors:
        raise typer.Exit(1)


@app.command("status")
def status(
    today: str | None = typer.Option(None, "--today", help="As of this date (YYYY-MM-DD)."),
) -> None:
    """What each retention rule removes next, and when."""
    settings = get_settings()
    engine = db.open_store(settings)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            as_of = _today(today) or date.today()
            pending = service.status(session, settings, as_of)
    finally:
        engine.dispose()
    if not pending:
        console.print("Nothing is held under a retention rule yet (no superseded snapshots).")
        return
    table = Table("dataset", "version", "status", "rule", "due", "what", title="Retention")
    for item in pending:
        due = "now" if item.due_on is None or item.due_on <= as_of else item.due_on.isoformat()
        table.add_row(item.dataset, f"v{item.version}", item.status, item.rule, due, item.what)
    console.print(table)
    due_now = sum(1 for p in pending if p.due_on is None or p.due_on <= as_of)
    console.print(f"{_plural(due_now, 'item')} due now; `civicshare retention run` purges them.")

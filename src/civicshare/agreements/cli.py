"""`civicshare agreements`: agreements at the server's command line."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from civicshare import db
from civicshare.agreements import documents, library, service
from civicshare.agreements.models import Status
from civicshare.config import get_settings

app = typer.Typer(
    help="Information sharing agreements.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _when(day: date | None) -> str:
    return day.isoformat() if day else "-"


@app.command("list")
def list_agreements(
    status: Status | None = typer.Option(None, help="Only agreements in this state."),
) -> None:
    """Every agreement with the state of its current version."""
    with db.store_session(get_settings()) as session:
        versions = service.list_all(session, status)
        table = Table("reference", "version", "title", "status", "parties", "review by",
                      title=_count(versions, "agreement"))  # fmt: skip
        for v in versions:
            table.add_row(
                v.reference,
                str(v.number),
                v.title,
                v.status.label,
                ", ".join(p.partner.key for p in v.parties),
                _when(v.review_date),
            )
        console.print(table)


@app.command("show")
def show(reference: str = typer.Argument(..., help="For example ISA-0001.")) -> None:
    """One agreement: its current version, every version, and its history."""
    with db.store_session(get_settings()) as session:
        agreement = service.get(session, reference)
        v = service.headline(agreement)
        console.print(f"[bold]{v.reference} version {v.number}: {v.title}[/] ({v.status.label})")
        for heading, rows in documents.document_sections(v):
            table = Table(show_header=False, title=heading, title_justify="left")
            for label, text in rows:
                table.add_row(label, text or "-")
            console.print(table)
        versions = Table("version", "status", "change", title="Versions", title_justify="left")
        for other in agreement.versions:
            versions.add_row(str(other.number), other.status.label, other.change_summary or "-")
        console.print(versions)
        history = Table("at", "action", "by", "reason", title="History", title_justify="left")
        for entry in service.history(session, agreement):
            history.add_row(
                entry.at.strftime("%Y-%m-%d %H:%M"),
                entry.action.removeprefix("agreement_"),
                entry.actor_label,
                entry.reason or "-",
            )
        console.print(history)


@app.command("review-due")
def review_due(
    within: int = typer.Option(90, help="Days ahead to look."),
) -> None:
    """Agreements in force whose review date is within DAYS or has passed."""
    today = date.today()
    with db.store_session(get_settings()) as session:
        versions = service.review_due(session, today, within)
        title = f"{_count(versions, 'agreement')} due for review within {within} days"
        table = Table("reference", "title", "status", "review by", "when", title=title)
        for v in versions:
            days = (v.review_date - today).days
            when = f"overdue by {-days} days" if days < 0 else f"in {days} days"
            table.add_row(v.reference, v.title, v.status.label, _when(v.review_date), when)
        console.print(table)


@app.command("expire")
def expire() -> None:
    """Expire agreements whose end date has passed or whose review date was missed."""
    with db.store_session(get_settings()) as session:
        expired = service.expire_due(session, date.today())
        for version, reason in expired:
            console.print(f"{version.reference} version {version.number} expired: {reason}.")
        console.print(f"{len(expired)} agreement{'s' if len(expired) != 1 else ''} expired.")


@app.command("ropa")
def ropa(
    format: Format = typer.Option(Format.csv, "--format", help="csv or xlsx."),
    out: Path = typer.Option(..., "--out", help="File to write."),
    partner: str | None = typer.Option(None, help="Only this partner's record (its key)."),
) -> None:
    """Write the Article 30 record of processing for agreements in force."""
    with db.store_session(get_settings()) as session:
        partner_id = None
        if partner:
            from civicshare.partners import service as partners

            partner_id = partners.require(session, partner, field="partner").id
        rows = service.ropa_rows(session, partner_id)
    if format == Format.csv:
        out.write_text(documents.ropa_csv(rows), encoding="utf-8")
    else:
        out.write_bytes(documents.ropa_xlsx(rows))
    console.print(f"Wrote {len(rows)} rows of the record of processing to {out}.")


@app.command("templates")
def templates() -> None:
    """The library of agreement templates."""
    table = Table("key", "title", "parties", title="Agreement templates")
    for t in library.TEMPLATES.values():
        table.add_row(t.key, t.title, ", ".join(f"{k} ({r})" for k, _, r in t.parties))
    console.print(table)

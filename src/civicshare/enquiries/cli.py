"""`civicshare enquiries`: for admins at the gateway, the partnership's topics and routing table
from CSV and each partner's service level; the reminders to run on a schedule; the monthly
counts. A CSV with one bad row is refused whole, naming the row and field."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from civicshare import db
from civicshare.config import get_settings
from civicshare.enquiries import service, upkeep
from civicshare.notifications import service as notifications

app = typer.Typer(
    help="Members' enquiries: topics, the routing table, service levels and reminders.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


def _csv(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise typer.BadParameter(f"{path} cannot be read ({type(error).__name__})") from None


def _loaded(what: str, loaded: service.Loaded) -> None:
    console.print(
        f"{what}: {loaded.added} added, {loaded.changed} changed, {loaded.unchanged} unchanged."
    )


@app.command("load-topics")
def load_topics(
    path: Path = typer.Argument(..., help="CSV with columns key, name and optionally active."),
) -> None:
    """Add or rename the partnership's topics from a CSV (all rows or none)."""
    text = _csv(path)
    with db.store_session(get_settings()) as session:
        _loaded("Topics", service.load_topics(session, service.read_csv(text, ("key", "name"))))


@app.command("load-routes")
def load_routes(
    path: Path = typer.Argument(
        ..., help="CSV with columns topic, district (or *), partner, team."
    ),
) -> None:
    """Set the routing table from a CSV (all rows or none): topic and district -> partner, team."""
    text = _csv(path)
    columns = ("topic", "district", "partner", "team")
    with db.store_session(get_settings()) as session:
        _loaded("Routes", service.load_routes(session, service.read_csv(text, columns)))


@app.command("topics")
def list_topics() -> None:
    """The partnership's topics and where each is routed."""
    with db.store_session(get_settings()) as session:
        table = Table("topic", "name", "district", "partner", "team", "days")
        for route in service.routes(session):
            days = service.service_days(session, route.partner_id)
            table.add_row(route.topic.key, route.topic.name, route.district, route.partner.key,
                          route.team, str(days))  # fmt: skip
        console.print(table)


@app.command("service-level")
def service_level(
    partner: str = typer.Argument(..., help="The partner's key, e.g. bromsgrove-dc."),
    days: int = typer.Argument(..., help="Days it has to answer a member's enquiry."),
) -> None:
    """Set how many days a partner has to answer a member's enquiry."""
    with db.store_session(get_settings()) as session:
        service.set_service_levels(session, {partner: days})
    console.print(f"{partner} answers members' enquiries within {days} days.")


def _today(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD") from None


@app.command("remind")
def remind(
    today: str | None = typer.Option(None, "--today", help="Run as of this date (YYYY-MM-DD)."),
) -> None:
    """Send the reminders due: before the due date to the team, after it to the team and the
    councillor. Each is sent once, however often this runs (schedule it daily)."""
    settings = get_settings()
    with db.store_session(settings) as session:
        done = upkeep.remind(session, settings, _today(today))
    notifications.wait_for_mail()
    for reference in done.before:
        console.print(f"{reference}: the team was reminded that it is due soon.")
    for reference in done.after:
        console.print(f"{reference}: overdue; the team and the councillor were reminded.")
    console.print(f"{len(done.before)} due-soon and {len(done.after)} overdue reminders sent.")


@app.command("counts")
def counts() -> None:
    """Enquiries by month, topic, partner and time to answer (small numbers suppressed)."""
    with db.store_session(get_settings()) as session:
        table = Table("month", "topic", "partner", "time to answer", "enquiries")
        for row in upkeep.monthly_counts(session):
            table.add_row(row.month, row.topic, row.partner, row.time_to_answer, row.count)
        console.print(table)

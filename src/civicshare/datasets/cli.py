"""`civicshare datasets`: register contracts, push files, list and show datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import select

from civicshare import db
from civicshare.config import get_settings
from civicshare.core.errors import DomainError
from civicshare.dataplane.ingest import problem_lines
from civicshare.datasets import service
from civicshare.datasets.contracts import load_contract

app = typer.Typer(
    help="Datasets: contracts, pushing files, snapshots.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


def _actor(session, email: str, partner_key: str):
    from civicshare.accounts import service as accounts
    from civicshare.partners import service as partners
    from civicshare.partners.models import Membership, Partner

    person = partners.get_person_by_email(session, email)
    if person is None:
        raise DomainError(f"There is no person with the e-mail {email!r}.", field="as_email")
    membership = session.scalars(
        select(Membership)
        .join(Partner)
        .where(Membership.person_id == person.id, Partner.key == partner_key, Membership.active)
    ).first()
    if membership is None:
        raise DomainError(f"{email} has no active membership of {partner_key}.", field="as_email")
    return accounts.actor_for(membership, "cli")


@app.command("register")
def register(contract_file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Register or revise a dataset's contract from a JSON file."""
    contract = load_contract(contract_file)
    settings = get_settings()
    settings.ensure_dirs()
    with db.store_session(settings) as session:
        row = service.register_contract(session, contract)
        console.print(
            f"Contract version {row.version} of {contract.partner}/{contract.name} "
            f"({len(contract.columns)} columns, bad rows: {contract.bad_rows.value})."
        )


@app.command("push")
def push(
    partner: str = typer.Argument(..., help="Key of the partner providing the dataset."),
    dataset: str = typer.Argument(..., help="The dataset's name."),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, XLSX or Parquet."),
    as_email: str | None = typer.Option(
        None, "--as", help="Push as this person (a data provider of PARTNER); default operator."
    ),
    show: int = typer.Option(20, help="How many problems to list."),
) -> None:
    """Validate FILE against the dataset's contract and make it the new snapshot."""
    settings = get_settings()
    settings.ensure_dirs()
    with db.store_session(settings) as session:
        actor = _actor(session, as_email, partner) if as_email else None
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task(f"{partner}/{dataset}", total=None, rows=0)

            def tick(rows: int, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total or None, rows=rows)

            result = service.push(
                session, settings, partner, dataset, file, actor=actor, progress=tick
            )
    _print_report(result.report, show)
    if result.outcome != "accepted":  # the file failed its contract: a failed check
        raise typer.Exit(1)


def _print_report(report: dict, show: int) -> None:
    if report["problem_count"]:
        table = Table("column", "problem", "rows", title="Problems by column")
        for entry in report["problem_counts"]:
            table.add_row(entry["column"], entry["code"], f"{entry['count']:,}")
        console.print(table)
        for line in problem_lines(report, show):
            console.print(f"  {line}")
        if report["problem_count"] > show:
            console.print(f"  ... and {report['problem_count'] - show:,} more")
    if report["outcome"] == "accepted":
        console.print(
            f"[green]Accepted[/]: snapshot v{report['snapshot_version']}, "
            f"{report['rows_accepted']:,} rows, {report['rows_quarantined']:,} quarantined "
            f"(of {report['rows_read']:,} read; file sha256 {report['file_sha256'][:12]}...)."
        )
    else:
        console.print(f"[red]Rejected[/]: {'; '.join(report['reasons'])}. No new version made.")


@app.command("list")
def list_datasets(partner: str | None = typer.Option(None, help="Only this partner.")) -> None:
    """Every dataset, its current version, rows and quarantined rows."""
    settings = get_settings()
    settings.ensure_dirs()
    with db.store_session(settings) as session:
        table = Table("partner", "dataset", "contract", "version", "rows", "quarantined")
        for row in service.list_datasets(session, partner):
            table.add_row(
                row.partner_key,
                row.dataset.name,
                "yes" if row.has_contract else "no",
                f"v{row.current_version}" if row.current_version else "-",
                f"{row.rows:,}",
                f"{row.quarantined:,}",
            )
        console.print(table)


@app.command("show")
def show(partner: str, dataset: str) -> None:
    """A dataset's contract (columns and how each is stored) and its versions."""
    settings = get_settings()
    settings.ensure_dirs()
    with db.store_session(settings) as session:
        found = service.require_dataset(session, partner, dataset)
        contract = service.current_contract(session, found)
        console.print(f"[bold]{found.title}[/] ({partner}/{dataset})")
        if contract is None:
            console.print("No contract registered yet.")
        else:
            table = Table("column", "type", "required", "identifier", "special category")
            for c in contract.columns:
                table.add_row(
                    c.name,
                    c.type.value,
                    "yes" if c.required else "",
                    "" if not c.is_identifier else c.identifier.value,
                    c.special_category_kind or ("yes" if c.special_category else ""),
                )
            console.print(table)
            console.print(f"Bad rows: {contract.bad_rows.value}")
        versions = Table("version", "status", "rows", "quarantined", "key", "created")
        for snap in service.snapshots_of(session, found):
            versions.add_row(
                f"v{snap.version}",
                snap.status.value,
                f"{snap.row_count:,}",
                f"{snap.quarantined_count:,}",
                f"v{snap.pseudonymisation_key_version}",
                snap.created_at.strftime("%Y-%m-%d %H:%M"),
            )
        console.print(versions)

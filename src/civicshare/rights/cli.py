"""`civicshare rights`: the register in plain English (JSON or CSV), residents' objections per
purpose, and the national data opt-out read from the health feed. Run at the gateway's command
line by the operator (recorded as such in the audit log), or with an IG lead's token."""

from __future__ import annotations

import json
from datetime import date

import typer
from rich.console import Console
from rich.table import Table

from civicshare import db
from civicshare.accounts.cli import StoreRun, TokenRun

app = typer.Typer(
    help="Residents' rights: the public register, objections and the national data opt-out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
objections_app = typer.Typer(
    help="Residents' objections to a purpose: their records stop flowing under it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
opt_outs_app = typer.Typer(
    help="The national data opt-out, per person, from the health feed.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(objections_app, name="objections")
app.add_typer(opt_outs_app, name="opt-outs")
console = Console()
SCOPE = "objections:write"


def _run(token: str | None):
    """As the token's IG lead, or as the operator (no token)."""
    return TokenRun(token, SCOPE) if token else StoreRun()


def _token() -> str | None:
    return typer.Option(
        None, "--token", envvar="CIVICSHARE_TOKEN", help=f"An IG lead's token ({SCOPE})."
    )


@app.command("register")
def register(
    csv: bool = typer.Option(False, "--csv", help="One row per data item, as CSV."),
) -> None:
    """The public register in plain English: every agreement in force, as JSON (or CSV)."""
    from civicshare.rights import service

    with StoreRun() as store:
        entries = service.register(store.session, date.today())
    if csv:
        typer.echo(service.register_csv(entries), nl=False)
    else:
        typer.echo(json.dumps(entries, indent=2))


@objections_app.command("add")
def add_objection(
    purpose: str = typer.Option(..., help="The purpose code objected to."),
    reason: str = typer.Option(..., help="What the person objected to, and how they asked."),
    source: str | None = typer.Option(
        None, help="A dataset holding their record: partner/dataset."
    ),
    record_id: str | None = typer.Option(None, "--record-id", help="The record's id there."),
    person_key: str | None = typer.Option(None, "--person-key", help="Or the person index key."),
    token: str | None = _token(),
) -> None:
    """Record a person's objection to one purpose."""
    from civicshare.rights import service

    with _run(token) as run:
        objection = service.record_objection(
            run.session,
            getattr(run, "actor", None),
            purpose=purpose,
            reason=reason,
            source=source,
            record_id=record_id,
            person_key=person_key,
            via="cli",
        )
        number, code = objection.id, objection.purpose
    console.print(
        f"Objection {number} recorded: no share under {code} will deliver this person's records.",
        highlight=False,
    )


@objections_app.command("list")
def list_objections(
    all: bool = typer.Option(False, "--all", help="Withdrawn ones too."),
    token: str | None = _token(),
) -> None:
    """The objections in force."""
    from civicshare.rights import service

    with _run(token) as run:
        rows = [
            (str(o.id), o.purpose, o.person_key, f"{o.recorded_at:%Y-%m-%d}",
             f"{o.withdrawn_at:%Y-%m-%d}" if o.withdrawn_at else "")
            for o in service.objections(run.session, include_withdrawn=all)
        ]  # fmt: skip
    table = Table("id", "purpose", "person key", "recorded", "withdrawn", title="Objections")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@objections_app.command("withdraw")
def withdraw_objection(
    objection_id: int = typer.Argument(..., metavar="ID", min=1, max=db.MAX_ROW_ID),
    reason: str = typer.Option(..., help="Why (the person withdrew it, ...)."),
    token: str | None = _token(),
) -> None:
    """The person withdrew their objection."""
    from civicshare.rights import service

    with _run(token) as run:
        service.withdraw_objection(
            run.session, getattr(run, "actor", None), objection_id, reason=reason, via="cli"
        )
    console.print(f"Objection {objection_id} withdrawn.", highlight=False)


@opt_outs_app.command("refresh")
def refresh_opt_outs(token: str | None = _token()) -> None:
    """Read the national data opt-out from the health feed's current snapshot."""
    from civicshare.rights import service

    with _run(token) as run:
        done = service.refresh_national_opt_outs(
            run.session, run.settings, getattr(run, "actor", None), via="cli"
        )
    console.print(
        f"{done.source} version {done.snapshot_version}: {done.records:,} records read; "
        f"{done.opted_out:,} people have the national data opt-out.",
        highlight=False,
    )

"""`civicshare sar`: subject access, rectification and erasure at the command line, with an API
token of the rights desk (rights:write) or of a recipient confirming its task."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from rich.console import Console

from civicshare.accounts.cli import StoreRun, TokenRun, token_option
from civicshare.rights.access import corrections, matching, service

app = typer.Typer(
    help="Subject access requests, rectification and erasure across partners.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(highlight=False, soft_wrap=True)


def _show(request) -> None:
    data = service.as_dict(request)
    late = " OVERDUE" if data["overdue"] else ""
    console.print(
        f"{data['reference']} ({data['status']}): received {data['received_on']}, due "
        f"{data['due_on']}{late}; {data['counts']['exported']} record(s) to export, "
        f"{data['counts']['uncertain']} uncertain, {data['counts']['excluded']} excluded."
    )
    for record in data["records"]:
        console.print(
            f"  [{record['id']}] {record['match']:<9} {record['source']} {record['record_id']}: "
            f"{record['how']}",
            markup=False,
        )


@app.command("open")
def open_request(
    given_name: str = typer.Option(..., "--given-name"),
    surname: str = typer.Option(..., "--surname"),
    date_of_birth: str = typer.Option("", "--date-of-birth", help="ISO: 1968-08-09"),
    nhs_number: str = typer.Option("", "--nhs-number"),
    postcode: str = typer.Option("", "--postcode"),
    address: str = typer.Option("", "--address"),
    previous_surname: str = typer.Option("", "--previous-surname", help="e.g. before marriage"),
    previous_address: str = typer.Option("", "--previous-address"),
    previous_postcode: str = typer.Option("", "--previous-postcode"),
    received_on: str = typer.Option("", "--received-on", help="ISO date; today by default"),
    token: str = token_option("rights:write"),
) -> None:
    """Open a subject access request: the person's records across every partner are found."""
    person = matching.details(
        given_name=given_name, surname=surname, date_of_birth=date_of_birth,
        nhs_number=nhs_number, postcode=postcode, address=address,
        previous_surname=previous_surname, previous_address=previous_address,
        previous_postcode=previous_postcode,
    )  # fmt: skip
    received = date.fromisoformat(received_on) if received_on else None
    with TokenRun(token, "rights:write") as run:
        _show(service.open_request(run.session, run.settings, run.actor, person, received))


@app.command("show")
def show(reference: str, token: str = token_option("rights:read")) -> None:
    """A request: its deadline and every record found, with how."""
    with TokenRun(token, "rights:read") as run:
        service.require_rights_officer(run.actor, run.settings)
        _show(service.get_request(run.session, reference))


@app.command("decide")
def decide(
    reference: str,
    record: int = typer.Argument(..., help="The record's number in `show`."),
    exclude: bool = typer.Option(False, "--exclude", help="Exclude instead of confirming."),
    token: str = token_option("rights:write"),
) -> None:
    """Confirm an uncertain candidate as the person's (it is exported) or exclude it."""
    with TokenRun(token, "rights:write") as run:
        service.require_rights_officer(run.actor, run.settings)
        found = service.get_request(run.session, reference)
        service.decide_record(run.session, run.actor, found, record, confirm=not exclude)
        _show(found)


@app.command("extend")
def extend(reference: str, reason: str, token: str = token_option("rights:write")) -> None:
    """Extend the deadline by two months, once, with the reason."""
    with TokenRun(token, "rights:write") as run:
        service.require_rights_officer(run.actor, run.settings)
        _show(
            service.extend(
                run.session, run.actor, service.get_request(run.session, reference), reason
            )
        )


@app.command("export")
def export(
    reference: str,
    out: Path = typer.Option(..., "--out", help="Where to write the ZIP."),
    token: str = token_option("rights:write"),
) -> None:
    """Write the export: one CSV per dataset, sharing-history.csv and summary.html."""
    with TokenRun(token, "rights:write") as run:
        made = service.export(
            run.session, run.settings, run.actor, service.get_request(run.session, reference)
        )
    out.write_bytes(made.data)
    console.print(f"Wrote {out}: {made.records} record(s); {', '.join(made.files)}.")


@app.command("correct")
def correct(
    source: str = typer.Option(..., "--source", help="partner/dataset"),
    record_id: str = typer.Option(..., "--record"),
    kind: str = typer.Option(..., "--kind", help="rectify or erase"),
    reason: str = typer.Option(..., "--reason"),
    column: str = typer.Option(None, "--column"),
    value: str = typer.Option(None, "--value"),
    request: str = typer.Option(None, "--request", help="The SAR it arose from"),
    token: str = token_option("rights:write"),
) -> None:
    """Decide a rectification or erasure: a task for every partner that received the record."""
    with TokenRun(token, "rights:write") as run:
        linked = service.get_request(run.session, request) if request else None
        made = corrections.decide_correction(
            run.session, run.settings, run.actor, source=source, record_id=record_id, kind=kind,
            reason=reason, column=column, value=value, access_request=linked,
        )  # fmt: skip
        console.print(json.dumps(corrections.as_dict(made), indent=2), markup=False)


@app.command("confirm-task")
def confirm_task(
    task: int,
    outcome: str = typer.Option(..., "--outcome", help=", ".join(corrections.OUTCOMES)),
    note: str = typer.Option("", "--note"),
    token: str = token_option("rights:write"),
) -> None:
    """As a recipient: confirm you applied the correction (or hold none of it)."""
    with TokenRun(token, "rights:write") as run:
        found = corrections.get_task(run.session, task)
        corrections.confirm_task(run.session, run.actor, found, outcome, note)
        console.print(json.dumps(corrections.as_dict(found.correction), indent=2), markup=False)


@app.command("check")
def check(reference: str, token: str = token_option("rights:write")) -> None:
    """Check the provider's snapshot after the decision carries the correction."""
    with TokenRun(token, "rights:write") as run:
        found = corrections.get_correction(run.session, reference)
        result = corrections.check_snapshot(run.session, run.settings, run.actor, found)
        console.print(f"{found.reference}: {result.value} ({found.status.value}).")


@app.command("remind")
def remind(days: int = typer.Option(corrections.REMIND_AFTER_DAYS, "--days")) -> None:
    """Remind recipients whose tasks have been open this many days (run daily)."""
    with StoreRun() as store:
        count = corrections.remind(store.session, store.settings, after_days=days)
    console.print(f"Reminded {count} open task(s).")

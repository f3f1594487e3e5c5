"""`civicshare benefits`: what sharing produced month by month and the time it saved (a table,
or CSV with --csv), and an admin's change of one time-saved assumption. Run at the gateway's
command line by the operator (recorded as such in the audit log), or with a token."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from civicshare.accounts.cli import StoreRun, TokenRun
from civicshare.rights.benefits import service

app = typer.Typer(
    help="The benefits of sharing for leadership: counts per month and time saved.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(highlight=False, soft_wrap=True)


def _run(token: str | None, scope: str):
    """As the token's membership (which must carry `scope`), or as the operator (no token)."""
    return TokenRun(token, scope) if token else StoreRun()


def _token(scope: str):
    return typer.Option(
        None, "--token", envvar="CIVICSHARE_TOKEN", help=f"An API token with scope {scope}."
    )


@app.command("show")
def show(
    months: int = typer.Option(service.DEFAULT_MONTHS, "--months", help="Months back, 1 to 36."),
    csv: bool = typer.Option(False, "--csv", help="One row per month and figure, as CSV."),
    token: str | None = _token(service.READ_SCOPE),
) -> None:
    """Each month's figures (small numbers suppressed) and the hours saved, newest first."""
    from civicshare import csvsafe

    with _run(token, service.READ_SCOPE) as run:
        service.require_reader(getattr(run, "actor", None))
        made = service.report(run.session, months)
    if csv:
        typer.echo(csvsafe.rows_text(service.csv_rows(made), header=service.CSV_HEADER), nl=False)
        return
    # A row per figure and a column per month (newest first), as the page's tables read.
    table = Table("figure")
    for month in made.months:
        table.add_column(month.month, justify="right")
    for number, figure in enumerate(service.FIGURES):
        table.add_row(figure.label, *(m.figures[number].count for m in made.months))
    table.add_row("Hours saved", *(f"{m.hours_saved:,.1f}" for m in made.months))
    console.print(table)
    console.print(made.suppression)
    console.print(
        "Minutes saved each: "
        + "; ".join(f"{a.name} {a.minutes} per {a.unit}" for a in made.assumptions)
        + "."
    )


@app.command("assume")
def assume(
    name: str = typer.Argument(..., help=f"One of: {', '.join(service.BY_NAME)}."),
    minutes: int = typer.Argument(..., help="Minutes saved each time the figure counts one."),
    basis: str = typer.Option("", "--basis", help="Why this many minutes (kept if not given)."),
    token: str | None = _token(service.WRITE_SCOPE),
) -> None:
    """Change the minutes one figure is assumed to save (audited)."""
    with _run(token, service.WRITE_SCOPE) as run:
        made = service.set_assumption(
            run.session, run.settings, getattr(run, "actor", None), name, minutes, basis
        )
    console.print(f"{made.label}: {made.minutes} minutes per {made.unit}. Why: {made.basis}")

"""`civicshare counciltax`: the single person discount review, acting as an API token's
membership (a reviewer of the district council)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from civicshare.accounts.cli import TokenRun, token_option

app = typer.Typer(
    help="Council tax: the single person discount review of your district.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()
errors_console = Console(stderr=True, highlight=False, soft_wrap=True)
SHOWN = 25  # cases in the table; the CSV holds them all


@app.command("review")
def review(
    district: str = typer.Argument(
        ..., metavar="DISTRICT", help="Your district: bromsgrove, malvern-hills, redditch, ..."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write every case to this CSV file."),
    token: str = token_option("counciltax:review"),
) -> None:
    """Run the single person discount review for your district.

    Reads the council tax accounts, electoral register, tenancies and GP registrations through
    the gateway (each read decided and audited), stores the ranked cases and shows the
    strongest; `--out` writes them all as CSV (evidence summaries only)."""
    from civicshare import csvsafe
    from civicshare.counciltax import service

    with TokenRun(token, service.REVIEW_SCOPE) as run:
        with Progress(
            TextColumn("[bold]review[/] {task.description:<22}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=errors_console,
            transient=True,
        ) as bar:
            sources = service.sources_for(service.district_key(district))
            task = bar.add_task("starting", total=len(sources))

            def step(label: str) -> None:
                bar.update(task, description=label)
                bar.advance(task)

            done = service.review(run.session, run.settings, run.actor, district, progress=step)
        listed = service.cases(run.session, run.actor, done.review.district)
        rows = list(service.csv_rows(listed))
    for withheld in done.withheld:
        errors_console.print(f"Withheld: {withheld['dataset']}: {withheld['reason']}")
    table = Table(
        title=f"Single person discount review, {listed.district}: {done.review.cases_found:,} "
        f"case(s) among {done.review.discounts:,} discount(s)"
    )
    for name, justify in (("rank", "right"), ("account", "left"), ("score", "right"),
                          ("evidence", "left"), ("outcome", "left")):  # fmt: skip
        table.add_column(name, justify=justify)
    for rank, account, _, score, summary, outcome, *_ in rows[:SHOWN]:
        table.add_row(str(rank), account, score, summary, outcome or "-")
    console.print(table)
    if len(rows) > SHOWN:
        console.print(f"... and {len(rows) - SHOWN:,} more (use --out for every case).")
    if out is not None:
        with out.open("w", newline="") as handle:
            csvsafe.write_rows(handle, rows, header=service.CSV_HEADER)
        console.print(f"Written {len(rows):,} case(s) to {out}", highlight=False, soft_wrap=True)


@app.command("outcome")
def outcome(
    case: int = typer.Argument(..., metavar="CASE", help="The case number (from the review)."),
    decided: str = typer.Argument(
        ...,
        metavar="OUTCOME",
        help="under_investigation, discount_removed, discount_still_due or no_further_action",
    ),
    note: str = typer.Option("", "--note", help="Why (no names or identifiers)."),
    token: str = token_option("counciltax:review"),
) -> None:
    """Record the outcome of a review case (audited)."""
    from civicshare.counciltax import service

    with TokenRun(token, service.REVIEW_SCOPE) as run:
        recorded = service.record_outcome(run.session, run.actor, case, decided, note)
        message = f"Case {recorded.id} ({recorded.account_ref}): {recorded.outcome}."
    console.print(message, highlight=False)

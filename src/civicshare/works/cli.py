"""`civicshare works`: co-ordinate planned works from partners' files, on the planner's own
machine (no store, no token: the files are the input, four files the output)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from civicshare.accounts.cli import TokenRun, token_option
from civicshare.works import engine, files, output
from civicshare.works.models import RowError, Work

app = typer.Typer(
    help="Highways and rights-of-way works co-ordination: clashes, Section 58, opportunities.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()
errors_console = Console(stderr=True, highlight=False, soft_wrap=True)
CHECK_FAILED = 1  # docs/running.md "Exit codes": an input file rejected


def _report(name: str, errors: tuple[RowError, ...]) -> None:
    for error in errors:
        errors_console.print(f"{name}: {error}", markup=False)


def _read_all(paths: list[Path]) -> tuple[list[Work], list[str], int]:
    """Every valid work of every file (a reference already used by an earlier file is refused),
    the names of files with no valid rows, and how many rows were refused."""
    works: list[Work] = []
    empty: list[str] = []
    refused = 0
    seen: dict[str, str] = {}
    for path in paths:
        found = files.read_works(path)
        errors = list(found.errors)
        kept = 0
        for work, place in zip(found.works, found.places, strict=True):
            reference = work.work_reference_number
            if reference in seen:
                message = f"{reference} is already used by {seen[reference]}"
                errors.append(RowError(place, "work_reference_number", message))
                continue
            seen[reference] = f"{path.name} {place}"
            works.append(work)
            kept += 1
        _report(path.name, tuple(errors))
        refused += found.rows - kept
        if kept == 0:
            empty.append(path.name)
    return works, empty, refused


@app.command("clashes")
def clashes(
    paths: list[Path] = typer.Argument(
        ..., metavar="FILE", help="Works files: CSV or GeoJSON, Street Manager field names."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for the four output files."),
    tolerance: float = typer.Option(
        engine.DEFAULT_TOLERANCE_M, min=0, help="Works this close (metres) or closer clash."
    ),
    traffic: Path | None = typer.Option(
        None, help="Traffic counts CSV (usrn, count_date, hour, vehicles) for severity."
    ),
    opportunity_days: int = typer.Option(
        30, min=0, help="Excavations on one street this many days apart or fewer: combine."
    ),
    restriction_years: int = typer.Option(
        5, min=0, help="Years a street is protected after major resurfacing (Section 58)."
    ),
) -> None:
    """Find clashes, Section 58 breaches and collaboration opportunities among planned works,
    and write clashes.csv, opportunities.csv, restrictions.csv and clashes.geojson."""
    works, empty, refused = _read_all(paths)
    counts = None
    if traffic is not None:
        counts = files.read_traffic_counts(traffic)
        _report(traffic.name, counts.errors)
        if counts.rows == 0 or len(counts.errors) == counts.rows:
            empty.append(traffic.name)
    if empty:
        errors_console.print(
            f"Nothing written: {', '.join(empty)} has no valid rows.", markup=False
        )
        raise typer.Exit(CHECK_FAILED)
    found = engine.coordinate(
        works,
        tolerance_m=tolerance,
        traffic=counts,
        opportunity_days=opportunity_days,
        restriction_years=restriction_years,
    )
    written = output.write_outputs(found, out)
    _summary(found, refused, written, len(paths))


def _summary(
    found, refused: int, written: dict[str, Path], count: int, source: str = "file(s)"
) -> None:
    table = Table(title=f"{len(found.works):,} works read from {count} {source}")
    table.add_column("found")
    table.add_column("how many", justify="right")
    for severity, count in found.clashes_by_severity().items():
        table.add_row(f"clashes, {severity}", f"{count:,}")
    table.add_row("collaboration opportunities", f"{len(found.opportunities):,}")
    table.add_row("Section 58 restriction breaches", f"{len(found.restrictions):,}")
    console.print(table)
    if refused:
        console.print(f"{refused:,} row(s) refused (listed above) and left out.")
    folder = next(iter(written.values())).parent
    console.print(f"Written to {folder}: {', '.join(written)}", highlight=False, soft_wrap=True)


# -- through the gateway: acting as an API token's membership ----------------------------------


@app.command("publish")
def publish(
    path: Path = typer.Argument(..., metavar="FILE", help="Your programme: CSV or GeoJSON."),
    dataset: str | None = typer.Option(None, help="Your works dataset, if you have several."),
    token: str = token_option("works:write"),
) -> None:
    """Publish your organisation's works programme through the gateway.

    It replaces the last one. Rows in error are listed by row and field and left out; new
    clashes are notified to both promoters."""
    from civicshare.notifications import service as notifications
    from civicshare.works import service

    with TokenRun(token, "works:write") as run:
        published = service.publish(
            run.session, run.settings, run.actor, path, dataset=dataset, via="cli"
        )
    _report(path.name, tuple(published.errors))
    notifications.wait_for_mail()
    console.print(
        f"Published {published.accepted:,} works as version {published.snapshot_version} of "
        f"{published.dataset}; {len(published.errors):,} row(s) left out; "
        f"{len(published.new_clashes):,} new clash(es) notified to both promoters.",
        highlight=False,
        soft_wrap=True,
    )


@app.command("programme")
def programme(
    out: Path = typer.Option(..., "--out", help="Folder for the four output files."),
    token: str = token_option("works:read"),
) -> None:
    """Co-ordinate the works programme your agreements let you see.

    Every promoter's works are read through the gateway (each read audited); writes the same
    four files as `works clashes`."""
    from civicshare.works import service

    with TokenRun(token, "works:read") as run:
        read = service.programme(run.session, run.settings, run.actor, via="cli")
    for withheld in read.withheld:
        errors_console.print(
            f"Withheld: {withheld.dataset} from {withheld.provider}: {withheld.reason}",
            markup=False,
        )
    written = output.write_outputs(read.coordination, out)
    _summary(read.coordination, len(read.unreadable), written, len(read.sources), "datasets")

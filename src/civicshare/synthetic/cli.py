"""``civicshare synth``: write a synthetic county (registered on the root Typer app)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .mess import KINDS, MessRates


def synth(
    people: Annotated[
        int, typer.Option("--people", "-n", help="Number of residents.", min=50)
    ] = 10000,
    seed: Annotated[
        int, typer.Option("--seed", "-s", help="Random seed (same seed, same bytes).")
    ] = 1,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output directory.", file_okay=False)
    ] = Path("var/synthetic"),
    rate: Annotated[
        list[str] | None,
        typer.Option(
            "--rate",
            help="Override a mess rate, e.g. --rate typo=0.05 (repeatable). Kinds: "
            + ", ".join(KINDS),
        ),
    ] = None,
    no_mess: Annotated[
        bool, typer.Option("--no-mess", help="Set every mess rate to 0 (clean data).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate a synthetic county: geography, residents, every partner's datasets and truth."""
    from .service import generate

    console = Console()
    try:
        rates = MessRates.parse(rate)
        if no_mess:
            rates = MessRates(**{k: 0.0 for k in KINDS})
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rate") from exc
    start = time.perf_counter()
    manifest = generate(people, seed, out, rates=rates, progress=not quiet)
    seconds = time.perf_counter() - start
    table = Table(title=f"Synthetic county: {people:,} people, seed {seed}", show_lines=False)
    table.add_column("partner")
    table.add_column("dataset")
    table.add_column("format")
    table.add_column("rows", justify="right")
    total = 0
    for d in manifest["datasets"]:
        table.add_row(d["partner"], d["name"], d["format"], f"{d['rows']:,}")
        total += d["rows"]
    console.print(table)
    console.print(
        f"[bold]{len(manifest['datasets'])}[/] datasets, [bold]{total:,}[/] rows, "
        f"{manifest['geography']['counts']['properties']:,} properties, written to "
        f"[bold]{out}[/] in {seconds:.1f} s"
    )

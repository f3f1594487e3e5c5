"""``civicshare link``: record linkage for analysts (file mode)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Record linkage: find the records that are the same person.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()
errors = Console(stderr=True)


@app.command("files")
def files(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="CSV, Parquet or XLSX files. One file: deduplicate; several: link."),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Directory for pairs.csv, clusters.csv, report.html."),
    ],
    columns: Annotated[
        Path | None,
        typer.Option(
            "--columns",
            "-c",
            help="Column map (YAML): which column holds each field. Without it, columns must "
            "already be named record_id, given_name, surname, date_of_birth, ...",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            "-t",
            help="Match probability at which a pair is the same person (default: the model's "
            "recommended threshold).",
        ),
    ] = None,
    within_files: Annotated[
        bool,
        typer.Option(
            "--within-files",
            help="With several files, also find duplicates inside each file.",
        ),
    ] = False,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="Ground truth (columns source, record_id, entity_id) to measure precision and "
            "recall in the report. For evaluations only.",
        ),
    ] = None,
    allow_duplicates: Annotated[
        bool,
        typer.Option(
            "--allow-duplicates",
            help="Linking several files, a file may hold one person more than once. By "
            "default each holds a person at most once: each record links to at most one "
            "record of each other file (the strongest assignment).",
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the random sampling in training.")] = 1,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            help="Memory the linkage may hold before it spills to disk, e.g. 4GB (default "
            "1536MB). Spilling is slower, never wrong.",
        ),
    ] = None,
) -> None:
    """Link or deduplicate files; write pairs.csv, clusters.csv and report.html to --out."""
    from civicshare.linkage.columns import load_column_map
    from civicshare.linkage.files import link_files, read_truth

    started = time.perf_counter()
    column_map = load_column_map(columns) if columns else None
    truth_frame = read_truth(truth) if truth else None
    with console.status("Training the model and scoring pairs ..."):
        result = link_files(
            inputs,
            out,
            column_map=column_map,
            threshold=threshold,
            within_files=within_files,
            truth=truth_frame,
            seed=seed,
            memory_limit=memory_limit,
            allow_duplicates=allow_duplicates,
        )
    for warning in result.warnings:
        errors.print(f"[yellow]Warning:[/] {warning}", highlight=False, soft_wrap=True)
    report = result.report
    estimated = report["estimated"]
    console.print(
        f"{result.records:,} records from {len(inputs)} file(s); threshold "
        f"{result.threshold:.4f} (recommended {result.recommended_threshold:.4f})",
        highlight=False,
    )
    console.print(
        f"{result.pairs:,} pairs, {result.clusters:,} clusters; estimated precision "
        f"{estimated['precision'] or 0:.4f}, recall {estimated['recall'] or 0:.4f}",
        highlight=False,
    )
    if "measured" in report:
        m = report["measured"]
        console.print(
            f"measured against truth: precision {m['precision'] or 0:.4f}, recall "
            f"{m['recall'] or 0:.4f}, F1 {m['f1'] or 0:.4f}",
            highlight=False,
        )
    for name, rows in report["bias"].items():
        for row in rows:
            if row["flagged"]:
                console.print(
                    f"[yellow]Check:[/] {name} {row['group']}: recall more than 2 points "
                    "below overall (see report.html)",
                    highlight=False,
                    soft_wrap=True,
                )
    console.print(
        f"Wrote {result.out_dir}/pairs.csv, clusters.csv, report.html, model.json "
        f"in {time.perf_counter() - started:.1f} s",
        highlight=False,
    )

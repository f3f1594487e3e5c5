"""`civicshare index`: build and inspect the person index; list the clerical review queue.

Run at the server by an operator (the actor is the gateway itself): every read of a snapshot
is audited as `person_index_read` under the person-index purpose."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from civicshare import db
from civicshare.config import get_settings
from civicshare.linkage import service

app = typer.Typer(
    help="Person index: link every dataset that holds people; stable pseudonymous person keys; "
    "clerical review of uncertain pairs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


def _sessions():
    settings = get_settings()
    engine = db.open_store(settings)
    settings.ensure_dirs()
    return settings, engine, db.make_sessionmaker(engine)


@app.command("run")
def run(
    retrain: bool = typer.Option(
        False, "--retrain", help="Train the model again on the whole index (and relink it)."
    ),
    review_from: float = typer.Option(
        service.DEFAULT_REVIEW_LOWER,
        "--review-from",
        min=0.0,
        max=1.0,
        help="Pairs from this match probability up to the model's threshold go to review.",
    ),
) -> None:
    """Link every person-holding current snapshot not yet in the index (incrementally)."""
    settings, engine, sessions = _sessions()
    started = time.monotonic()
    try:
        with (
            console.status("Linking...") as spinner,
            db.session_scope(sessions) as session,
        ):
            outcome = service.run(
                session,
                settings,
                retrain=retrain,
                review_lower=review_from,
                progress=lambda m: spinner.update(m + "..."),
            )
    finally:
        engine.dispose()
    if outcome.run is None:
        console.print(outcome.message)
        return
    run_ = outcome.run
    for ref in outcome.sources:
        console.print(f"  {'attached' if ref in outcome.attached else 'linked'} {ref}")
    console.print(outcome.message)
    model = "trained a new model" if run_.trained else f"model of run {run_.model_run_id}"
    console.print(
        f"Run {run_.id}: {model}, "
        f"threshold {run_.threshold:.3f} (review from {run_.review_lower:.2f}); "
        f"{run_.pairs:,} pairs scored, {run_.links:,} links, {run_.merges:,} keys merged; "
        f"{time.monotonic() - started:.1f} s."
    )
    if run_.error:
        console.print(f"[yellow]{run_.error}[/]")


@app.command("status")
def status() -> None:
    """People and records in the index, per dataset; snapshots waiting; the review queue."""
    settings, engine, sessions = _sessions()
    try:
        with db.session_scope(sessions) as session:
            state = service.status(session, settings)
            table = Table("dataset", "version", "records", "how", "run", title="Person index")
            for source in state.sources:
                table.add_row(
                    source.source,
                    f"v{source.snapshot_version}",
                    f"{source.record_count:,}",
                    "attached" if source.source in state.attached else "linked",
                    str(source.run_id),
                )
            last = state.last_run
            last_line = (
                f"Last run {last.id} ({last.status.value}) at {last.started_at:%Y-%m-%d %H:%M} UTC"
                if last
                else "No run yet"
            )
    finally:
        engine.dispose()
    if state.sources:
        console.print(table)
    console.print(
        f"{state.persons:,} people from {state.records:,} records; "
        f"{state.open_reviews:,} pairs waiting for review. {last_line}."
    )
    if state.model_run:
        console.print(f"Model trained in run {state.model_run}.")
    if state.pending:
        console.print("Not yet linked (civicshare index run): " + ", ".join(state.pending))


@app.command("review")
def review(
    status_: str = typer.Option("open", "--status", help="open, accepted, rejected, superseded"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
) -> None:
    """List the clerical review queue (decide in the browser: /index/review)."""
    _settings, engine, sessions = _sessions()
    try:
        with db.session_scope(sessions) as session:
            items = service.queue(session, status_, limit)
            table = Table(
                "item", "probability", "weight", "left record", "right record", title="Review"
            )
            for item in items:
                table.add_row(
                    str(item.id),
                    f"{item.match_probability:.3f}",
                    f"{item.match_weight:+.2f}",
                    f"{item.source_l} {item.record_id_l}",
                    f"{item.source_r} {item.record_id_r}",
                )
    finally:
        engine.dispose()
    if not items:
        console.print(f"No {status_} review items.")
        return
    console.print(table)
    console.print(
        f"{len(items):,} {status_} items shown. Decide them in the browser: /index/review"
    )

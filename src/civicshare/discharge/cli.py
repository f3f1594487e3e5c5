"""`civicshare discharge`: train the models, print their report, the discharge team's list
and the weekly demand forecast."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from civicshare import csvsafe, db
from civicshare.accounts.cli import TokenRun, token_option
from civicshare.config import get_settings
from civicshare.discharge import modelling, service
from civicshare.discharge.features import SCOPE

app = typer.Typer(
    help="Post-hospital care planning: models, the discharge team's list, demand forecast.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()
TRAIN_STEPS = 6  # reading, three models, the pathway model, saving


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@app.command("train")
def train(seed: int = typer.Option(0, help="Random seed of the gradient boosting.")) -> None:
    """Read the sources through the gateway, train and compare the three models on later
    spells, and save the chosen one (a new version)."""
    settings = get_settings()
    engine = db.open_store(settings)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session, _progress() as bar:
            task = bar.add_task("starting", total=TRAIN_STEPS)

            def step(label: str) -> None:
                bar.update(task, description=label, advance=1)

            trained = service.train(session, settings, via="cli", progress=step, seed=seed)
            row = trained.row
            console.print(
                f"Trained discharge model version {row.version} under {row.agreement_ref}: "
                f"chose {modelling.MODEL_TITLES[row.chosen].lower()} (test AUROC "
                f"{row.report['models'][row.chosen]['auroc']:.3f}); saved to {row.file}.",
                highlight=False,
            )
            _print_report(row.report)
    finally:
        engine.dispose()


def _print_report(report: dict) -> None:
    table = Table(title="Test period (later spells, unseen in training)")
    for column in ("Model", "AUROC (95% CI)", "AUPRC", "Brier", "Slope", "Intercept"):
        table.add_column(column)
    for kind in modelling.MODELS:
        f = report["models"][kind]
        table.add_row(
            f["title"] + (" (chosen)" if kind == report["chosen"] else ""),
            f"{f['auroc']:.3f} ({f['auroc_ci'][0]:.3f}-{f['auroc_ci'][1]:.3f})",
            f"{f['auprc']:.3f}",
            f"{f['brier']:.4f}",
            f"{f['calibration_slope']:.2f}",
            f"{f['calibration_intercept']:.2f}",
        )
    console.print(table)
    compared = report.get("against_baselines")  # reports before version 5 of the county
    if compared:
        console.print(modelling.describe_comparison(compared, report["chosen"]), highlight=False)
    chosen = report["models"][report["chosen"]]
    for group in chosen["subgroups"]:
        if group["flags"]:
            console.print(
                f"Flagged: {group['by']} {group['group']}: {'; '.join(group['flags'])}",
                highlight=False,
            )


@app.command("report")
def report(
    version: int | None = typer.Option(None, help="Model version; the latest by default."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Print a trained model's report: AUROC with its interval, AUPRC, Brier score,
    calibration, and subgroups flagged."""
    settings = get_settings()
    engine = db.open_store(settings)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            row = service.get(session, version)
            if as_json:
                print(json.dumps({"version": row.version, "agreement": row.agreement_ref,
                                  "snapshots": row.snapshots, "periods": row.periods,
                                  **row.report}))  # fmt: skip
                return
            console.print(
                f"Discharge model version {row.version}, trained {row.created_at:%Y-%m-%d} "
                f"under {row.agreement_ref} version {row.agreement_version} on data as of "
                f"{row.as_of}.",
                highlight=False,
            )
            _print_report(row.report)
    finally:
        engine.dispose()


@app.command("list")
def inpatients(
    token: str = token_option(SCOPE),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write the list to this CSV file."),
) -> None:
    """The discharge team's list: current inpatients with risk band, main factors, likely
    pathway and services to alert (as the token's membership; audited)."""
    with TokenRun(token, SCOPE) as run, _progress() as bar:
        bar.add_task("reading through the gateway and scoring", total=None)
        result = service.inpatient_list(run.session, run.settings, run.actor, via="cli")
    if csv_out is not None:
        with open(csv_out, "w", newline="", encoding="utf-8") as handle:
            csvsafe.write_rows(handle, service.list_rows(result), header=service.LIST_COLUMNS)
        console.print(f"Wrote {len(result['inpatients'])} inpatients to {csv_out}.")
        return
    table = Table(title=f"Current inpatients as of {result['as_of']} "
                  f"(model version {result['model_version']})")  # fmt: skip
    for column in ("Spell", "Days", "Age", "District", "Risk", "Likely pathway", "Factors",
                   "Alert"):  # fmt: skip
        table.add_column(column)
    for entry in result["inpatients"]:
        table.add_row(
            entry["spell_id"],
            str(entry["days_in_hospital"]),
            entry["age_band"],
            entry["district"],
            f"{entry['risk_band']} ({entry['risk']:.0%})",
            f"{entry['pathway']}: {entry['pathway_title']}",
            "; ".join(entry["factors"]),
            "; ".join(entry["services"]),
        )
    console.print(table)


@app.command("forecast")
def forecast(
    as_json: bool = typer.Option(False, "--json", help="Print the forecast as JSON."),
) -> None:
    """Weekly discharges by district and pathway for the next six weeks, with the error on
    six held-out weeks (small numbers suppressed)."""
    settings = get_settings()
    engine = db.open_store(settings)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session, _progress() as bar:
            bar.add_task("reading through the gateway and forecasting", total=None)
            result = service.demand_forecast(session, settings, via="cli")
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(result.to_json()))
        return
    held = result.held_out
    console.print(
        f"Held-out weeks: MAE {held['mean']['mae']:.2f} per district and pathway, MAPE "
        f"{_pct(held['mean']['mape'])} of weekly discharges needing support (last week "
        f"repeated: MAE {held['naive']['mae']:.2f}, MAPE {_pct(held['naive']['mape'])}). "
        f"From {held['mean_rolling']['origins']:.0f} origins in turn: MAE "
        f"{held['mean_rolling']['mae']:.2f}, MAPE {_pct(held['mean_rolling']['mape'])} (last week "
        f"repeated: MAE {held['naive_rolling']['mae']:.2f}, MAPE "
        f"{_pct(held['naive_rolling']['mape'])}).",
        highlight=False,
    )
    table = Table(title=f"Next six weeks from {result.as_of} (1-7 shown as *, others to 5)")
    for column in ("District", "Pathway", "Per week", "Six weeks"):
        table.add_column(column)
    for row in result.rows:
        table.add_row(row["district"], f"{row['pathway']}: {row['title']}", row["per_week"],
                      row["six_weeks"])  # fmt: skip
    console.print(table)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"

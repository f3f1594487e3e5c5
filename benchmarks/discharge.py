"""Benchmark: post-hospital care planning on the synthetic county, against the best achievable.

    python benchmarks/discharge.py                    # 5,000 residents
    python benchmarks/discharge.py --people 40000     # the run in docs/benchmarks.md

Setup: the demo partnership on a synthetic county of `--people` residents (every partner dataset
pushed into snapshots, the person index built, the discharge-care-planning agreement active).
Then `civicshare discharge train` as the service does it: five reads through decide -> execute,
the feature table, three models trained on the earliest 60% of observed spells, calibrated and
chosen on the next 20%, judged on the last 20%; and the demand forecast.

Side by side on the same test spells and the same outcome (a new care package within 30 days
of discharge, as the linked social care records show it):
- the chosen model and the best transparent baseline (points score or logistic regression),
  with a paired bootstrap of the AUROC gain (beats_baselines: its 95% interval above zero);
- the oracle: the synthetic county's true probability of the outcome for each spell
  (truth/discharge_outcomes.parquet), the best any model could rank;
- the forecast's mean of recent weeks against the last week repeated, on six held-out weeks.

The last line of output is one JSON object: auroc, oracle_auroc, auroc_ratio,
calibration_slope, baseline_auroc, chosen_model, beats_baselines, forecast_mape (and more).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from rich.console import Console  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from civicshare import db, demo  # noqa: E402
from civicshare.config import Settings  # noqa: E402
from civicshare.discharge import modelling, service  # noqa: E402


def true_probabilities(settings: Settings, spell_ids) -> np.ndarray:
    """The county's true P(new care package within 30 days) of each spell record (a duplicate
    record of a spell gets its spell's)."""
    county = demo.county_dir(settings)
    records = pq.read_table(county / "truth" / "acute-admissions.parquet").to_pandas()
    outcomes = pq.read_table(county / "truth" / "discharge_outcomes.parquet").to_pandas()
    spell_of = dict(zip(records["record_id"], records["spell_index"], strict=True))
    p = outcomes["p_new_care_package_30d"].to_numpy()
    return np.array([p[spell_of[s]] for s in spell_ids])


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=5_000, help="Residents of the county.")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="Build the store here and keep it.")
    args = parser.parse_args()
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'store.db'}")
        started = time.perf_counter()
        demo.prepare(
            settings, people=args.people, seed=args.seed, console=Console(file=io.StringIO())
        )
        setup_s = time.perf_counter() - started
        engine = db.make_engine(settings.effective_database_url)
        try:
            with db.session_scope(db.make_sessionmaker(engine)) as session:
                started = time.perf_counter()
                trained = service.train(session, settings, via="benchmark", seed=args.seed)
                train_s = time.perf_counter() - started
                started = time.perf_counter()
                predicted = service.demand_forecast(session, settings, via="benchmark")
                forecast_s = time.perf_counter() - started
        finally:
            engine.dispose()
        test = trained.test
        y = test["new_package"].to_numpy(dtype=int)
        oracle_p = true_probabilities(settings, test["spell_id"])
        oracle = float(roc_auc_score(y, oracle_p))
        oracle_line = modelling.calibration_line(y, oracle_p)
        report = trained.row.report
        chosen = report["chosen"]
        figures = report["models"]
        compared = report["against_baselines"]
        for kind in modelling.MODELS:
            f = figures[kind]
            console.print(
                f"{modelling.MODEL_TITLES[kind]:40} AUROC {f['auroc']:.3f} "
                f"({f['auroc_ci'][0]:.3f}-{f['auroc_ci'][1]:.3f})  AUPRC {f['auprc']:.3f}  "
                f"Brier {f['brier']:.4f}  slope {f['calibration_slope']:.2f}  intercept "
                f"{f['calibration_intercept']:.2f}" + ("  <- chosen" if kind == chosen else "")
            )
        console.print(
            f"{'Oracle (true probabilities)':40} AUROC {oracle:.3f}  slope {oracle_line[0]:.2f}"
        )
        console.print(modelling.describe_comparison(compared, chosen), highlight=False)
        held_out = predicted.held_out
        console.print(
            f"Forecast on {len(predicted.weeks)} held-out weeks: "
            f"MAPE {held_out['mean']['mape']:.3f}"
            f" (last week repeated: {held_out['naive']['mape']:.3f}); MAE per district and "
            f"pathway {held_out['mean']['mae']:.2f} ({held_out['naive']['mae']:.2f})"
        )
        rolling, naive = held_out["mean_rolling"], held_out["naive_rolling"]
        console.print(
            f"From {rolling['origins']:.0f} rolling origins: MAPE {rolling['mape']:.3f} (last "
            f"week repeated: {naive['mape']:.3f}); MAE {rolling['mae']:.2f} ({naive['mae']:.2f})"
        )
        flagged = [f"{g['by']}={g['group']}" for g in figures[chosen]["subgroups"] if g["flags"]]
        result = {
            "benchmark": "discharge",
            "people": args.people,
            "seed": args.seed,
            "spells": report["spells"],
            "observed_spells": report["observed_spells"],
            "opted_out_spells": report["opted_out_spells"],
            "test_spells": int(len(y)),
            "test_outcomes": int(y.sum()),
            "chosen_model": chosen,
            "auroc": figures[chosen]["auroc"],
            "auroc_ci": figures[chosen]["auroc_ci"],
            "oracle_auroc": round(oracle, 4),
            "auroc_ratio": round(figures[chosen]["auroc"] / oracle, 4),
            "calibration_slope": figures[chosen]["calibration_slope"],
            "calibration_intercept": figures[chosen]["calibration_intercept"],
            "oracle_calibration_slope": round(oracle_line[0], 3),
            "baseline": compared["baseline"],
            "baseline_auroc": compared["baseline_auroc"],
            "auroc_gain": compared["gain"],
            "auroc_gain_se": compared["gain_se"],
            "auroc_gain_ci": compared["gain_ci"],
            "beats_baselines": compared["beats_baselines"],
            "beats_test": "paired bootstrap, 95% interval of the gain above 0",
            "models": {
                k: {m: figures[k][m] for m in ("auroc", "auprc", "brier", "calibration_slope")}
                for k in modelling.MODELS
            },
            "subgroups_flagged": flagged,
            "forecast_mape": _rounded(held_out["mean"]["mape"]),
            "forecast_baseline_mape": _rounded(held_out["naive"]["mape"]),
            "forecast_mae": round(held_out["mean"]["mae"], 4),
            "forecast_baseline_mae": round(held_out["naive"]["mae"], 4),
            "forecast_rolling_origins": int(held_out["mean_rolling"]["origins"]),
            "forecast_rolling_mape": _rounded(held_out["mean_rolling"]["mape"]),
            "forecast_rolling_baseline_mape": _rounded(held_out["naive_rolling"]["mape"]),
            "forecast_rolling_mae": _rounded(held_out["mean_rolling"]["mae"]),
            "forecast_rolling_baseline_mae": _rounded(held_out["naive_rolling"]["mae"]),
            "setup_s": round(setup_s, 1),
            "train_s": round(train_s, 2),
            "forecast_s": round(forecast_s, 2),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

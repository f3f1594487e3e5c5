"""Weekly demand by district and discharge pathway: the next six weeks, and how far off the same
method was on the six weeks it did not see.

Counts are of discharges on each pathway (1 home with new support, 2 a community bed, 3 a care
home placement; 0, home with no new support, for completeness) per district per week, weeks
ending on the data's own date. The forecast of each series is the mean of its last
`WINDOW_WEEKS` weeks; the baseline it is compared with repeats the last week seen (naive).

Both are judged on the last six weeks, held out (`mean`, `naive`), and, because six weeks of
near-Poisson counts make that one comparison mostly luck, also from `ROLLING_ORIGINS` forecast
origins in turn (`mean_rolling`, `naive_rolling`: from each origin, the next six weeks forecast
from the weeks before it only; the errors averaged over the origins).
Only these aggregates leave the service, each with small-number suppression: 1-7 shown as
`*`, others rounded to the nearest 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from civicshare.linkage.report import suppress

HORIZON_WEEKS = 6
HELD_OUT_WEEKS = 6
WINDOW_WEEKS = 26  # half a year: weekly counts are near Poisson noise around a steady level
ROLLING_ORIGINS = 13  # a quarter of a year of origins, each judged on the six weeks after it
WARM_UP_WEEKS = 4  # the first weeks of the data miss stays that began before it: not used
PATHWAYS = (0, 1, 2, 3)
PATHWAY_TITLES = {
    0: "Home, no new support",
    1: "Home with new support",
    2: "Community bed",
    3: "Care home placement",
}


def weekly_counts(table: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Discharges per week (ending on `as_of`), district and pathway: a week x (district,
    pathway) frame of counts, oldest week first, warm-up weeks dropped."""
    left = table[table["discharged"].notna() & table["pathway"].notna()].copy()
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    left["week"] = ((end - left["discharged"]).dt.days // 7).astype(int)  # 0: the last week
    weeks = int(left["week"].max()) + 1 if len(left) else 0
    counts = left.groupby(["week", "district", "pathway"]).size().unstack(["district", "pathway"])
    counts = counts.reindex(range(weeks)).fillna(0).sort_index(ascending=False)
    counts.index = [as_of - timedelta(days=7 * w) for w in counts.index]  # week ending
    return counts.iloc[WARM_UP_WEEKS:]


def _mean_forecast(history: pd.DataFrame) -> pd.Series:
    return history.iloc[-WINDOW_WEEKS:].mean()


def _naive_forecast(history: pd.DataFrame) -> pd.Series:
    return history.iloc[-1]


def _errors(actual: pd.DataFrame, predicted: pd.Series) -> dict[str, float | None]:
    cell = (actual - predicted).abs()
    support = [c for c in actual.columns if c[1] != 0]
    total = actual[support].sum(axis=1)
    total_predicted = float(predicted[support].sum())
    nonzero = total > 0
    mape = (
        float(((total[nonzero] - total_predicted).abs() / total[nonzero]).mean())
        if nonzero.any()
        else None
    )
    return {"mae": float(cell.to_numpy().mean()), "mape": mape}


@dataclass(frozen=True)
class Forecast:
    as_of: date
    weeks: list[date]  # the forecast weeks (week ending)
    rows: list[dict]  # district, pathway, title, per week: the suppressed count
    history: list[dict]  # week ending, county total needing support (suppressed)
    held_out: dict[str, dict[str, float | None]]  # method -> mae, mape
    totals: list[float]  # county weekly forecast of discharges needing support

    def to_json(self) -> dict:
        return {
            "as_of": str(self.as_of),
            "weeks": [str(w) for w in self.weeks],
            "rows": self.rows,
            "history": self.history,
            "held_out": self.held_out,
            "method": f"mean of the last {WINDOW_WEEKS} weeks",
            "baseline": "the last week repeated",
            "rolling_origins": ROLLING_ORIGINS,
            "suppression": "1-7 shown as *, others rounded to the nearest 5",
        }


def held_out_errors(counts: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Errors of the mean and the naive forecast on the last six weeks, and averaged over
    rolling origins (as many of `ROLLING_ORIGINS` as leave two weeks to learn from)."""
    out = {}
    end = len(counts) - HELD_OUT_WEEKS
    origins = range(max(end - ROLLING_ORIGINS + 1, 2), end + 1)
    for name, method in (("mean", _mean_forecast), ("naive", _naive_forecast)):
        out[name] = _errors(counts.iloc[end:], method(counts.iloc[:end]))
        each = [
            _errors(counts.iloc[o : o + HELD_OUT_WEEKS], method(counts.iloc[:o])) for o in origins
        ]
        mapes = [e["mape"] for e in each if e["mape"] is not None]
        out[f"{name}_rolling"] = {
            "mae": float(np.mean([e["mae"] for e in each])),
            "mape": float(np.mean(mapes)) if mapes else None,
            "origins": float(len(each)),
        }
    return out


def forecast(table: pd.DataFrame, as_of: date) -> Forecast:
    counts = weekly_counts(table, as_of)
    if len(counts) < HELD_OUT_WEEKS + 2:
        from civicshare.discharge.features import DischargeError

        raise DischargeError(
            f"The acute data cover {len(counts)} usable weeks of discharges; a forecast checked "
            f"on {HELD_OUT_WEEKS} held-out weeks needs at least {HELD_OUT_WEEKS + 2}.",
            field="acute-admissions",
            status=409,
        )
    held_out = held_out_errors(counts)
    ahead = _mean_forecast(counts)
    weeks = [as_of + timedelta(days=7 * (k + 1)) for k in range(HORIZON_WEEKS)]
    rows = []
    for district, pathway in sorted(ahead.index, key=lambda c: (str(c[0]), c[1])):
        value = float(ahead[(district, pathway)])
        rows.append(
            {
                "district": district,
                "pathway": int(pathway),
                "title": PATHWAY_TITLES[int(pathway)],
                "per_week": suppress(int(round(value))),
                "six_weeks": suppress(int(round(value * HORIZON_WEEKS))),
            }
        )
    support = [c for c in counts.columns if c[1] != 0]
    history = [
        {"week_ending": str(week), "needing_support": suppress(int(total))}
        for week, total in counts[support].sum(axis=1).items()
    ]
    total = float(ahead[support].sum()) if support else 0.0
    return Forecast(as_of, weeks, rows, history, held_out, [total] * HORIZON_WEEKS)


def plot_series(result: Forecast) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(history, forecast) of county weekly discharges needing support, rounded to 5 for the
    chart (a suppressed week is drawn as 0)."""

    def shown(text: str) -> float:
        return 0.0 if text == "*" else float(text.replace(",", ""))

    history = [(row["week_ending"], shown(row["needing_support"])) for row in result.history]
    ahead = [
        (str(week), float(5 * np.floor(total / 5 + 0.5)))
        for week, total in zip(result.weeks, result.totals, strict=True)
    ]
    return history, ahead

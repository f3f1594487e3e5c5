"""Models of a new care package within 30 days of discharge, and how well they do.

Three models, trained on the earlier spells and judged on the later ones (temporal validation):

- `score`: a LACE/HOSPITAL-style points score (length of stay, acuity, frailty, emergency
  visits, plus age, living alone and dementia), turned into a probability by Platt scaling;
- `logistic`: a logistic regression on the standardised features as recorded;
- `boosted`: scikit-learn's HistGradientBoosting, calibrated by Platt scaling on a held-out
  period after its training period.

Spells are split by admission date: the first 60% train, the next 20% calibrate (and choose),
the last 20% test. The gradient boosting is the candidate: it is chosen when its AUROC on the
calibration period is at least the best baseline's there, else that baseline is (a transparent
model that does as well is preferred). The rule was fixed before any test period was looked
at. Every figure in the report is on the test period, which none of them saw; whether the
chosen model beats the baselines there is a paired bootstrap (`against_baselines`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from civicshare.discharge.features import FEATURES, SUBGROUPS, DischargeError, matrix

MODELS = ("score", "logistic", "boosted")
MODEL_TITLES = {
    "score": "Points score (LACE/HOSPITAL style)",
    "logistic": "Logistic regression",
    "boosted": "Gradient boosting, calibrated",
}
BASELINES = ("score", "logistic")
TRAIN_SHARE, CALIBRATE_SHARE = 0.6, 0.2
BOOTSTRAP_SAMPLES = 200
CALIBRATION_BINS = 10
# A subgroup is flagged when its AUROC is this much below the whole test period's, or its
# calibration-in-the-large (mean predicted minus observed rate) is off by more than this.
SUBGROUP_MARGIN = 0.05
SUBGROUP_MIN_SPELLS = 20  # below this, or under MIN_OUTCOMES of either outcome: not judged
RISK_BANDS = ((0.5, "High"), (0.25, "Medium"), (0.0, "Low"))
MIN_OUTCOMES = 5  # spells with and without a new package each period needs at least
# Need rises with frailty, a longer stay, an emergency admission, living alone and dementia:
# the boosted trees are held to that (fewer spells wasted learning it, no implausible dips).
# Not age: young adults with a long stay (injury, mental health) need more support than the
# middle-aged, so the need is J-shaped in age; the other features may go either way too.
MONOTONIC = {"frailty": 1, "length_of_stay": 1, "emergency": 1, "lives_alone": 1,
             "dementia": 1}  # fmt: skip
COMPARISON_SAMPLES = 1000  # paired bootstrap resamples of the test spells


# -- the points score -------------------------------------------------------------------------


def points(table: pd.DataFrame) -> np.ndarray:
    """LACE-style points: length of stay, acuity (emergency), frailty standing in for
    comorbidity, emergency visits (prior admissions), with age, living alone and dementia
    (the HOSPITAL score's idea of adding what predicts need, not just readmission)."""
    los = table["length_of_stay"].to_numpy()
    stay = np.select([los < 1, los < 4, los < 7, los < 14], [0, los, 4, 5], 7)
    age = table["age"].to_numpy()
    return (
        stay
        + 3 * table["emergency"].to_numpy()
        + np.clip(table["frailty"].to_numpy() - 3, 0, 5)
        + np.minimum(table["prior_admissions"].to_numpy(), 4)
        + np.select([age >= 85, age >= 75, age >= 65], [3, 2, 1], 0)
        + 2 * table["lives_alone"].to_numpy()
        + 2 * table["dementia"].to_numpy()
    ).astype(float)


class PointsModel:
    """The points score with a Platt scaling fitted on the training spells."""

    def fit(self, table: pd.DataFrame, y: np.ndarray) -> PointsModel:
        self.platt = LogisticRegression().fit(points(table)[:, None], y)
        return self

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        return self.platt.predict_proba(points(table)[:, None])[:, 1]


@dataclass
class FittedModel:
    """One trained model and how to explain a prediction of it."""

    kind: str
    estimator: object

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        if self.kind == "score":
            return self.estimator.predict(table)
        return self.estimator.predict_proba(matrix(table))[:, 1]

    def contributions(self, table: pd.DataFrame, reference: np.ndarray) -> np.ndarray:
        """Per-feature contributions to each prediction's log-odds, against the training
        spells' average (`reference`): exact for the logistic regression (coefficient times
        the difference from average); for the others, the change in log-odds when that one
        feature is set to its average (an occlusion explanation)."""
        x = matrix(table)
        if self.kind == "logistic":
            scaler, regression = self.estimator[0], self.estimator[-1]
            return regression.coef_[0] * (x - reference) / scaler.scale_
        base = _logit(self.predict(table))
        out = np.zeros_like(x)
        for j, name in enumerate(FEATURES):
            moved = table.copy()
            moved[name] = reference[j]
            out[:, j] = base - _logit(self.predict(moved))
        return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit(kind: str, train: pd.DataFrame, calibrate: pd.DataFrame, seed: int = 0) -> FittedModel:
    y = train["new_package"].to_numpy(dtype=int)
    if kind == "score":
        return FittedModel(kind, PointsModel().fit(train, y))
    if kind == "logistic":
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        return FittedModel(kind, model.fit(matrix(train), y))
    boosted = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=8,
        min_samples_leaf=40,
        l2_regularization=1.0,
        monotonic_cst=[MONOTONIC.get(name, 0) for name in FEATURES],
        early_stopping=True,
        validation_fraction=0.15,
        random_state=seed,
    ).fit(matrix(train), y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(boosted), method="sigmoid")
    calibrated.fit(matrix(calibrate), calibrate["new_package"].to_numpy(dtype=int))
    return FittedModel(kind, calibrated)


# -- splitting by time ------------------------------------------------------------------------


@dataclass(frozen=True)
class Periods:
    train: pd.DataFrame
    calibrate: pd.DataFrame
    test: pd.DataFrame

    def describe(self) -> dict[str, dict[str, str]]:
        return {
            name: {
                "from": str(frame["admitted"].min().date()),
                "to": str(frame["admitted"].max().date()),
            }
            for name, frame in (
                ("train", self.train),
                ("calibrate", self.calibrate),
                ("test", self.test),
            )
        }


def split(table: pd.DataFrame) -> Periods:
    """The observed spells in admission order, cut 60/20/20 at admission dates."""
    observed = table[table["observed"]].sort_values(["admitted", "spell_id"])
    n = len(observed)
    first, second = int(n * TRAIN_SHARE), int(n * (TRAIN_SHARE + CALIBRATE_SHARE))
    periods = Periods(observed.iloc[:first], observed.iloc[first:second], observed.iloc[second:])
    for name, frame in (("training", periods.train), ("calibration", periods.calibrate),
                        ("test", periods.test)):  # fmt: skip
        y = frame["new_package"]
        if (y == 1).sum() < MIN_OUTCOMES or (y == 0).sum() < MIN_OUTCOMES:
            raise DischargeError(
                f"The {name} period has {int((y == 1).sum())} spells followed by a new care "
                f"package and {int((y == 0).sum())} without; each needs at least "
                f"{MIN_OUTCOMES}. The acute and social care data are too few to train on.",
                field="acute-admissions",
                status=409,
            )
    return periods


# -- how good a model is ----------------------------------------------------------------------


def calibration_line(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Calibration slope and intercept: the logistic regression of the outcome on the
    predicted log-odds (1 and 0 when perfectly calibrated)."""
    fitted = LogisticRegression(C=np.inf, max_iter=1000).fit(_logit(p)[:, None], y)
    return float(fitted.coef_[0][0]), float(fitted.intercept_[0])


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Mean predicted and observed rate in tenths of the predictions (for the plot)."""
    order = np.argsort(p, kind="stable")
    out = []
    for part in np.array_split(order, min(bins, len(p))):
        if len(part):
            out.append(
                {
                    "predicted": float(p[part].mean()),
                    "observed": float(y[part].mean()),
                    "spells": int(len(part)),
                }
            )
    return out


def roc_points(y: np.ndarray, p: np.ndarray, steps: int = 50) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at `steps` thresholds, for the ROC plot."""
    positives, negatives = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    out = [(0.0, 0.0)]
    for threshold in np.quantile(p, np.linspace(1, 0, steps)):
        flagged = p >= threshold
        out.append((float((flagged & (y == 0)).sum() / negatives),
                    float((flagged & (y == 1)).sum() / positives)))  # fmt: skip
    out.append((1.0, 1.0))
    return out


def auroc_interval(y: np.ndarray, p: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the AUROC (resampling spells)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP_SAMPLES):
        pick = rng.integers(0, len(y), len(y))
        if 0 < y[pick].sum() < len(pick):
            values.append(roc_auc_score(y[pick], p[pick]))
    if not values:
        return (math.nan, math.nan)
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def _auroc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None


@dataclass
class Performance:
    """A model's figures on the test period."""

    model: str
    spells: int
    outcomes: int
    auroc: float
    auroc_ci: tuple[float, float]
    auprc: float
    brier: float
    calibration_slope: float
    calibration_intercept: float
    calibration: list[dict]
    roc: list[tuple[float, float]]
    subgroups: list[dict] = field(default_factory=list)
    validation_auroc: float | None = None

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "title": MODEL_TITLES[self.model],
            "spells": self.spells,
            "outcomes": self.outcomes,
            "auroc": round(self.auroc, 4),
            "auroc_ci": [round(v, 4) for v in self.auroc_ci],
            "auprc": round(self.auprc, 4),
            "brier": round(self.brier, 4),
            "calibration_slope": round(self.calibration_slope, 3),
            "calibration_intercept": round(self.calibration_intercept, 3),
            "calibration": self.calibration,
            "roc": self.roc,
            "subgroups": self.subgroups,
            "validation_auroc": None
            if self.validation_auroc is None
            else round(self.validation_auroc, 4),
        }


def evaluate(name: str, table: pd.DataFrame, p: np.ndarray, seed: int = 0) -> Performance:
    y = table["new_package"].to_numpy(dtype=int)
    slope, intercept = calibration_line(y, p)
    overall = _auroc(y, p) or math.nan
    return Performance(
        model=name,
        spells=len(y),
        outcomes=int(y.sum()),
        auroc=overall,
        auroc_ci=auroc_interval(y, p, seed),
        auprc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        calibration_slope=slope,
        calibration_intercept=intercept,
        calibration=calibration_bins(y, p),
        roc=roc_points(y, p),
        subgroups=subgroups(table, y, p, overall),
    )


def subgroups(table: pd.DataFrame, y: np.ndarray, p: np.ndarray, overall: float) -> list[dict]:
    """AUROC and calibration-in-the-large per age band, sex, ethnic group and district.

    A group is flagged when its AUROC is more than SUBGROUP_MARGIN below the average of the
    judged groups of the same kind (spell-weighted; within an age band the ranking is harder
    than over all ages for every model, so the whole's AUROC is the wrong yardstick), or its
    mean predicted risk is further from its observed rate than the whole's by more than
    SUBGROUP_MARGIN."""
    out = []
    whole_gap = abs(float(p.mean() - y.mean()))
    for by in SUBGROUPS:
        values = table[by].astype(str).to_numpy()
        judged = []
        for value in sorted(set(values)):
            mask = values == value
            n = int(mask.sum())
            outcomes = int(y[mask].sum())
            entry = {"by": by, "group": value, "spells": n, "auroc": None, "gap": None,
                     "flags": [], "note": ""}  # fmt: skip
            if n >= SUBGROUP_MIN_SPELLS and min(outcomes, n - outcomes) >= MIN_OUTCOMES:
                entry["auroc"] = round(float(roc_auc_score(y[mask], p[mask])), 4)
                entry["gap"] = round(float(p[mask].mean() - y[mask].mean()), 4)
                judged.append(entry)
            else:
                entry["note"] = "too few spells or outcomes to judge"
            out.append(entry)
        if not judged:
            continue
        weight = sum(e["spells"] for e in judged)
        peers = sum(e["auroc"] * e["spells"] for e in judged) / weight
        for entry in judged:
            entry["peer_auroc"] = round(peers, 4)
            if entry["auroc"] < peers - SUBGROUP_MARGIN:
                entry["flags"].append(
                    f"AUROC {peers - entry['auroc']:.2f} below the {by.replace('_', ' ')} average"
                )
            if abs(entry["gap"]) > whole_gap + SUBGROUP_MARGIN:
                said = "over" if entry["gap"] > 0 else "under"
                entry["flags"].append(f"{said}-predicts by {abs(entry['gap']):.0%}")
    return out


def against_baselines(
    y: np.ndarray, predictions: dict[str, np.ndarray], chosen: str, seed: int = 0
) -> dict:
    """Does the chosen model rank the test spells better than the best transparent baseline?

    A paired bootstrap: the same resampled spells score both models, so what they share (which
    spells are easy) cancels out of the difference. The chosen model beats the baselines when
    the 95% interval of its AUROC minus the best baseline's lies above zero. A chosen baseline
    cannot beat itself: its gain is 0 and it does not."""
    aurocs = {k: _auroc(y, predictions[k]) or math.nan for k in BASELINES}
    baseline = max(BASELINES, key=lambda k: aurocs[k])
    gain = (_auroc(y, predictions[chosen]) or math.nan) - aurocs[baseline]
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(COMPARISON_SAMPLES):
        pick = rng.integers(0, len(y), len(y))
        if 0 < y[pick].sum() < len(pick):
            gains.append(
                roc_auc_score(y[pick], predictions[chosen][pick])
                - roc_auc_score(y[pick], predictions[baseline][pick])
            )
    low, high = np.quantile(gains, [0.025, 0.975]) if gains else (math.nan, math.nan)
    return {
        "baseline": baseline,
        "baseline_auroc": round(aurocs[baseline], 4),
        "gain": round(float(gain), 4),
        "gain_se": round(float(np.std(gains, ddof=1)), 4) if len(gains) > 1 else None,
        "gain_ci": [round(float(low), 4), round(float(high), 4)],
        "beats_baselines": bool(chosen not in BASELINES and low > 0),
        "test": f"paired bootstrap of the test spells ({COMPARISON_SAMPLES} resamples): the "
        "95% interval of the AUROC gain above zero",
    }


def describe_comparison(compared: dict, chosen: str) -> str:
    """One sentence on the chosen model against the best baseline, for the CLI and the card."""
    if chosen in BASELINES:
        return f"The chosen model is a baseline ({MODEL_TITLES[chosen].lower()}): nothing beat it."
    low, high = compared["gain_ci"]
    verdict = "beats the baselines" if compared["beats_baselines"] else "does not beat them"
    return (
        f"Against the best baseline ({MODEL_TITLES[compared['baseline']].lower()}, AUROC "
        f"{compared['baseline_auroc']:.3f}): AUROC {compared['gain']:+.3f} (95% interval "
        f"{low:+.3f} to {high:+.3f}, paired bootstrap): {verdict}."
    )


def choose(validation_auroc: dict[str, float | None]) -> str:
    """The boosted model unless a baseline ranked the calibration period better."""
    best = max(BASELINES, key=lambda k: validation_auroc[k] or 0)
    return (
        "boosted" if (validation_auroc["boosted"] or 0) >= (validation_auroc[best] or 0) else best
    )


def risk_band(p: float) -> str:
    return next(label for low, label in RISK_BANDS if p >= low)

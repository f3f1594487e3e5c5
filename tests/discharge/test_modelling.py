"""The figures of the report and the models' explanations, on spells drawn from a known model
(no store): calibration slope and intercept, the bootstrap interval, subgroup flags, the choice
between the boosted model and the baselines, the points score and per-feature contributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from civicshare.discharge import forecast, modelling
from civicshare.discharge.features import FEATURES, DischargeError


def spells(n: int, seed: int = 0) -> pd.DataFrame:
    """Spells with the feature table's columns and an outcome from a logistic model."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "spell_id": [f"S{i}" for i in range(n)],
            "admitted": pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n) // 5, "D"),
            "age": rng.integers(18, 100, n).astype(float),
            "frailty": rng.integers(1, 9, n).astype(float),
            "length_of_stay": rng.poisson(4, n).astype(float),
            "emergency": (rng.random(n) < 0.6).astype(float),
            "prior_admissions": rng.poisson(0.3, n).astype(float),
            "existing_package": (rng.random(n) < 0.1).astype(float),
            "lives_alone": (rng.random(n) < 0.3).astype(float),
            "dementia": (rng.random(n) < 0.1).astype(float),
            "home_oxygen": (rng.random(n) < 0.05).astype(float),
            "male": (rng.random(n) < 0.5).astype(float),
            "age_band": "75-84",
            "sex": np.where(rng.random(n) < 0.5, "Male", "Female"),
            "ethnic_group": "White",
            "district": np.where(rng.random(n) < 0.5, "worcester", "wychavon"),
        }
    )
    score = (
        -3.5
        + 0.04 * (table["age"] - 60)
        + 0.4 * (table["frailty"] - 4)
        + 0.5 * np.log1p(table["length_of_stay"])
        + 0.8 * table["lives_alone"]
        + 0.6 * table["dementia"]
    )
    table["p_true"] = 1 / (1 + np.exp(-score))
    table["new_package"] = (rng.random(n) < table["p_true"]).astype(float)
    table["observed"] = True
    return table


def test_calibration_slope_is_one_for_the_true_probabilities_and_below_for_overconfidence():
    table = spells(20_000)
    y, p = table["new_package"].to_numpy(), table["p_true"].to_numpy()
    slope, intercept = modelling.calibration_line(y, p)
    assert abs(slope - 1) < 0.1 and abs(intercept) < 0.15
    logit = np.log(p / (1 - p))
    overconfident = 1 / (1 + np.exp(-2 * logit))
    assert modelling.calibration_line(y, overconfident)[0] < 0.6


def test_the_bootstrap_interval_surrounds_the_auroc_and_narrows_with_more_spells():
    small, large = spells(400, 1), spells(8000, 1)
    widths = []
    for table in (small, large):
        y, p = table["new_package"].to_numpy(), table["p_true"].to_numpy()
        low, high = modelling.auroc_interval(y, p)
        auroc = modelling._auroc(y, p)
        assert low <= auroc <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_a_subgroup_the_model_ranks_badly_is_flagged_and_its_peers_are_not():
    table = spells(6000, 2)
    y = table["new_package"].to_numpy()
    p = table["p_true"].to_numpy().copy()
    worse = (table["district"] == "wychavon").to_numpy()
    rng = np.random.default_rng(3)
    p[worse] = rng.permutation(p[worse])  # wychavon's risks shuffled: no ranking left
    overall = modelling._auroc(y, p)
    found = {(g["by"], g["group"]): g for g in modelling.subgroups(table, y, p, overall)}
    assert found[("district", "wychavon")]["flags"]
    assert not found[("district", "worcester")]["flags"]
    assert not found[("sex", "Male")]["flags"] and not found[("sex", "Female")]["flags"]
    assert found[("age_band", "75-84")]["peer_auroc"] == found[("age_band", "75-84")]["auroc"]


def test_a_subgroup_predicted_too_high_is_flagged_for_calibration():
    table = spells(6000, 4)
    y = table["new_package"].to_numpy()
    p = table["p_true"].to_numpy().copy()
    male = (table["sex"] == "Male").to_numpy()
    p[male] = np.minimum(p[male] + 0.15, 0.99)
    found = {(g["by"], g["group"]): g for g in modelling.subgroups(table, y, p, 0.8)}
    assert any("over-predicts" in f for f in found[("sex", "Male")]["flags"])


def test_the_boosted_model_is_chosen_only_when_it_ranks_at_least_as_well():
    assert modelling.choose({"score": 0.70, "logistic": 0.80, "boosted": 0.80}) == "boosted"
    assert modelling.choose({"score": 0.70, "logistic": 0.81, "boosted": 0.80}) == "logistic"
    assert modelling.choose({"score": 0.82, "logistic": 0.81, "boosted": 0.80}) == "score"


def test_a_model_that_ranks_better_beats_the_baselines_by_a_paired_bootstrap():
    table = spells(3000, 9)
    y = table["new_package"].to_numpy(dtype=int)
    truth = table["p_true"].to_numpy()
    noise = np.random.default_rng(1).normal(0, 1.5, (2, len(y)))
    logit = np.log(truth / (1 - truth))
    additive = 1 / (1 + np.exp(-(logit + noise[0])))  # ranks worse than the truth
    points = 1 / (1 + np.exp(-(logit + 2 * noise[1])))  # worse still
    predictions = {"score": points, "logistic": additive, "boosted": truth}
    found = modelling.against_baselines(y, predictions, "boosted")
    assert found["baseline"] == "logistic" and found["beats_baselines"]
    assert found["gain"] > 0 and 0 < found["gain_ci"][0] < found["gain"] < found["gain_ci"][1]
    assert 0 < found["gain_se"] < found["gain"]
    assert "beats the baselines" in modelling.describe_comparison(found, "boosted")
    # the same ranking as the best baseline: no gain, and not called a win
    level = modelling.against_baselines(y, {**predictions, "boosted": additive}, "boosted")
    assert level["gain"] == 0 and not level["beats_baselines"]
    assert "does not beat them" in modelling.describe_comparison(level, "boosted")
    # a chosen baseline cannot beat itself
    assert not modelling.against_baselines(y, predictions, "logistic")["beats_baselines"]


def test_three_models_learn_the_known_model_and_explain_their_predictions():
    table = spells(5000, 5)
    periods = modelling.split(table)
    assert periods.train["admitted"].max() <= periods.test["admitted"].min()
    reference = periods.train[list(FEATURES)].to_numpy().mean(axis=0)
    y = periods.test["new_package"].to_numpy()
    for kind in modelling.MODELS:
        model = modelling.fit(kind, periods.train, periods.calibrate)
        p = model.predict(periods.test)
        assert modelling._auroc(y, p) > 0.75, kind
        contributions = model.contributions(periods.test.iloc[:50], reference)
        assert contributions.shape == (50, len(FEATURES))
        # the oldest, frailest spell owes more of its risk to frailty than the fittest does
        frail = FEATURES.index("frailty")
        order = periods.test.iloc[:50]["frailty"].to_numpy()
        assert contributions[order.argmax(), frail] > contributions[order.argmin(), frail], kind


def test_the_points_score_adds_points_for_each_risk():
    table = spells(2, 6)
    table.loc[:, ["age", "frailty", "length_of_stay", "emergency", "prior_admissions",
                  "lives_alone", "dementia"]] = [[50, 3, 0, 0, 0, 0, 0],
                                                 [90, 7, 20, 1, 5, 1, 1]]  # fmt: skip
    low, high = modelling.points(table)
    assert low == 0 and high == 7 + 3 + 4 + 4 + 3 + 2 + 2


def test_too_few_outcomes_to_train_is_a_clear_refusal():
    table = spells(300, 7)
    table["new_package"] = 0.0
    with pytest.raises(DischargeError, match="too few to train on"):
        modelling.split(table)


def test_the_forecast_is_the_recent_mean_and_its_error_is_measured_on_unseen_weeks():
    as_of = pd.Timestamp("2026-04-01")
    rng = np.random.default_rng(8)
    days = rng.integers(0, 7 * 40, 4000)
    table = pd.DataFrame(
        {
            "discharged": as_of - pd.to_timedelta(days, "D"),
            "pathway": rng.choice([0, 1, 2, 3], 4000, p=[0.5, 0.45, 0.04, 0.01]).astype(float),
            "district": rng.choice(["worcester", "wychavon"], 4000),
        }
    )
    result = forecast.forecast(table, as_of.date())
    assert len(result.weeks) == forecast.HORIZON_WEEKS
    # 4,000 discharges over 40 weeks: about 50 a week need support across the two districts
    assert 40 <= result.totals[0] <= 60
    assert result.held_out["mean"]["mape"] < 0.3
    worcester_home = next(r for r in result.rows if r["district"] == "worcester"
                          and r["pathway"] == 1)  # fmt: skip
    assert worcester_home["six_weeks"] not in ("*", "0")
    assert int(worcester_home["six_weeks"].replace(",", "")) % 5 == 0


def test_the_rolling_origins_judge_both_forecasts_on_weeks_each_did_not_see():
    as_of = pd.Timestamp("2026-04-01")
    rng = np.random.default_rng(3)
    days = rng.integers(0, 7 * 40, 4000)
    table = pd.DataFrame(
        {
            "discharged": as_of - pd.to_timedelta(days, "D"),
            "pathway": rng.choice([0, 1], 4000).astype(float),
            "district": "worcester",
        }
    )
    counts = forecast.weekly_counts(table, as_of.date())
    held = forecast.held_out_errors(counts)
    assert held["mean_rolling"]["origins"] == forecast.ROLLING_ORIGINS
    # on steady Poisson counts the recent mean beats repeating one week, over many origins
    assert held["mean_rolling"]["mae"] < held["naive_rolling"]["mae"]
    # origin o forecasts weeks o..o+5 from weeks before o only; the last origin is the plain
    # held-out comparison
    end = len(counts) - forecast.HELD_OUT_WEEKS
    by_hand = []
    for origin in range(end - forecast.ROLLING_ORIGINS + 1, end + 1):
        seen = counts.iloc[:origin].iloc[-forecast.WINDOW_WEEKS :].mean()
        unseen = counts.iloc[origin : origin + forecast.HELD_OUT_WEEKS]
        by_hand.append(float((unseen - seen).abs().to_numpy().mean()))
    assert held["mean_rolling"]["mae"] == pytest.approx(np.mean(by_hand))
    assert held["mean"]["mae"] == pytest.approx(by_hand[-1])

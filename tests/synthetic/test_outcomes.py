"""The county's need for care after discharge: not additive in what the records show (version 5),
and prior admissions counted as the feature table counts them."""

from __future__ import annotations

import numpy as np

from civicshare.synthetic import outcomes


def features(**given) -> tuple[np.ndarray, np.ndarray]:
    """One spell's (x, prior) in the generator's terms, from age, cfs, alone, pkg, emerg, los,
    dem and prior (defaults: 75, 4, nothing else, 3 days)."""
    v = {"age": 75, "cfs": 4, "alone": 0, "pkg": 0, "emerg": 0, "los": 3, "dem": 0, "prior": 0}
    v.update(given)
    x = np.array(
        [
            [
                (v["age"] - 75) / 10,
                v["cfs"] - 4,
                v["alone"],
                v["pkg"],
                v["emerg"],
                np.log1p(v["los"]) - np.log1p(5),
                v["dem"],
            ]
        ],
        dtype=float,
    )
    return x, np.array([v["prior"]])


def need(**given) -> float:
    return float(outcomes.need(*features(**given))[0])


def test_frailty_and_dementia_matter_more_for_someone_living_alone():
    with_others = need(cfs=7) - need(cfs=4)
    alone = need(cfs=7, alone=1) - need(cfs=4, alone=1)
    assert alone > 3 * with_others > 0
    assert need(dem=1, alone=1) - need(alone=1) > 5 * (need(dem=1) - need())


def test_the_stay_acts_at_thresholds_and_prior_admissions_saturate():
    assert need(los=6) == need(los=1)  # below a week the stay adds nothing
    assert need(los=7) - need(los=6) == outcomes.STAY_LONG
    assert need(los=21) - need(los=20) == outcomes.STAY_VERY_LONG
    assert need(prior=4) == need(prior=2) > need(prior=1) > need(prior=0)


def test_need_is_j_shaped_in_age():
    by_age = {age: need(age=age) for age in (18, 40, 50, 55, 75, 95)}
    assert by_age[40] == by_age[50] == by_age[55] < by_age[18] < by_age[75] < by_age[95]
    # convex after 55: the second decade adds more than the first
    assert by_age[95] - by_age[75] > by_age[75] - by_age[55]


def test_prior_admissions_count_the_same_persons_spells_in_the_year_before():
    day = np.datetime64("2026-01-01", "D")
    spells = {
        "person": np.array([0, 1, 0, 0, 1, 0]),
        "admit": day + np.array([0, 10, 100, 364, 400, 366]),
    }
    expected = [0, 0, 1, 2, 0, 2]  # day 366 sees days 100 and 364; day 0 is 366 days back
    assert outcomes.prior_admissions(spells).tolist() == expected

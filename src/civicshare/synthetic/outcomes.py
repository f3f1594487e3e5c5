"""Acute hospital spells and the discharge-planning outcome model.

Spells: each resident has Poisson(lambda) spells admitted in the 13 months before ``REF_DATE``,
lambda = 0.04 + 0.006 * max(age - 30, 0) + 0.04 * max(CFS - 3, 0) (at most four). A spell after
the resident's death is dropped; a spell whose discharge would fall after death ends in death.
A spell whose discharge falls after ``REF_DATE`` is a current inpatient: the acute trust has not
recorded its discharge, pathway or readmission yet (its outcomes are drawn all the same, as
truth). Spells discharged in the last 30 days have outcomes not yet observable in the data.

For each adult spell discharged alive, with
    age, f = CFS - 4, alone, pkg (existing care package), emerg (emergency admission),
    los (days), dem (dementia), prior (admissions of the same person in the 365 days before),
the need for support is a log-odds score that is not additive in them (real needs are not):
    h = 0.3 * max(40 - age, 0) / 10 + 0.2 * (max(age - 55, 0) / 10) ** 2   (J-shaped in age)
      + (0.1 + 0.7 * alone) * f            (frailty matters most for someone living alone)
      + 0.3 * alone + (0.1 + 1.8 * alone) * dem   (dementia alone at home, far more)
      + 1.2 * [los >= 7] + 0.5 * [los >= 21]      (thresholds: a long stay, a very long one)
      + 0.4 * emerg - 0.6 * pkg + 0.7 * [prior >= 1] + 0.3 * [prior >= 2]   (saturating)
The discharge pathway k in 0..3 is drawn from a multinomial logit in that need,
    s_k = ALPHA[k] + PATHWAY_NEED[k] * h (+ 0.8 * dem for a care home), s_0 = 0,
and the need for a new care package within 30 days of discharge is Bernoulli with
    p_k = sigmoid(ETA0 + h + DELTA[k]).
The truth records P(pathway = k | x), p_k for the realised pathway, and the marginal
P(new package | x) = sum_k P(k | x) p_k, so the best achievable accuracy is known. A model
additive in the recorded features (a logistic regression) cannot reach it; one that finds
interactions and thresholds (trees) can come close.
Readmission within 30 days: sigmoid(READMIT0 + READMIT . (a, f, emerg, l)), with
a = (age - 75) / 10 and l = ln(1 + los) - ln(6).
"""

from __future__ import annotations

import numpy as np

from .common import REF_DATE

FEATURES = ["a", "f", "alone", "pkg", "emerg", "l", "dem", "prior"]
# The need for support after discharge (log-odds terms; see `need`).
AGE_YOUNG = 0.3  # per decade under 40 (the J's short arm)
AGE_OLD = 0.2  # times the squared decades over 55
FRAILTY_WITH_OTHERS, FRAILTY_ALONE = 0.1, 0.7  # per frailty point, and more living alone
ALONE = 0.3
DEMENTIA_WITH_OTHERS, DEMENTIA_ALONE = 0.1, 1.8
STAY_LONG, STAY_VERY_LONG = 1.2, 0.5  # a stay of 7 days or more, and of 21 or more
EMERGENCY = 0.4
PACKAGE = -0.6  # a package already running: less often a new one
PRIOR_ONE, PRIOR_TWO = 0.7, 0.3  # one admission in the year before, two or more
# The pathway (0 home, 1 home with support, 2 community bed, 3 care home): multinomial logit
# in the same need, a care home more likely with dementia.
ALPHA = np.array([0.0, -1.0, -4.0, -6.0])
PATHWAY_NEED = np.array([0.0, 0.8, 1.2, 1.4])
CARE_HOME_DEMENTIA = 0.8
ETA0 = -2.8
DELTA = np.array([-1.2, 0.9, 1.3, 2.0])
READMIT0 = -2.6
READMIT = np.array([0.15, 0.20, 0.35, 0.25])  # a, f, emerg, l

EMERGENCY_METHODS = (["21", "22", "28"], [0.8, 0.15, 0.05])
ELECTIVE_METHODS = (["11", "12", "13"], [0.5, 0.3, 0.2])
SPECIALTIES = np.array(["300", "100", "430", "110", "320", "340", "101", "502"], dtype=object)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _spell_block(rng, pop, person, admit, emergency):
    P = pop.p
    age = P["age"][person] - ((REF_DATE - admit).astype(np.int64) // 365)
    cfs = np.clip(P["cfs"][person] + rng.integers(-1, 2, len(person)), 1, 9)
    m = len(person)
    mu = 0.3 + 0.025 * np.maximum(age - 50, 0) + 0.12 * (cfs - 3)
    los_e = np.round(np.exp(rng.normal(mu, 0.9))).astype(np.int64)
    los_el = np.where(rng.random(m) < 0.45, 0, rng.poisson(2, m) + 1)
    los = np.minimum(np.where(emergency, los_e, los_el), 120)
    methods_e = np.array(EMERGENCY_METHODS[0])[rng.choice(3, m, p=EMERGENCY_METHODS[1])]
    methods_l = np.array(ELECTIVE_METHODS[0])[rng.choice(3, m, p=ELECTIVE_METHODS[1])]
    method = np.where(emergency, methods_e, methods_l)
    discharge = admit + los
    dd = P["death_date"][person]
    died_in = P["died"][person] & (dd <= discharge)
    discharge = np.where(died_in, dd, discharge)
    los = (discharge - admit).astype(np.int64)
    return {
        "person": person,
        "admit": admit,
        "discharge": discharge,
        "los": los,
        "age": age,
        "cfs": cfs,
        "emergency": emergency,
        "method": method,
        "died_in_hospital": died_in,
        "specialty": SPECIALTIES[rng.integers(0, len(SPECIALTIES), m)],
    }


def make_spells(rng, pop) -> dict[str, np.ndarray]:
    P = pop.p
    age, cfs = P["age"], P["cfs"]
    lam = 0.04 + 0.006 * np.maximum(age - 30, 0) + 0.04 * np.maximum(cfs - 3, 0)
    k = np.minimum(rng.poisson(lam), 4)
    person = np.repeat(np.arange(pop.n), k)
    admit = REF_DATE - rng.integers(0, 395, len(person))
    keep = ~(P["died"][person] & (admit >= P["death_date"][person]))
    person, admit = person[keep], admit[keep]
    emergency = rng.random(len(person)) < np.clip(0.35 + 0.006 * P["age"][person], 0, 0.9)
    base = _spell_block(rng, pop, person, admit, emergency)
    base["readmission"] = np.zeros(len(person), bool)
    x = _features(pop, base)
    p_re = sigmoid(READMIT0 + x[:, [0, 1, 4, 5]] @ READMIT)
    p_re = np.where(base["died_in_hospital"], 0.0, p_re)
    re = rng.random(len(person)) < p_re
    r_person = base["person"][re]
    r_admit = base["discharge"][re] + rng.integers(1, 31, int(re.sum()))
    ok = (r_admit <= REF_DATE) & ~(P["died"][r_person] & (r_admit >= P["death_date"][r_person]))
    re_idx = np.flatnonzero(re)[ok]
    readm = _spell_block(rng, pop, r_person[ok], r_admit[ok], np.ones(int(ok.sum()), bool))
    readm["readmission"] = np.ones(len(re_idx), bool)
    base["p_readmit"] = p_re
    base["readmitted"] = np.zeros(len(person), bool)
    base["readmitted"][re_idx] = True
    readm["p_readmit"] = np.zeros(len(re_idx))
    readm["readmitted"] = np.zeros(len(re_idx), bool)
    spells = {k: np.concatenate([base[k], readm[k]]) for k in base}
    o = np.lexsort((spells["person"], spells["admit"]))
    spells = {k: v[o] for k, v in spells.items()}
    _outcomes(rng, pop, spells)
    return spells


def _features(pop, s) -> np.ndarray:
    P = pop.p
    person = s["person"]
    return np.column_stack(
        [
            (s["age"] - 75) / 10.0,
            s["cfs"] - 4.0,
            P["lives_alone"][person].astype(float),
            P["care_package"][person].astype(float),
            s["emergency"].astype(float),
            np.log1p(s["los"]) - np.log1p(5),
            P["dementia"][person].astype(float),
        ]
    )


def prior_admissions(s) -> np.ndarray:
    """Admissions of the same person in the 365 days before each spell (spells sorted by
    admission date, as `make_spells` leaves them)."""
    out = np.zeros(len(s["person"]), np.int64)
    order = np.lexsort((s["admit"], s["person"]))
    person, admit = s["person"][order], s["admit"][order]
    first = np.r_[True, person[1:] != person[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(person)), 0))
    for back in range(1, 9):  # at most 4 spells a person, each with a readmission
        j = np.arange(len(person)) - back
        ok = (j >= group_start) & (j >= 0)
        jj = np.where(ok, j, 0)
        within = ok & (admit[jj] < admit) & (admit[jj] >= admit - 365)
        out[order] += within
    return out


def need(x: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The log-odds scale need for support after discharge, before the pathway: not additive
    in the recorded features (see the module docstring)."""
    a, f, alone, pkg, emerg, ll, dem = x.T
    age = 75 + 10 * a
    los = np.rint(np.expm1(ll + np.log1p(5)))  # whole days (exactly 7, not 6.999...)
    return (
        AGE_YOUNG * np.maximum(40 - age, 0) / 10
        + AGE_OLD * (np.maximum(age - 55, 0) / 10) ** 2
        + (FRAILTY_WITH_OTHERS + FRAILTY_ALONE * alone) * f
        + ALONE * alone
        + (DEMENTIA_WITH_OTHERS + DEMENTIA_ALONE * alone) * dem
        + STAY_LONG * (los >= 7)
        + STAY_VERY_LONG * (los >= 21)
        + EMERGENCY * emerg
        + PACKAGE * pkg
        + PRIOR_ONE * (prior >= 1)
        + PRIOR_TWO * (prior >= 2)
    )


def _outcomes(rng, pop, s) -> None:
    x = _features(pop, s)
    prior = prior_admissions(s)
    h = need(x, prior)
    scores = ALPHA[None, :] + h[:, None] * PATHWAY_NEED[None, :]
    scores[:, 3] += CARE_HOME_DEMENTIA * x[:, 6]
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    pi = e / e.sum(axis=1, keepdims=True)
    eligible = (s["age"] >= 18) & ~s["died_in_hospital"]
    u = rng.random(len(pi))
    pathway = (u[:, None] > np.cumsum(pi, axis=1)).sum(axis=1).clip(0, 3)
    p_given = sigmoid(ETA0 + h[:, None] + DELTA[None, :])
    p_marg = (pi * p_given).sum(axis=1)
    p_real = p_given[np.arange(len(pathway)), pathway]
    new_pkg = rng.random(len(pi)) < p_real
    s["eligible"] = eligible
    s["pi"] = np.where(eligible[:, None], pi, np.nan)
    s["pathway"] = np.where(eligible, pathway, -1)
    s["p_pkg"] = np.where(eligible, p_marg, np.nan)
    s["p_pkg_given_pathway"] = np.where(eligible, p_real, np.nan)
    s["new_pkg"] = eligible & new_pkg
    s["x"] = np.column_stack([x, prior])


def model_summary(s) -> dict:
    """Best achievable figures for the two outcomes, from the true probabilities."""
    e = s["eligible"]
    p = s["p_pkg"][e]
    y = s["new_pkg"][e]
    pi = s["pi"][e]
    pq = s["p_pkg_given_pathway"][e]
    out = {
        "spells_modelled": int(e.sum()),
        "new_care_package_30d": {
            "prevalence": round(float(y.mean()), 4) if len(y) else None,
            "mean_true_probability": round(float(p.mean()), 4) if len(p) else None,
            "bayes_accuracy_at_admission": round(float(np.maximum(p, 1 - p).mean()), 4)
            if len(p)
            else None,
            "bayes_brier_at_admission": round(float((p * (1 - p)).mean()), 4) if len(p) else None,
            "bayes_accuracy_given_pathway": round(float(np.maximum(pq, 1 - pq).mean()), 4)
            if len(pq)
            else None,
        },
        "pathway": {
            "shares": [round(float((s["pathway"][e] == k).mean()), 4) for k in range(4)]
            if len(p)
            else None,
            "bayes_accuracy": round(float(pi.max(axis=1).mean()), 4) if len(p) else None,
        },
    }
    return out

"""Residents, households and life events, generated with vectorised numpy.

Household types and their shares are chosen so the county looks like an English shire county:
about 30% one-person households (half of them aged 65+), about a fifth of residents aged 65+,
mean household size about 2.35. Every person has a stable ``person_id`` (truth only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import names
from .common import REF_DATE, nhs_check_digit, weighted_choice

# name, share of households
HOUSEHOLD_TYPES: list[tuple[str, float]] = [
    ("single_older", 0.15),
    ("single_young", 0.15),
    ("couple_older", 0.13),
    ("couple_young", 0.11),
    ("couple_dep_children", 0.19),
    ("couple_nondep_children", 0.07),
    ("lone_parent", 0.10),
    ("multigenerational", 0.035),
    ("sharers", 0.035),
    ("students", 0.03),
]
HTYPE_NAMES = [h[0] for h in HOUSEHOLD_TYPES]
TWIN_RATE = 0.035  # share of dependent-children households with 2+ children holding twins

# NHS ethnic category codes and shares (a shire county: mostly White British)
ETHNIC_CODES = np.array(list("ABCDEFGHJKLMNPRSZ"), dtype=object)
ETHNIC_SHARES = np.array(
    [
        0.865,
        0.006,
        0.04,
        0.004,
        0.003,
        0.004,
        0.003,
        0.013,
        0.01,
        0.003,
        0.006,
        0.003,
        0.004,
        0.002,
        0.004,
        0.006,
        0.024,
    ]
)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Population:
    p: dict[str, np.ndarray]  # per person
    h: dict[str, np.ndarray]  # per household

    @property
    def n(self) -> int:
        return len(self.p["age"])


def _members(rng, htype: str, m: int):
    """Return (sizes, role, rank, age, sex_is_male) for m households of one type.

    role: 0 head, 1 partner, 2 child, 3 other adult, 4 older parent.
    """
    g = rng

    def clip(a, lo, hi):
        return np.clip(a, lo, hi)

    if htype in ("single_older", "single_young"):
        sizes = np.ones(m, dtype=np.int64)
        if htype == "single_older":
            age = clip(65 + g.gamma(2.0, 6.5, m), 65, 104)
            male = g.random(m) < 0.38
        else:
            age = 20 + 45 * g.beta(1.7, 1.0, m)
            male = g.random(m) < 0.55
        return sizes, np.zeros(m, int), np.zeros(m, int), age, male
    if htype in ("couple_older", "couple_young"):
        sizes = np.full(m, 2)
        if htype == "couple_older":
            a1 = clip(65 + g.gamma(2.0, 5.5, m), 65, 103)
            a2 = clip(a1 + g.normal(-2, 3, m), 58, 104)
        else:
            a1 = 22 + 43 * g.beta(1.5, 1.0, m)
            a2 = clip(a1 + g.normal(-2, 4, m), 19, 70)
        same = g.random(m) < 0.05
        m1 = np.where(same, g.random(m) < 0.5, True)
        m2 = np.where(same, m1, False)
        age = np.stack([a1, a2], 1).ravel()
        male = np.stack([m1, m2], 1).ravel()
        role = np.tile([0, 1], m)
        return sizes, role, np.tile([0, 1], m), age, male
    if htype in ("couple_dep_children", "couple_nondep_children", "lone_parent"):
        if htype == "couple_dep_children":
            nc = g.choice([1, 2, 3, 4], m, p=[0.40, 0.42, 0.14, 0.04])
            a1 = clip(28 + g.gamma(4, 3.2, m), 24, 64)
            a2 = clip(a1 - 2 + g.normal(0, 3, m), 21, 56)
            nadult = 2
        elif htype == "couple_nondep_children":
            nc = g.choice([1, 2], m, p=[0.65, 0.35])
            a1 = clip(48 + g.gamma(3, 3.5, m), 46, 80)
            a2 = clip(a1 - 2 + g.normal(0, 3, m), 44, 78)
            nadult = 2
        else:
            nc = g.choice([1, 2, 3], m, p=[0.5, 0.35, 0.15])
            a1 = clip(22 + g.gamma(4, 3.0, m), 20, 65)
            a2 = a1
            nadult = 1
        sizes = nadult + nc
        hh = np.repeat(np.arange(m), sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        rank = np.arange(len(hh)) - starts[hh]
        is_child = rank >= nadult
        mother_age = a2[hh]
        if htype == "couple_nondep_children":
            hi = np.minimum(34, mother_age - 18)
            cage = 18 + g.random(len(hh)) * np.maximum(hi - 18, 0.5)
        else:
            dep = np.ones(len(hh), bool)
            if htype == "lone_parent":
                dep = np.repeat(g.random(m) < 0.75, sizes) | (mother_age < 36)
            hi_dep = np.minimum(18, mother_age - 17)
            cage_dep = g.random(len(hh)) * np.maximum(hi_dep, 0.5)
            hi_nd = np.minimum(30, mother_age - 18)
            cage_nd = 18 + g.random(len(hh)) * np.maximum(hi_nd - 18, 0.5)
            cage = np.where(dep, cage_dep, cage_nd)
        age = np.where(rank == 0, a1[hh], np.where(rank == 1, a2[hh], cage))
        if nadult == 1:
            age = np.where(rank == 0, a1[hh], cage)
        male_c = g.random(len(hh)) < 0.512
        if nadult == 2:
            same = np.repeat(g.random(m) < 0.04, sizes)
            male = np.where(rank == 0, True, np.where(rank == 1, same, male_c))
        else:
            male = np.where(rank == 0, np.repeat(g.random(m) < 0.12, sizes), male_c)
        role = np.where(is_child, 2, rank)
        return sizes, role, rank, age, male
    if htype == "multigenerational":
        sizes = np.full(m, 3)
        a1 = g.uniform(38, 60, m)
        a2 = clip(a1 + g.normal(-2, 3, m), 35, 62)
        a3 = clip(a1 + 26 + g.gamma(2, 3, m), 66, 102)
        age = np.stack([a1, a2, a3], 1).ravel()
        male = np.stack([np.ones(m, bool), np.zeros(m, bool), g.random(m) < 0.3], 1).ravel()
        return sizes, np.tile([0, 1, 4], m), np.tile([0, 1, 2], m), age, male
    # sharers and students: unrelated adults
    if htype == "sharers":
        sizes = g.choice([2, 3, 4], m, p=[0.45, 0.4, 0.15])
        lo, hi = 21, 40
    else:
        sizes = g.choice([3, 4, 5, 6], m, p=[0.25, 0.35, 0.25, 0.15])
        lo, hi = 18, 23.9
    n = int(sizes.sum())
    hh = np.repeat(np.arange(m), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(n) - starts[hh]
    age = g.uniform(lo, hi, n)
    role = np.where(rank == 0, 0, 3)
    return sizes, role, rank, age, g.random(n) < 0.5


def _first_names(rng, male: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    era = np.where(birth_year < 1960, "old", np.where(birth_year < 1990, "mid", "young"))
    out = np.empty(len(male), dtype=object)
    for sex in ("F", "M"):
        for e in ("old", "mid", "young"):
            sel = np.flatnonzero((male if sex == "M" else ~male) & (era == e))
            lst = np.array(names.FIRST_NAMES[(sex, e)], dtype=object)
            out[sel] = lst[weighted_choice(rng, len(sel), len(lst), 0.9)]
    return out


def make_nhs_numbers(rng, n: int) -> np.ndarray:
    """Unique valid 10-digit NHS numbers starting with 9 (a range never issued to patients)."""
    raw = rng.choice(100_000_000, size=int(n * 1.12) + 64, replace=False).astype(np.int64)
    first9 = 900_000_000 + raw
    check = nhs_check_digit(first9)
    ok = check != 10
    nums = first9[ok] * 10 + check[ok]
    return nums[:n]


def make_population(rng, n_people: int) -> Population:
    """``n_people`` residents in households, with names, identifiers, deaths and health.

    The steps draw from ``rng`` in a fixed order (households, twins, surnames, given names,
    ethnicity, NHS numbers, phones, deaths, health, double-barrelled surnames): the same seed
    gives the same people.
    """
    hh, htype, role, rank, age, male = _household_members(rng, n_people)
    n_h = len(htype)
    dob, age_years, twin_of = _dates_of_birth(rng, hh, htype, role, rank, age)
    sn = _surnames(rng, hh, htype, role, age, male)
    forename, middle = _given_names(rng, male, dob)
    eth = _ethnicity(rng, hh, n_h)
    nhs = make_nhs_numbers(rng, n_people)
    phone = _phones(rng, hh, n_h, age)
    died, death_date = _deaths(rng, age, dob)
    alive = ~died
    living = np.bincount(hh, weights=alive, minlength=n_h)
    lives_alone = alive & (living[hh] == 1)
    health = _health(rng, age, lives_alone)
    surname = _double_barrelled(rng, hh, n_h, role, male, sn)
    sn_arr = np.array(names.SURNAMES, dtype=object)
    p = {
        "household": hh,
        "role": role,
        "age": age_years,
        "dob": dob,
        "male": male,
        "forename": forename,
        "middle": middle,
        "surname": surname,
        "maiden_surname": np.where(sn.maiden >= 0, sn_arr[np.maximum(sn.maiden, 0)], ""),
        "recent_surname_change": sn.recent_change,
        "twin_of": twin_of,
        "ethnic": eth,
        "nhs": nhs,
        "phone": phone,
        "died": died,
        "death_date": death_date,
        "lives_alone": lives_alone,
        **health,
    }
    h = {
        "type": htype,
        "size": np.bincount(hh, minlength=n_h),
        "living": living.astype(np.int64),
    }
    return Population(p, h)


def _household_members(rng, n_people: int):
    """Households of each type and their members, cut to exactly ``n_people``.

    Returns (household, type, role, rank, age, male): per person the household index, role
    (see ``_members``), rank within the household, age in years (fractional) and sex; the
    household type index per household.
    """
    shares = np.array([s for _, s in HOUSEHOLD_TYPES])
    est_h = int(n_people / 2.3 * 1.08) + 16
    htype = rng.choice(len(shares), est_h, p=shares / shares.sum())
    parts = []
    for t, name in enumerate(HTYPE_NAMES):
        hs = np.flatnonzero(htype == t)
        if len(hs) == 0:
            continue
        sizes, role, rank, age, male = _members(rng, name, len(hs))
        parts.append((hs, sizes, role, rank, age, male))
    # order members by household id
    hh_all = np.concatenate([np.repeat(hs, sizes) for hs, sizes, *_ in parts])
    order = np.argsort(hh_all, kind="stable")
    cat = {
        k: np.concatenate([p[i] for p in parts])[order]
        for i, k in ((2, "role"), (3, "rank"), (4, "age"), (5, "male"))
    }
    hh = hh_all[order]
    # cut to exactly n_people (the last household is truncated)
    hh, role, rank, age, male = (
        hh[:n_people],
        cat["role"][:n_people],
        cat["rank"][:n_people],
        cat["age"][:n_people],
        cat["male"][:n_people].astype(bool),
    )
    n_h = int(hh[-1]) + 1
    return hh, htype[:n_h], role, rank, age, male


def _dates_of_birth(rng, hh, htype, role, rank, age):
    """(dob, whole years of age, twin_of) per person; twin_of is -1 for all but twins.

    Twins: in some households with dependent children the second child copies the first
    child's date of birth.
    """
    n, n_h = len(hh), len(htype)
    age_days = np.floor(age * 365.25).astype(np.int64)
    dob = REF_DATE - age_days
    age_years = ((REF_DATE - dob).astype(np.int64) / 365.25).astype(np.int64)

    first_child = (role == 2) & (np.concatenate([[True], role[:-1] != 2]) | (rank == 0))
    second_child = np.zeros(n, bool)
    second_child[1:] = (role[1:] == 2) & first_child[:-1] & (hh[1:] == hh[:-1])
    t_of_h = htype[hh]
    dep_types = np.isin(
        t_of_h, [HTYPE_NAMES.index("couple_dep_children"), HTYPE_NAMES.index("lone_parent")]
    )
    twin_h = rng.random(n_h) < TWIN_RATE
    twin2 = second_child & dep_types & twin_h[hh] & (age < 18)
    idx2 = np.flatnonzero(twin2)
    dob[idx2] = dob[idx2 - 1]
    age_years[idx2] = age_years[idx2 - 1]
    twin_of = np.full(n, -1, dtype=np.int64)
    twin_of[idx2] = idx2 - 1
    twin_of[idx2 - 1] = idx2
    return dob, age_years, twin_of


@dataclass
class _Surnames:
    """Surnames as indices into ``names.SURNAMES``."""

    surname: np.ndarray  # per person: the surname used
    own: np.ndarray  # per person: the surname a partner was born with
    maiden: np.ndarray  # per person: the surname before taking the household's, or -1
    recent_change: np.ndarray  # per person: took the household's surname recently
    takes: np.ndarray  # per person: a partner who took the household's surname
    household: np.ndarray  # per household: its surname
    child_other: np.ndarray  # per household: its children carry another surname


def _surnames(rng, hh, htype, role, age, male) -> _Surnames:
    """The household surname for heads, most partners, children and some older parents."""
    n, n_h = len(hh), len(htype)
    n_sn = len(names.SURNAMES)
    h_surname = weighted_choice(rng, n_h, n_sn, 0.85)
    own_surname = weighted_choice(rng, n, n_sn, 0.85)
    surname = np.where(role == 0, h_surname[hh], own_surname)
    maiden = np.full(n, -1, dtype=np.int64)
    recent_change = np.zeros(n, bool)
    # partners: most opposite-sex partners share the household surname
    partner = role == 1
    opp = partner & (male != male[np.maximum(np.arange(n) - 1, 0)])
    takes = opp & (rng.random(n) < 0.72)
    maiden[takes] = own_surname[takes]
    surname[takes] = h_surname[hh][takes]
    recent = takes & (age < 60) & (rng.random(n) < 0.06)
    recent_change[recent] = True
    # children: household surname, or for some a different father's surname
    child = role == 2
    h_child_other = rng.random(n_h) < np.where(htype == HTYPE_NAMES.index("lone_parent"), 0.4, 0.08)
    h_child_sn = np.where(h_child_other, weighted_choice(rng, n_h, n_sn, 0.85), h_surname)
    surname[child] = h_child_sn[hh][child]
    older_parent = role == 4
    shares_sn = older_parent & (rng.random(n) < 0.5)
    surname[shares_sn] = h_surname[hh][shares_sn]
    return _Surnames(surname, own_surname, maiden, recent_change, takes, h_surname, h_child_other)


def _double_barrelled(rng, hh, n_h: int, role, male, sn: _Surnames) -> np.ndarray:
    """Surnames as text; where parents have different surnames some children carry both."""
    n = len(hh)
    sn_arr = np.array(names.SURNAMES, dtype=object)
    surname_str = sn_arr[sn.surname]
    partner_own = np.full(n_h, -1, dtype=np.int64)
    kept = (role == 1) & ~sn.takes & (male != male[np.maximum(np.arange(n) - 1, 0)])
    partner_own[hh[kept]] = sn.own[kept]
    h_double = (partner_own >= 0) & (rng.random(n_h) < 0.15) & ~sn.child_other
    dbl = (role == 2) & h_double[hh]
    surname_str[dbl] = (
        sn_arr[sn.household[hh[dbl]]] + "-" + sn_arr[np.maximum(partner_own[hh[dbl]], 0)]
    )
    return surname_str


def _given_names(rng, male, dob) -> tuple[np.ndarray, np.ndarray]:
    """(forename, middle name or '') by sex and the era of birth."""
    birth_year = dob.astype("datetime64[Y]").astype(np.int64) + 1970
    forename = _first_names(rng, male, birth_year)
    middle = _first_names(rng, male, birth_year)
    middle[rng.random(len(male)) < 0.45] = ""
    same = middle == forename
    middle[same] = ""
    return forename, middle


def _ethnicity(rng, hh, n_h: int) -> np.ndarray:
    """NHS ethnic category per person: mostly the household's, one in ten their own."""
    p = ETHNIC_SHARES / ETHNIC_SHARES.sum()
    h_eth = ETHNIC_CODES[rng.choice(len(ETHNIC_CODES), n_h, p=p)]
    eth = h_eth[hh]
    own = rng.random(len(hh)) < 0.1
    eth[own] = ETHNIC_CODES[rng.choice(len(ETHNIC_CODES), int(own.sum()), p=p)]
    return eth


def _phones(rng, hh, n_h: int, age) -> np.ndarray:
    """A mobile for most people aged 12+, else the household's landline if any, else ''."""
    n = len(hh)
    has_mobile = (age >= 12) & (rng.random(n) < 0.82)
    mobile = np.char.add("07700 900", np.char.zfill(rng.integers(0, 1000, n).astype(str), 3))
    h_landline = np.char.add("01632 960", np.char.zfill(rng.integers(0, 1000, n_h).astype(str), 3))
    h_has_land = rng.random(n_h) < 0.45
    return np.where(has_mobile, mobile, np.where(h_has_land[hh], h_landline[hh], ""))


def _deaths(rng, age, dob) -> tuple[np.ndarray, np.ndarray]:
    """(died, death_date): deaths in the last year, Gompertz-like annual mortality."""
    n = len(age)
    q = np.minimum(0.5, np.exp(-10.2 + 0.092 * age))
    died = rng.random(n) < q
    death_date = np.where(died, REF_DATE - rng.integers(1, 366, n), np.datetime64("NaT"))
    death_date = death_date.astype("datetime64[D]")
    death_date = np.where(died & (death_date <= dob), dob + 1, death_date)
    return died, death_date


def _health(rng, age, lives_alone) -> dict[str, np.ndarray]:
    """Health and care latents per person: frailty score, conditions, a care package."""
    n = len(age)
    adult = age >= 18
    cfs = 1 + np.maximum(age - 55, 0) / 9 + rng.normal(0, 1.0, n) + 0.5
    cfs = np.clip(np.round(cfs), 1, 9).astype(np.int64)
    dementia = rng.random(n) < _sigmoid(-9.8 + 0.092 * age)
    home_oxygen = adult & (rng.random(n) < _sigmoid(-9.0 + 0.055 * age + 0.35 * (cfs - 3)))
    smoker = adult & (rng.random(n) < np.where(age >= 65, 0.08, 0.14))
    mobility = rng.random(n) < _sigmoid(-6.5 + 0.05 * age + 0.6 * (cfs - 4))
    hearing = rng.random(n) < _sigmoid(-7.5 + 0.075 * age)
    sight = rng.random(n) < _sigmoid(-8.5 + 0.07 * age)
    mental_health = adult & (rng.random(n) < 0.04)
    learning_dis = rng.random(n) < 0.005
    dialysis = adult & (rng.random(n) < 0.0008)
    care_pkg = adult & (
        rng.random(n)
        < _sigmoid(-4.3 + 0.6 * (cfs - 3) + 0.9 * dementia + 0.4 * lives_alone + 3.0 * learning_dis)
    )
    return {
        "cfs": cfs,
        "dementia": dementia,
        "home_oxygen": home_oxygen,
        "smoker": smoker,
        "mobility": mobility,
        "hearing": hearing,
        "sight": sight,
        "mental_health": mental_health,
        "learning_disability": learning_dis,
        "dialysis": dialysis,
        "care_package": care_pkg,
    }


def settle_households(rng, pop: Population, settlements, worcester_index: int) -> np.ndarray:
    """Choose a settlement for each household (students all in Worcester)."""
    shares = np.array([s.share for s in settlements])
    n_h = len(pop.h["type"])
    stud = pop.h["type"] == HTYPE_NAMES.index("students")
    w = shares / shares.sum()
    # households are ~the same size everywhere, so settle proportionally to population share
    out = rng.choice(len(settlements), n_h, p=w)
    out[stud] = worcester_index
    return out


def place_households(
    rng, pop: Population, h_settle: np.ndarray, prop_settle: np.ndarray, geo_props
):
    """Assign each household a property in its settlement; record earlier addresses of movers."""
    n_h = len(h_settle)
    h_prop = np.full(n_h, -1, dtype=np.int64)
    order = np.argsort(prop_settle, kind="stable")
    n_settle = int(max(prop_settle.max(), h_settle.max())) + 1
    bounds = np.searchsorted(prop_settle[order], np.arange(n_settle + 1))
    for s in np.unique(h_settle):
        hs = np.flatnonzero(h_settle == s)
        props = order[bounds[s] : bounds[s + 1]]
        h_prop[hs] = rng.permutation(props)[: len(hs)]
    n_props = len(prop_settle)
    moved = rng.random(n_h) < 0.12
    moved |= pop.h["type"] == HTYPE_NAMES.index("students")
    prev = np.full(n_h, -1, dtype=np.int64)
    same_d = rng.random(n_h) < 0.7
    cand = rng.integers(0, n_props, n_h)
    dist = geo_props["district"]
    # within-district moves: pick a random property of the same district
    for d in np.unique(dist):
        dprops = np.flatnonzero(dist == d)
        sel = np.flatnonzero(moved & same_d & (dist[np.maximum(h_prop, 0)] == d))
        cand[sel] = dprops[rng.integers(0, len(dprops), len(sel))]
    cand = np.where(cand == h_prop, (cand + 1) % n_props, cand)
    prev[moved] = cand[moved]
    move_date = np.where(moved, REF_DATE - rng.integers(20, 1096, n_h), np.datetime64("NaT"))
    pop.h["property"] = h_prop
    pop.h["prev_property"] = prev
    pop.h["move_date"] = move_date.astype("datetime64[D]")
    pop.h["settlement"] = h_settle
    pop.p["property"] = h_prop[pop.p["household"]]
    pop.p["prev_property"] = prev[pop.p["household"]]
    return pop

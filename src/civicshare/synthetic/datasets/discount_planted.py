"""Council tax single person discount cases planted with truth, and the noise around them.

Drawn once, before the GP register and the district files, because both carry them:

- ``partner_moved_in``: a couple's household whose account still has the discount; the partner
  moved in months ago, after the account holder's liability began, and registered with a GP
  and (usually) on the electoral register at the property. Another adult lives there.
- ``adult_child_stayed``: a parent's account kept the discount after a child living there
  turned 18 (the discount was due while the child was a minor). Another adult lives there.
- ``stale_elector``: at a genuine single-adult property, an elector from another household is
  still registered, since before the account holder's liability began (a previous occupant).
- ``lodger_left``: at a genuine single-adult property, a GP register still shows an adult who
  lodged there years ago and has moved on (a ghost registration).

Besides these, every district file keeps its natural noise: the account holder's own elector
and GP records, 17-year-old attainers, stale addresses and retained deceased residents. Truth:
``spd_case`` in ``truth/council-tax-<district>.parquet`` and ``truth/council-tax-planted.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..common import REF_DATE, rng_for
from ..people import HTYPE_NAMES
from .base import Context

GENUINE = ("partner_moved_in", "adult_child_stayed")
NOISE = ("stale_elector", "lodger_left")
PARTNER_MOVED_IN_RATE = 0.08  # of two-adult couples' accounts
ADULT_CHILD_RATE = 0.5  # of one parent and one adult child accounts
STALE_ELECTOR_RATE = 0.05  # of genuine single-adult accounts
LODGER_LEFT_RATE = 0.04  # of genuine single-adult accounts
DAY = np.timedelta64(1, "D")


@dataclass
class DiscountPlan:
    """What the GP register and the district files need to agree on."""

    since: np.ndarray  # per household: the account holder's liability start
    spd_case: np.ndarray  # per household: a GENUINE/NOISE kind or ""
    arrival: dict[int, np.datetime64] = field(default_factory=dict)  # person -> moved in
    # person -> (property they are wrongly registered at, registration date)
    stale_electors: dict[int, tuple[int, np.datetime64]] = field(default_factory=dict)
    ghost_gp: dict[int, tuple[int, np.datetime64]] = field(default_factory=dict)

    @property
    def false_discount(self) -> np.ndarray:
        """Households whose account has the discount though another adult lives there."""
        return np.isin(self.spd_case, GENUINE)


def _days(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    return rng.integers(low, high, n) * DAY


def plan_discount_cases(ctx: Context) -> DiscountPlan:
    P = ctx.pop.p
    H = ctx.pop.h
    n_h = len(H["type"])
    rng = rng_for(ctx.seed, "plant:council-tax")
    tenure = rng_for(ctx.seed, "select:tenure")
    tenancy_start = REF_DATE - tenure.integers(30, 365 * 30, n_h) * DAY
    since = np.where(np.isnat(H["move_date"]), tenancy_start, H["move_date"]).astype(
        "datetime64[D]"
    )
    hh = P["household"]
    alive_adult = (P["age"] >= 18) & ~P["died"]
    n_adults = np.bincount(hh, weights=alive_adult, minlength=n_h).astype(np.int64)
    student = H["type"] == HTYPE_NAMES.index("students")
    spd_case = np.full(n_h, "", dtype=object)
    plan = DiscountPlan(since=since, spd_case=spd_case)

    # partner moved in: a living head and partner, no other adult
    partner_of = np.full(n_h, -1, dtype=np.int64)
    pidx = np.flatnonzero((P["role"] == 1) & ~P["died"])
    partner_of[hh[pidx]] = pidx
    head_alive = np.zeros(n_h, bool)
    hidx = np.flatnonzero((P["role"] == 0) & ~P["died"] & (P["age"] >= 18))
    head_alive[hh[hidx]] = True
    couples = np.flatnonzero(head_alive & (partner_of >= 0) & (n_adults == 2) & ~student)
    chosen = couples[rng.random(len(couples)) < PARTNER_MOVED_IN_RATE]
    arrival = REF_DATE - _days(rng, 60, 1000, len(chosen))
    since[chosen] = arrival - _days(rng, 365, 4000, len(chosen))
    spd_case[chosen] = "partner_moved_in"
    for h, day in zip(chosen, arrival, strict=True):
        plan.arrival[int(partner_of[h])] = day

    # adult child stayed: one parent and one child aged 18-30, nobody else adult
    child_adult = np.flatnonzero((P["role"] == 2) & alive_adult & (P["age"] <= 30))
    by_house = np.full(n_h, -1, dtype=np.int64)
    by_house[hh[child_adult]] = child_adult
    parents = np.flatnonzero(head_alive & (by_house >= 0) & (n_adults == 2) & ~student)
    parents = parents[spd_case[parents] == ""]
    chosen = parents[rng.random(len(parents)) < ADULT_CHILD_RATE]
    child = by_house[chosen]
    eighteen = P["dob"][child] + 6574 * DAY  # 18 years
    since[chosen] = np.minimum(since[chosen], eighteen - _days(rng, 365, 3000, len(chosen)))
    spd_case[chosen] = "adult_child_stayed"

    # noise at genuine single-adult accounts
    single = np.flatnonzero((n_adults == 1) & ~student & (spd_case == ""))
    adults = np.flatnonzero(alive_adult)
    stale = single[rng.random(len(single)) < STALE_ELECTOR_RATE]
    others = adults[rng.integers(0, len(adults), len(stale))]
    registered = since[stale] - _days(rng, 200, 3000, len(stale))
    for h, person, day in zip(stale, others, registered, strict=True):
        if hh[person] != h and int(person) not in plan.stale_electors:
            plan.stale_electors[int(person)] = (int(H["property"][h]), day)
            spd_case[h] = "stale_elector"
    lodger = single[rng.random(len(single)) < LODGER_LEFT_RATE]
    lodger = lodger[(spd_case[lodger] == "") & (since[lodger] < REF_DATE - 1400 * DAY)]
    others = adults[rng.integers(0, len(adults), len(lodger))]
    for h, person in zip(lodger, others, strict=True):
        # registered after the holder's liability began, and more than 3.5 years ago
        low = int((since[h] - REF_DATE) / DAY) + 30
        day = REF_DATE + int(rng.integers(low, -1300)) * DAY
        if hh[person] != h and int(person) not in plan.ghost_gp:
            plan.ghost_gp[int(person)] = (int(H["property"][h]), day)
            spd_case[h] = "lodger_left"
    return plan


def registration_dates(ctx: Context, plan: DiscountPlan, person: np.ndarray) -> np.ndarray:
    """When each elector registered at their own address: when they moved in (or their
    attainment at 17), a few weeks later; planted arrivals on their arrival."""
    P = ctx.pop.p
    rng = rng_for(ctx.seed, "electoral:registered")
    since = plan.since[P["household"][person]]
    seventeen = P["dob"][person] + 6209 * DAY
    day = np.maximum(since, seventeen) + _days(rng, 0, 60, len(person))
    for i, p in enumerate(person):
        if int(p) in plan.arrival:
            day[i] = plan.arrival[int(p)] + int(rng.integers(0, 90)) * DAY
    return np.minimum(day, REF_DATE - DAY)


def occupant_since(ctx: Context, plan: DiscountPlan) -> np.ndarray:
    """Per property: when the household living there now began its liability (NaT if empty)."""
    H = ctx.pop.h
    out = np.full(len(ctx.geo.properties["uprn"]), np.datetime64("NaT"), dtype="datetime64[D]")
    out[H["property"]] = plan.since
    return out


def before_occupant(
    ctx: Context, plan: DiscountPlan, prop: np.ndarray, day: np.ndarray, stage: str
) -> np.ndarray:
    """A registration at a property a resident has left predates whoever lives there now."""
    occupied = occupant_since(ctx, plan)[prop]
    rng = rng_for(ctx.seed, stage)
    earlier = occupied - _days(rng, 30, 2000, len(prop))
    return np.where(np.isnat(occupied), day, np.minimum(day, earlier))


def plant_discount(ctx: Context) -> None:
    """Draw the plan (used by the GP register and the district files) and write its summary."""
    from .truth import dump_json

    plan = plan_discount_cases(ctx)
    ctx.discount = plan
    counts = {kind: int((plan.spd_case == kind).sum()) for kind in (*GENUINE, *NOISE)}
    dump_json(
        {
            "description": "Households whose council tax account has a single person discount "
            "planted for the review to find (genuine) or to leave alone (noise); per account "
            "in truth/council-tax-<district>.parquet (spd_case, other_adult).",
            "genuine": list(GENUINE),
            "noise": list(NOISE),
            "households": counts,
        },
        ctx.out / "truth" / "council-tax-planted.json",
    )

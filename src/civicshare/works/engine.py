"""The works co-ordination engine: clashes, their severity, Section 58 restrictions and
collaboration opportunities among planned works. Pure: works in, a `Coordination` out.

Exact, and fast without a loop over pairs (docs/decisions/0018-works-coordination-engine.md):

* works on one street or path: sorted by (street, start date), each work's overlapping
  successors are a contiguous run found with `searchsorted`;
* works near each other: shapely's STRtree proposes pairs within the tolerance plus a metre
  of slack, and shapely's exact `distance <= tolerance` decides;
* diversions: the tree of closed works' locations proposes, `routed_onto` decides;
* dates: whole days as integers, compared as numpy arrays (both ends inclusive).

`works.brute` checks every pair with the same predicates and no index; the benchmark and the
property tests demand identical results.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import shapely
from shapely import STRtree

from civicshare.works.models import (
    TRAFFIC_MANAGEMENT_TYPES,
    Clash,
    Coordination,
    Opportunity,
    Restriction,
    TrafficCounts,
    Work,
)

DEFAULT_TOLERANCE_M = 25.0
# A diversion is routed onto a closed street or path when it comes within DIVERSION_NEAR_M of
# the closed location along at least DIVERSION_SHARED_M of its length (less for a location
# shorter than that; a point closure only needs the diversion within DIVERSION_NEAR_M).
DIVERSION_NEAR_M = 2.0
DIVERSION_SHARED_M = 10.0
# The index proposes with this much more than the tolerance; the exact distance decides.
SLACK_M = 1.0

# Severity points (docs/works.md, "Severity"): each work's traffic management, the streets'
# traffic sensitivity and the busiest hourly count on either street during the overlap.
TRAFFIC_MANAGEMENT_POINTS = {
    "road_closure": 4,
    "contra_flow": 3,
    "convoy_workings": 3,
    "multi_way_signals": 3,
    "lane_closure": 2,
    "two_way_signals": 2,
    "stop_go_boards": 2,
    "priority_working": 1,
    "give_and_take": 1,
    "some_c_way_incursion": 1,
    "no_c_way_incursion": 0,
}
TRAFFIC_SENSITIVE_POINTS = 2
# (vehicles in the busiest hour at least, points), highest first.
TRAFFIC_COUNT_POINTS = ((1000, 3), (500, 2), (200, 1))
HIGH_FROM_POINTS = 8
MEDIUM_FROM_POINTS = 4
# Section 58: major works whose activity names one of these protect their street.
SECTION_58_ACTIVITIES = ("resurfacing", "reconstruction")
assert set(TRAFFIC_MANAGEMENT_POINTS) == set(TRAFFIC_MANAGEMENT_TYPES)


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()  # numpy's datetime64 day 0


def day_number(value: date) -> int:
    return value.toordinal()


class WorksArrays:
    """The works sorted by reference (so index order is reference order), as numpy arrays."""

    def __init__(self, works: Sequence[Work]) -> None:
        self.works = tuple(sorted(works, key=lambda w: w.work_reference_number))
        self.references = refs = [w.work_reference_number for w in self.works]
        if len(set(refs)) != len(refs):
            seen: set[str] = set()
            twice = next(r for r in refs if r in seen or seen.add(r))
            raise ValueError(f"work_reference_number {twice} is given to more than one work")
        n = len(self.works)
        self.size = n
        self.start = np.fromiter(
            (day_number(w.proposed_start_date) for w in self.works), np.int64, n
        )
        self.end = np.fromiter((day_number(w.proposed_end_date) for w in self.works), np.int64, n)
        self.usrn = np.fromiter((-1 if w.usrn is None else w.usrn for w in self.works), np.int64, n)
        paths = [w.path_id for w in self.works]
        codes = {p: i for i, p in enumerate(sorted({p for p in paths if p is not None}))}
        self.path = np.fromiter((-1 if p is None else codes[p] for p in paths), np.int64, n)
        self.street_names = [w.street_name for w in self.works]
        self.location = np.array([w.location for w in self.works], dtype=object)
        self.excavation = np.fromiter((w.excavation for w in self.works), bool, n)
        self.closure = np.fromiter((w.closure for w in self.works), bool, n)
        self.immediate = np.fromiter((w.works_category == "immediate" for w in self.works), bool, n)
        self.traffic_sensitive = np.fromiter((w.traffic_sensitive for w in self.works), bool, n)
        self.tm_points = np.fromiter(
            (TRAFFIC_MANAGEMENT_POINTS[w.traffic_management_type] for w in self.works), np.int64, n
        )
        self.has_diversion = np.fromiter(
            (w.diversion_route is not None for w in self.works), bool, n
        )

    def overlapping(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Whether the date windows of works i and j share a day (element by element)."""
        return (self.start[i] <= self.end[j]) & (self.start[j] <= self.end[i])


def routed_onto(diversions: np.ndarray, closed: np.ndarray) -> np.ndarray:
    """Whether each diversion route is routed onto the closed location beside it: it comes
    within DIVERSION_NEAR_M of it and at least min(DIVERSION_SHARED_M, the location's extent)
    of the route lies within DIVERSION_NEAR_M of it. The extent is a line's length, a
    polygon's widest span (the diameter of its minimum bounding circle) and 0 for a point."""
    diversions = np.asarray(diversions, dtype=object)
    closed = np.asarray(closed, dtype=object)
    if diversions.size == 0:
        return np.zeros(0, bool)
    near = shapely.distance(diversions, closed) <= DIVERSION_NEAR_M
    polygonal = np.isin(shapely.get_type_id(closed), (3, 6))
    extent = np.where(
        polygonal, 2 * shapely.minimum_bounding_radius(closed), shapely.length(closed)
    )
    needed = np.minimum(DIVERSION_SHARED_M, extent)
    result = near.copy()
    check = near & (needed > 0)
    if check.any():
        zone = shapely.buffer(closed[check], DIVERSION_NEAR_M)
        shared = shapely.length(shapely.intersection(diversions[check], zone))
        result[check] = shared >= needed[check]
    return result


# ---- candidate pairs -----------------------------------------------------------------------


def expand_runs(first: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs [first[k], stop[k]), the pairs (k, position) of every position in each run."""
    counts = np.maximum(stop - first, 0)
    owners = np.repeat(np.arange(first.size), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return owners, np.repeat(first, counts) + offsets


def keyed_runs(
    arrays: WorksArrays, key: np.ndarray, members: np.ndarray, low: int | None, high: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) of member works with the same key whose j starts from `low` days after i
    ends (or, with low None, from i's own place in the order) to `high` days after i ends.
    With low None and high 0 these are the same-key works whose windows overlap."""
    members = members[key[members] >= 0]
    if members.size < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    base = arrays.start.min()
    span = int(arrays.end.max() - base) + abs(high) + 2
    start = arrays.start[members] - base
    order = np.lexsort((start, key[members]))
    members = members[order]
    sorted_key = key[members] * span + start[order]
    ends = key[members] * span + (arrays.end[members] - base)
    if low is None:  # from the next work in the order: same or later start
        first = np.arange(1, members.size + 1)
    else:
        first = np.searchsorted(sorted_key, ends + low, side="left")
    stop = np.searchsorted(sorted_key, ends + high, side="right")
    owners, positions = expand_runs(first, stop)
    return members[owners], members[positions]


def grown_boxes(geometries: np.ndarray, reach: float) -> np.ndarray:
    """Each geometry's bounding box grown by `reach` on every side. The tree is queried with
    these, boxes only: every shape within `reach` is proposed, and GEOS's own `dwithin`
    predicate is not used (it costs more than all the rest on every spatial candidate, and
    misses a closed location that is a zero-length line, which the property test found)."""
    x0, y0, x1, y1 = shapely.bounds(geometries).T
    return shapely.box(x0 - reach, y0 - reach, x1 + reach, y1 + reach)


def near_pairs(arrays: WorksArrays, tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs i < j on overlapping days whose locations are within tolerance_m (exactly)."""
    tree = STRtree(arrays.location)
    i, j = tree.query(grown_boxes(arrays.location, tolerance_m + SLACK_M))
    keep = i < j
    i, j = i[keep], j[keep]
    keep = arrays.overlapping(i, j)
    i, j = i[keep], j[keep]
    keep = shapely.distance(arrays.location[i], arrays.location[j]) <= tolerance_m
    return i[keep], j[keep]


def diversion_pairs(arrays: WorksArrays) -> tuple[np.ndarray, np.ndarray]:
    """(diverted work, closed work) pairs on overlapping days where the first's diversion
    route is routed onto the second's location."""
    diverted = np.flatnonzero(arrays.has_diversion)
    closed = np.flatnonzero(arrays.closure)
    if diverted.size == 0 or closed.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    routes = np.array([arrays.works[k].diversion_route for k in diverted], dtype=object)
    tree = STRtree(arrays.location[closed])
    d, c = tree.query(grown_boxes(routes, DIVERSION_NEAR_M + SLACK_M))
    a, b = diverted[d], closed[c]
    keep = (a != b) & arrays.overlapping(a, b)
    a, b, d = a[keep], b[keep], d[keep]
    keep = routed_onto(routes[d], arrays.location[b])
    return a[keep], b[keep]


def pair_codes(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """One int64 per unordered pair, smaller index first."""
    return np.minimum(i, j).astype(np.int64) * n + np.maximum(i, j)


# ---- clashes, their kind and severity -------------------------------------------------------


def clashes_from_pairs(
    arrays: WorksArrays,
    codes: np.ndarray,
    diversion_codes: np.ndarray,
    traffic: TrafficCounts | None = None,
) -> list[Clash]:
    """The clashes of the given pair codes (unique, sorted), in reference order of (a, b)."""
    n = max(arrays.size, 1)
    i, j = codes // n, codes % n
    diverted = np.isin(codes, diversion_codes)
    same = ((arrays.usrn[i] == arrays.usrn[j]) & (arrays.usrn[i] >= 0)) | (
        (arrays.path[i] == arrays.path[j]) & (arrays.path[i] >= 0)
    )
    kinds = np.where(diverted, "diversion_onto_closure", np.where(same, "same_street", "nearby"))
    distance = np.round(shapely.distance(arrays.location[i], arrays.location[j]), 1)
    first = np.maximum(arrays.start[i], arrays.start[j])
    last = np.minimum(arrays.end[i], arrays.end[j])
    tm = arrays.tm_points[i] + arrays.tm_points[j]
    sensitive = arrays.traffic_sensitive[i] | arrays.traffic_sensitive[j]
    points = tm + np.where(sensitive, TRAFFIC_SENSITIVE_POINTS, 0)
    busiest = busiest_counts(arrays, i, j, first, last, traffic)
    points = points + np.fromiter((count_points(c) for c in busiest), np.int64, len(busiest))
    severity = np.where(
        diverted | (points >= HIGH_FROM_POINTS),
        "high",
        np.where(points >= MEDIUM_FROM_POINTS, "medium", "low"),
    )
    works = arrays.works
    tm_names = [work.traffic_management_type for work in works]
    refs = arrays.references
    days = ordinal_dates(np.concatenate([first, last]))
    columns = (i, j, kinds, severity, first, last, distance, points, diverted, sensitive)
    return [
        Clash(
            refs[a],
            refs[b],
            kind,
            level,
            days[start],
            days[end],
            metres,
            score,
            reasons(tm_names[a], tm_names[b], div, ts, count),
        )
        for a, b, kind, level, start, end, metres, score, div, ts, count in zip(
            *(column.tolist() for column in columns), busiest, strict=True
        )
    ]


def busiest_counts(arrays, i, j, first, last, traffic) -> list[int | None]:
    """The busiest hourly count on either work's street during each overlap (None: no counts),
    every overlap looked up at once."""
    if traffic is None:
        return [None] * len(i)
    start = (first - EPOCH_ORDINAL).astype("datetime64[D]")
    end = (last - EPOCH_ORDINAL).astype("datetime64[D]")
    found = np.maximum(
        traffic.busiest_hours(arrays.usrn[i], start, end),
        traffic.busiest_hours(arrays.usrn[j], start, end),
    )
    return [None if count < 0 else count for count in found.tolist()]


def count_points(vehicles: int | None) -> int:
    if vehicles is None:
        return 0
    return next((points for floor, points in TRAFFIC_COUNT_POINTS if vehicles >= floor), 0)


@lru_cache(maxsize=4096)
def reasons(tm_a: str, tm_b: str, diverted: bool, sensitive: bool, vehicles: int | None) -> tuple:
    """Why a clash has its severity, in words, one reason per scoring factor (a and b are the
    clash's two works)."""
    found = []
    if diverted:
        found.append("a diversion is routed onto a closure (always high)")
    for side, tm in (("a", tm_a), ("b", tm_b)):
        found.append(f"{side}: {tm} (+{TRAFFIC_MANAGEMENT_POINTS[tm]})")
    if sensitive:
        found.append(f"traffic-sensitive street (+{TRAFFIC_SENSITIVE_POINTS})")
    if vehicles is not None:
        found.append(f"busiest hour {vehicles} vehicles (+{count_points(vehicles)})")
    return tuple(found)


def find_clashes(
    arrays: WorksArrays, tolerance_m: float, traffic: TrafficCounts | None = None
) -> list[Clash]:
    everyone = np.arange(arrays.size)
    pieces = [
        keyed_runs(arrays, arrays.usrn, everyone, None, 0),
        keyed_runs(arrays, arrays.path, everyone, None, 0),
        near_pairs(arrays, tolerance_m),
    ]
    diverted = pair_codes(*diversion_pairs(arrays), arrays.size)
    codes = np.unique(
        np.concatenate([pair_codes(i, j, arrays.size) for i, j in pieces] + [diverted])
    )
    return clashes_from_pairs(arrays, codes, np.unique(diverted), traffic)


# ---- Section 58 and opportunities ------------------------------------------------------------


def protects_street(work: Work) -> bool:
    """Major works whose activity type names resurfacing or reconstruction, on a USRN."""
    activity = work.activity_type.casefold()
    return (
        work.works_category == "major"
        and work.usrn is not None
        and any(word in activity for word in SECTION_58_ACTIVITIES)
    )


def years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def find_restrictions(arrays: WorksArrays, restriction_years: int) -> list[Restriction]:
    """Excavating works, other than immediate ones, starting on a street in the protected
    period of a protecting work: from the day after it ends to `restriction_years` later."""
    protecting = [k for k, work in enumerate(arrays.works) if protects_street(work)]
    if not protecting:
        return []
    liable = np.flatnonzero(arrays.excavation & ~arrays.immediate & (arrays.usrn >= 0))
    if liable.size == 0:
        return []
    liable = liable[np.argsort(arrays.usrn[liable], kind="stable")]
    streets, first = np.unique(arrays.usrn[liable], return_index=True)
    by_street = dict(zip(streets.tolist(), np.split(liable, first[1:]), strict=True))
    found = []
    for k in protecting:
        guard = arrays.works[k]
        start = guard.proposed_end_date + timedelta(days=1)
        until = years_after(guard.proposed_end_date, restriction_years)
        on_street = by_street.get(guard.usrn, liable[:0])
        hit = on_street[
            (arrays.start[on_street] >= day_number(start))
            & (arrays.start[on_street] <= day_number(until))
            & (on_street != k)
        ]
        for m in hit:
            work = arrays.works[m]
            found.append(
                Restriction(
                    work.work_reference_number,
                    guard.usrn,
                    work.street_name or guard.street_name,
                    work.proposed_start_date,
                    guard.work_reference_number,
                    start,
                    until,
                )
            )
    return sorted(
        found, key=lambda r: (r.work_reference_number, r.protecting_work_reference_number)
    )


def find_opportunities(arrays: WorksArrays, opportunity_days: int) -> list[Opportunity]:
    """Excavating works (not immediate) on one USRN, b starting 1 to `opportunity_days` days
    after a ends. Suggested window: a's start, for the longer of the two durations."""
    members = np.flatnonzero(arrays.excavation & ~arrays.immediate)
    a, b = keyed_runs(arrays, arrays.usrn, members, 1, opportunity_days)
    days = np.maximum(arrays.end[a] - arrays.start[a], arrays.end[b] - arrays.start[b])
    order = np.lexsort((b, a, arrays.start[a], arrays.usrn[a]))
    a, b, days = a[order], b[order], days[order]
    gaps = arrays.start[b] - arrays.end[a]
    ends = arrays.start[a] + days
    when = ordinal_dates(np.concatenate([arrays.start[a], ends]))
    refs, streets = arrays.references, arrays.street_names
    return [
        Opportunity(usrn, streets[i] or streets[j], refs[i], refs[j], gap, when[start], when[end])
        for i, j, usrn, gap, start, end in zip(
            a.tolist(),
            b.tolist(),
            arrays.usrn[a].tolist(),
            gaps.tolist(),
            arrays.start[a].tolist(),
            ends.tolist(),
            strict=True,
        )
    ]


def ordinal_dates(days: np.ndarray) -> dict[int, date]:
    """Each distinct day number as a date, to look up rather than build per row."""
    return {day: date.fromordinal(day) for day in np.unique(days).tolist()}


def coordinate(
    works: Sequence[Work],
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    traffic: TrafficCounts | None = None,
    opportunity_days: int = 30,
    restriction_years: int = 5,
) -> Coordination:
    """Every clash, Section 58 restriction breach and collaboration opportunity among `works`
    (their references unique: ValueError otherwise)."""
    if not tolerance_m >= 0:
        raise ValueError("tolerance_m must be 0 or more metres")
    if opportunity_days < 0 or restriction_years < 0:
        raise ValueError("opportunity_days and restriction_years must be 0 or more")
    arrays = WorksArrays(works)
    return Coordination(
        works=arrays.works,
        clashes=tuple(find_clashes(arrays, tolerance_m, traffic)),
        opportunities=tuple(find_opportunities(arrays, opportunity_days)),
        restrictions=tuple(find_restrictions(arrays, restriction_years)),
        tolerance_m=tolerance_m,
    )

"""The plain data of works co-ordination: works in, clashes, opportunities and Section 58
restrictions out. No store and no HTTP: the engine (`engine.coordinate`) takes these and
returns these, so the CLI, the service and the benchmark share one exact implementation.

Geometry is shapely, in British National Grid (EPSG:27700) metres; dates are whole days.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

import numpy as np
from shapely.geometry.base import BaseGeometry

WORKS_CATEGORIES = ("major", "standard", "minor", "immediate")
# Street Manager's traffic management types, most disruptive first.
TRAFFIC_MANAGEMENT_TYPES = (
    "road_closure",
    "contra_flow",
    "convoy_workings",
    "multi_way_signals",
    "lane_closure",
    "two_way_signals",
    "stop_go_boards",
    "priority_working",
    "give_and_take",
    "some_c_way_incursion",
    "no_c_way_incursion",
)
CLASH_KINDS = ("diversion_onto_closure", "same_street", "nearby")
SEVERITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class Work:
    """One planned work, with Street Manager's field names."""

    work_reference_number: str
    promoter: str
    usrn: int | None
    path_id: str | None
    street_name: str | None
    works_category: str
    activity_type: str
    traffic_management_type: str
    proposed_start_date: date
    proposed_end_date: date
    location: BaseGeometry
    excavation: bool
    traffic_sensitive: bool
    closure: bool
    diversion_route: BaseGeometry | None = None

    @property
    def street(self) -> str:
        """The street or path as a person reads it: name and USRN, or the path id."""
        if self.usrn is None:
            return f"path {self.path_id}"
        return f"{self.street_name} (USRN {self.usrn})" if self.street_name else f"USRN {self.usrn}"


@dataclass(frozen=True)
class Clash:
    """Two works (a before b by reference) on the same street or path, or within the tolerance,
    or one diverted onto the other's closure, on overlapping days. `distance_m` is the distance
    between the two works' locations, rounded to 0.1 m; `points` and `reasons` explain the
    severity (docs/works.md, "Severity")."""

    work_reference_number_a: str
    work_reference_number_b: str
    kind: str
    severity: str
    overlap_start: date
    overlap_end: date
    distance_m: float
    points: int = 0
    reasons: tuple[str, ...] = ()

    @property
    def pair(self) -> tuple[str, str]:
        return (self.work_reference_number_a, self.work_reference_number_b)


@dataclass(frozen=True)
class Opportunity:
    """Two excavating works on one street that could be done as one: b starts `gap_days` after
    a ends. The suggested window starts at a's start and lasts as long as the longer work."""

    usrn: int
    street_name: str | None
    work_reference_number_a: str
    work_reference_number_b: str
    gap_days: int
    suggested_start: date
    suggested_end: date


@dataclass(frozen=True)
class Restriction:
    """A Section 58 breach: an excavating work starting while its street is protected after
    major resurfacing or reconstruction."""

    work_reference_number: str
    usrn: int
    street_name: str | None
    proposed_start_date: date
    protecting_work_reference_number: str
    protected_from: date
    protected_until: date


@dataclass(frozen=True)
class Coordination:
    """What the engine found among `works`, each list in a stable order."""

    works: tuple[Work, ...]
    clashes: tuple[Clash, ...]
    opportunities: tuple[Opportunity, ...]
    restrictions: tuple[Restriction, ...]
    tolerance_m: float = 25.0

    def clashes_by_severity(self) -> dict[str, int]:
        """How many clashes are high, medium and low (every severity present, 0 if none)."""
        counted = Counter(clash.severity for clash in self.clashes)
        return {severity: counted.get(severity, 0) for severity in SEVERITIES}

    def work(self, reference: str) -> Work:
        """The work with this reference (KeyError if there is none)."""
        return self.by_reference[reference]

    @cached_property
    def by_reference(self) -> dict[str, Work]:
        return {work.work_reference_number: work for work in self.works}


@dataclass(frozen=True)
class RowError:
    """A row (or feature) refused: where it is, the field at fault and why."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}, {self.field}: {self.message}"


@dataclass(frozen=True)
class WorksFile:
    """The valid works of a file (or of rows from the data plane) and every refused row."""

    works: tuple[Work, ...]
    errors: tuple[RowError, ...] = ()
    rows: int = 0  # data rows (or features) read, valid or not
    places: tuple[str, ...] = ()  # where each valid work is in the file ("row 3")


@dataclass
class TrafficCounts:
    """Vehicles counted per street per hour. Built with `from_arrays` (or the readers in
    `works.files`); `errors` holds the rows a reader refused."""

    _streets: dict[int, tuple[np.ndarray, np.ndarray, int]] = field(default_factory=dict)
    errors: tuple[RowError, ...] = ()
    rows: int = 0

    @classmethod
    def from_arrays(cls, usrn, day, hour, vehicles, **extra) -> TrafficCounts:
        """Counts from equal-length arrays: USRN, date (datetime64[D] or date objects), hour
        0-23, vehicles. Per street it keeps each day's busiest hour and the typical busiest
        hour (the hour of day with the highest mean count, that mean rounded)."""
        usrn = np.asarray(usrn, dtype=np.int64)
        day = np.asarray(day, dtype="datetime64[D]").astype(np.int64)
        hour = np.asarray(hour, dtype=np.int64)
        vehicles = np.asarray(vehicles, dtype=np.int64)
        streets: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
        order = np.lexsort((day, usrn))
        usrn, day, hour, vehicles = usrn[order], day[order], hour[order], vehicles[order]
        bounds = np.flatnonzero(np.diff(usrn)) + 1
        for part in np.split(np.arange(usrn.size), bounds):
            if part.size == 0:
                continue
            days, first = np.unique(day[part], return_index=True)
            daily_busiest = np.maximum.reduceat(vehicles[part], first)
            totals = np.bincount(hour[part], weights=vehicles[part], minlength=24)
            seen = np.bincount(hour[part], minlength=24)
            means = np.divide(totals, seen, out=np.zeros(24), where=seen > 0)
            streets[int(usrn[part[0]])] = (days, daily_busiest, int(round(means.max())))
        return cls(streets, **extra)

    def __contains__(self, usrn: int) -> bool:
        return usrn in self._streets

    def busiest_hour(self, usrn: int | None, start: date, end: date) -> int | None:
        """The street's busiest hourly count on any day from `start` to `end` inclusive; its
        typical busiest hour when nothing was counted then; None when it has no counts."""
        found = self._streets.get(usrn) if usrn is not None else None
        if found is None:
            return None
        days, daily_busiest, typical = found
        lo = np.searchsorted(days, _day(start), side="left")
        hi = np.searchsorted(days, _day(end), side="right")
        return int(daily_busiest[lo:hi].max()) if hi > lo else typical


def _day(value: date) -> int:
    return int(np.datetime64(value, "D").astype(np.int64))

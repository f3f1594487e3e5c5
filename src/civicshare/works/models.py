"""The plain data of works co-ordination: works in, clashes, opportunities and Section 58
restrictions out. No store and no HTTP: the engine (`engine.coordinate`) takes these and
returns these, so the CLI, the service and the benchmark share one exact implementation.

Geometry is shapely, in British National Grid (EPSG:27700) metres; dates are whole days.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

import numpy as np
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, utcnow

# The shared works format: Street Manager's field names, in the order files are written.
WORKS_FIELDS = (
    "work_reference_number",
    "promoter",
    "usrn",
    "path_id",
    "street_name",
    "works_category",
    "activity_type",
    "traffic_management_type",
    "proposed_start_date",
    "proposed_end_date",
    "works_location_wkt",
    "excavation",
    "traffic_sensitive",
    "closure",
    "diversion_route_wkt",
)
TRAFFIC_COUNT_FIELDS = ("usrn", "count_date", "hour", "vehicles")
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


class TrafficCounts:
    """Vehicles counted per street per hour. Built with `from_arrays` (or the readers in
    `works.files`); `errors` holds the rows a reader refused, `rows` how many were read.

    Kept per street: each counted day's busiest hour, in one array ordered by (street, day),
    with a sparse table of maxima so the busiest hour in any window is two lookups, for any
    number of windows at once (`busiest_hours`)."""

    def __init__(
        self,
        streets: np.ndarray | None = None,
        typical: np.ndarray | None = None,
        keys: np.ndarray | None = None,
        maxima: list[np.ndarray] | None = None,
        span: int = 1,
        base: int = 0,
        errors: tuple[RowError, ...] = (),
        rows: int = 0,
    ) -> None:
        self.streets = np.zeros(0, np.int64) if streets is None else streets
        self.typical = np.zeros(0, np.int64) if typical is None else typical
        self.keys = np.zeros(0, np.int64) if keys is None else keys
        self.maxima = maxima or [np.zeros(0, np.int64)]
        self.span, self.base = span, base
        self.errors, self.rows = errors, rows

    @classmethod
    def from_arrays(cls, usrn, day, hour, vehicles, **extra) -> TrafficCounts:
        """Counts from equal-length arrays: USRN, date (datetime64[D] or date objects), hour
        0-23, vehicles. A street's typical busiest hour is the hour of day with the highest
        mean count over the days counted, that mean rounded."""
        usrn = np.asarray(usrn, dtype=np.int64)
        extra.setdefault("rows", usrn.size)
        if usrn.size == 0:
            return cls(**extra)
        day = np.asarray(day, dtype="datetime64[D]").astype(np.int64)
        hour = np.asarray(hour, dtype=np.int64)
        vehicles = np.asarray(vehicles, dtype=np.int64)
        streets, code = np.unique(usrn, return_inverse=True)
        base = int(day.min())
        span = int(day.max()) - base + 3
        key = code * span + (day - base + 1)
        order = np.argsort(key, kind="stable")
        keys, first = np.unique(key[order], return_index=True)
        daily = np.maximum.reduceat(vehicles[order], first)
        cell = code * 24 + hour
        totals = np.bincount(cell, weights=vehicles, minlength=streets.size * 24)
        seen = np.bincount(cell, minlength=streets.size * 24)
        means = np.divide(totals, seen, out=np.full(totals.size, -1.0), where=seen > 0)
        typical = np.round(means.reshape(-1, 24).max(axis=1)).astype(np.int64)
        maxima = [daily]
        while 2 ** len(maxima) <= daily.size:
            last, width = maxima[-1], 2 ** (len(maxima) - 1)
            maxima.append(np.maximum(last[:-width], last[width:]))
        return cls(streets, typical, keys, maxima, span, base, **extra)

    def __contains__(self, usrn: int) -> bool:
        found = np.searchsorted(self.streets, usrn)
        return bool(found < self.streets.size and self.streets[found] == usrn)

    def busiest_hours(self, usrn, start, end) -> np.ndarray:
        """For each (street, first day, last day), the busiest hourly count on any day of the
        window; the street's typical busiest hour when nothing was counted then; -1 when the
        street has no counts. Days as datetime64[D] (or anything numpy makes one of)."""
        usrn = np.asarray(usrn, dtype=np.int64)
        result = np.full(usrn.size, -1, np.int64)
        if self.streets.size == 0 or usrn.size == 0:
            return result
        code = np.minimum(np.searchsorted(self.streets, usrn), self.streets.size - 1)
        known = self.streets[code] == usrn
        limit = self.span - 1
        first = np.clip(_days(start) - self.base + 1, 0, limit) + code * self.span
        last = np.clip(_days(end) - self.base + 1, 0, limit) + code * self.span
        lo = np.searchsorted(self.keys, first, side="left")
        hi = np.searchsorted(self.keys, last, side="right")
        counted = known & (hi > lo)
        width = np.where(counted, hi - lo, 1)
        level = np.floor(np.log2(width)).astype(np.int64)
        for k in np.unique(level[counted]):
            rows = np.flatnonzero(counted & (level == k))
            table = self.maxima[k]
            result[rows] = np.maximum(table[lo[rows]], table[hi[rows] - 2**k])
        fallback = known & ~counted
        result[fallback] = self.typical[code[fallback]]
        return result

    def busiest_hour(self, usrn: int | None, start: date, end: date) -> int | None:
        """The street's busiest hourly count on any day from `start` to `end` inclusive; its
        typical busiest hour when nothing was counted then; None when it has no counts."""
        if usrn is None:
            return None
        found = int(self.busiest_hours([usrn], [start], [end])[0])
        return None if found < 0 else found


def _days(values) -> np.ndarray:
    """Days since 1970-01-01 as int64."""
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


# -- the governance store: clashes already told to both promoters -------------------------


class ClashNotice(Base):
    """One clash between two works, first found at `found_at`, notified to both promoters."""

    __tablename__ = "works_clash_notices"
    __table_args__ = (UniqueConstraint("reference_a", "reference_b"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference_a: Mapped[str] = mapped_column(String(64))
    reference_b: Mapped[str] = mapped_column(String(64))
    promoter_a: Mapped[str] = mapped_column(String(64))  # partner key
    promoter_b: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    overlap_start: Mapped[date] = mapped_column(Date)
    overlap_end: Mapped[date] = mapped_column(Date)
    found_at: Mapped[datetime] = mapped_column(default=utcnow)

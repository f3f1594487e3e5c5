"""Clashes by brute force: every pair of works tested, no index, no sorting trick. The yardstick
for the engine (the benchmark and the property tests demand identical clashes).

Per work, vectorised over every later work: the date test, the same-street test, a lower bound
on the distance from the two bounding boxes (exact: two shapes are never closer than their
boxes), then shapely's exact distance for those the bound does not rule out. Diversions: every
diverted work against every closed work, with the engine's own `routed_onto` predicate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from civicshare.works.engine import (
    WorksArrays,
    clashes_from_pairs,
    pair_codes,
    routed_onto,
)
from civicshare.works.models import Clash, TrafficCounts, Work

# A box bound within this of the tolerance still gets the exact test (rounding of the bound).
BOUND_SLACK_M = 1e-6


def brute_force_clashes(
    works: Sequence[Work], tolerance_m: float = 25.0, traffic: TrafficCounts | None = None
) -> list[Clash]:
    arrays = WorksArrays(works)
    n = arrays.size
    boxes = shapely.bounds(arrays.location) if n else np.zeros((0, 4))
    codes: list[np.ndarray] = []
    for i in range(n - 1):
        later = np.arange(i + 1, n)
        later = later[
            (arrays.start[later] <= arrays.end[i]) & (arrays.start[i] <= arrays.end[later])
        ]
        if later.size == 0:
            continue
        same = ((arrays.usrn[later] == arrays.usrn[i]) & (arrays.usrn[i] >= 0)) | (
            (arrays.path[later] == arrays.path[i]) & (arrays.path[i] >= 0)
        )
        gap_x = np.maximum(
            0.0, np.maximum(boxes[later, 0], boxes[i, 0]) - np.minimum(boxes[later, 2], boxes[i, 2])
        )
        gap_y = np.maximum(
            0.0, np.maximum(boxes[later, 1], boxes[i, 1]) - np.minimum(boxes[later, 3], boxes[i, 3])
        )
        maybe = ~same & (np.hypot(gap_x, gap_y) <= tolerance_m + BOUND_SLACK_M)
        near = np.zeros(later.size, bool)
        if maybe.any():
            near[maybe] = (
                shapely.distance(arrays.location[i], arrays.location[later[maybe]]) <= tolerance_m
            )
        hit = later[same | near]
        codes.append(pair_codes(np.full(hit.size, i), hit, n))
    diverted = brute_force_diversions(arrays)
    codes.append(diverted)
    every = np.unique(np.concatenate(codes)) if codes else np.zeros(0, np.int64)
    return clashes_from_pairs(arrays, every, np.unique(diverted), traffic)


def brute_force_diversions(arrays: WorksArrays) -> np.ndarray:
    """Pair codes of every (diverted, closed) pair on overlapping days routed onto."""
    closed = np.flatnonzero(arrays.closure)
    found = [np.zeros(0, np.int64)]
    for a in np.flatnonzero(arrays.has_diversion):
        others = closed[(closed != a) & arrays.overlapping(np.full(closed.size, a), closed)]
        if others.size == 0:
            continue
        route = np.full(others.size, arrays.works[a].diversion_route, dtype=object)
        hit = others[routed_onto(route, arrays.location[others])]
        found.append(pair_codes(np.full(hit.size, a), hit, arrays.size))
    return np.concatenate(found)

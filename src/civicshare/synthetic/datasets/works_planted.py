"""The cases planted in the works programme for co-ordination to find, so the demo shows each.

On the busiest streets (all counted and traffic-sensitive): clashes on one street between
different promoters, a Section 58 case (major resurfacing, then a utility's excavation months
later), a collaboration opportunity (two excavations on one street 15 days apart); on the
closest pair of different streets, works within 25 m of each other; on two rural paths, a
closure whose diversion runs along a path another closure shuts at the same time. The rows are
appended to their datasets; ``cases`` names them by (dataset, position among planted rows) until
the writer gives them references.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.ops import substring

from ..common import REF_DATE, rng_for
from ..geography import DISTRICT_KEYS
from .base import Context
from .traffic import busiest_streets
from .works_format import (
    PROMOTER_BY_DATASET,
    ROW_DATASET,
    iso,
    line_wkt,
    row_work,
    street_point,
    street_row,
)

ADJACENT_MAX_M = 20.0  # the planted neighbours are well inside the 25 m default tolerance
ADJACENT_MIN_M = 2.0  # and not crossing: they are neighbours, not one junction
LINK_SHORT_M = 12.0  # a cable laid towards a farther street stops this far short of it


class Planting:
    """Rows planted per dataset, and the cases that name them."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rows: dict[str, list[dict]] = {}
        self.cases: list[dict] = []

    def street_work(self, dataset: str, street: int, start: int, end: int, **values) -> tuple:
        """Plant a work on ``street`` from REF_DATE+start to REF_DATE+end; return its token."""
        values.setdefault(
            "works_location_wkt",
            line_wkt([street_point(self.ctx.geo.streets, street, t) for t in (0.2, 0.8)]),
        )
        row = street_row(
            self.ctx,
            PROMOTER_BY_DATASET[dataset],
            street,
            proposed_start_date=iso(REF_DATE + start),
            proposed_end_date=iso(REF_DATE + end),
            **values,
        )
        return self.add(dataset, row)

    def add(self, dataset: str, row: dict) -> tuple:
        rows = self.rows.setdefault(dataset, [])
        rows.append(row)
        return (dataset, len(rows) - 1)


def plant_cases(ctx: Context) -> tuple[dict[str, list[dict]], list[dict]]:
    """The planted rows by dataset, and the cases (their rows as (dataset, position) tokens)."""
    plant = Planting(ctx)
    busy = [int(i) for i in busiest_streets(ctx.geo)[:4]]
    _same_street_clashes(plant, busy[0], busy[1])
    _section_58(plant, busy[2])
    _collaboration(plant, busy[3])
    _adjacent_streets(plant, set(busy))
    _diversion_onto_closed_path(plant, rng_for(ctx.seed, "works:planted"))
    return plant.rows, plant.cases


def _same_street_clashes(plant: Planting, first: int, second: int) -> None:
    """Three promoters on one street with overlapping windows, two more on another whose
    windows share one day (both ends inclusive)."""
    usrn = int(plant.ctx.geo.streets["usrn"][first])
    highway = plant.street_work(
        "highway-works", first, 40, 49, works_category="standard", activity_type="Patching",
        traffic_management_type="two_way_signals", excavation="no",
    )  # fmt: skip
    water = plant.street_work(
        "utility-works", first, 45, 52, works_category="standard",
        activity_type="New connection", traffic_management_type="two_way_signals",
        excavation="yes",
    )  # fmt: skip
    gas = plant.street_work(
        "gas-works", first, 49, 51, works_category="minor", activity_type="Service alteration",
        traffic_management_type="stop_go_boards", excavation="yes",
    )  # fmt: skip
    for (a, b), start, end in (
        ((highway, water), 45, 49),
        ((highway, gas), 49, 49),
        ((water, gas), 49, 51),
    ):
        plant.cases.append(_same_street(usrn, [a, b], start, end))
    usrn = int(plant.ctx.geo.streets["usrn"][second])
    fibre = plant.street_work(
        "telecoms-works", second, 90, 95, works_category="standard",
        activity_type="Fibre installation", traffic_management_type="lane_closure",
        excavation="yes",
    )  # fmt: skip
    cable = plant.street_work(
        "electricity-works", second, 95, 99, works_category="standard",
        activity_type="Cable laying", traffic_management_type="two_way_signals",
        excavation="yes",
    )  # fmt: skip
    plant.cases.append(_same_street(usrn, [fibre, cable], 95, 95))


def _same_street(usrn: int, tokens: list, start: int, end: int) -> dict:
    return {
        "kind": "clash_same_street",
        "usrn": usrn,
        "references": tokens,
        "overlap_start": iso(REF_DATE + start),
        "overlap_end": iso(REF_DATE + end),
    }


def _section_58(plant: Planting, street: int) -> None:
    """Major resurfacing, then four months after it ends a water company digs the street."""
    major = plant.street_work(
        "highway-works", street, 20, 47, works_category="major", activity_type="Resurfacing",
        traffic_management_type="road_closure", excavation="no",
    )  # fmt: skip
    dig = plant.street_work(
        "utility-works", street, 167, 171, works_category="standard",
        activity_type="New connection", traffic_management_type="two_way_signals",
        excavation="yes",
    )  # fmt: skip
    plant.cases.append(
        {
            "kind": "section_58",
            "usrn": int(plant.ctx.geo.streets["usrn"][street]),
            "references": [major, dig],
            "major_works_end": iso(REF_DATE + 47),
            "excavation_start": iso(REF_DATE + 167),
        }
    )


def _collaboration(plant: Planting, street: int) -> None:
    """Two excavations on one street, the second starting 15 days after the first ends."""
    gas = plant.street_work(
        "gas-works", street, 150, 156, works_category="standard",
        activity_type="Gas main replacement", traffic_management_type="two_way_signals",
        excavation="yes",
    )  # fmt: skip
    fibre = plant.street_work(
        "telecoms-works", street, 171, 174, works_category="standard",
        activity_type="Duct laying", traffic_management_type="give_and_take", excavation="yes",
    )  # fmt: skip
    plant.cases.append(
        {
            "kind": "collaboration",
            "usrn": int(plant.ctx.geo.streets["usrn"][street]),
            "references": [gas, fibre],
            "gap_days": 171 - 156,
        }
    )


def _adjacent_streets(plant: Planting, used: set[int]) -> None:
    """Works on the closest pair of different streets: a cable laid from the first street
    towards the second (along it when they are within 20 m, else across the link between them,
    stopping 12 m short), and tree works on the second at the point nearest the first."""
    st = plant.ctx.geo.streets
    lines = shapely.linestrings(
        np.stack([np.stack([st["x0"], st["y0"]], 1), np.stack([st["x1"], st["y1"]], 1)], 1)
    )
    (a, b), gap = shapely.STRtree(lines).query_nearest(
        lines, exclusive=True, return_distance=True, all_matches=False
    )
    keep = ~np.isin(a, list(used)) & ~np.isin(b, list(used)) & (gap >= ADJACENT_MIN_M)
    if not keep.any():
        return
    a, b, gap = a[keep], b[keep], gap[keep]
    best = int(np.lexsort((b, a, gap))[0])
    first, second, apart = int(a[best]), int(b[best]), float(gap[best])
    near_a, near_b = shapely.shortest_line(lines[first], lines[second]).coords
    line_a = lines[first]
    at = line_a.project(shapely.Point(near_a))
    if apart <= ADJACENT_MAX_M:
        route = list(substring(line_a, max(0.0, at - 15), min(line_a.length, at + 15)).coords)
    else:
        back = line_a.interpolate(max(0.0, at - 15) if at > 15 else min(line_a.length, at + 15))
        share = (apart - LINK_SHORT_M) / apart
        reach = (
            near_a[0] + (near_b[0] - near_a[0]) * share,
            near_a[1] + (near_b[1] - near_a[1]) * share,
        )
        route = [(back.x, back.y), near_a, reach]
    cable = plant.street_work(
        "electricity-works", first, 75, 80, works_category="standard",
        activity_type="Cable laying", traffic_management_type="two_way_signals",
        excavation="yes", works_location_wkt=line_wkt(route),
    )  # fmt: skip
    district = DISTRICT_KEYS[int(st["district"][second])]
    point = f"POINT ({near_b[0]:.1f} {near_b[1]:.1f})"
    trees = plant.street_work(
        f"district-works-{district}", second, 78, 79, works_category="minor",
        activity_type="Tree works", traffic_management_type="give_and_take", excavation="no",
        works_location_wkt=point,
    )  # fmt: skip
    plant.cases.append(
        {
            "kind": "clash_adjacent_streets",
            "usrns": [int(st["usrn"][first]), int(st["usrn"][second])],
            "references": [cable, trees],
            "streets_distance_m": round(apart, 1),
            "works_distance_m": round(
                float(shapely.distance(shapely.from_wkt(line_wkt(route)), shapely.from_wkt(point))),
                1,
            ),
            "overlap_start": iso(REF_DATE + 78),
            "overlap_end": iso(REF_DATE + 79),
        }
    )


def _diversion_onto_closed_path(plant: Planting, rng: np.random.Generator) -> None:
    """Bridleway Q is closed for 40 days; footpath P, which leaves Q and rejoins it 300 m on,
    is closed in the middle of them with its diversion signed along that stretch of Q."""
    villages = [s for s in plant.ctx.geo.settlements if s.kind == "village"]
    village = villages[int(rng.integers(0, len(villages)))] if villages else None
    x0 = (village.x if village else plant.ctx.geo.settlements[0].x) + 500
    y0 = (village.y if village else plant.ctx.geo.settlements[0].y) + 300
    parish = village.name if village else plant.ctx.geo.settlements[0].name
    q_pts = [(x0 + dx, y0 + dy) for dx, dy in ((0, 0), (150, 20), (300, 10), (450, 30), (700, 25))]
    p_pts = [q_pts[1], (x0 + 180, y0 + 170), (x0 + 330, y0 + 220), (x0 + 430, y0 + 170), q_pts[3]]
    diversion = q_pts[1:4]
    prefix = parish[:3].upper()
    # path numbers from 60 up: the random programme numbers paths 1-59
    q_id, p_id = (
        f"{prefix}-BR{int(rng.integers(60, 80))}",
        f"{prefix}-FP{int(rng.integers(80, 99))}",
    )
    county = PROMOTER_BY_DATASET["highway-works"].name
    bridleway = plant.add(
        ROW_DATASET,
        row_work(
            county, q_id, parish, works_category="standard", activity_type="Surface repair",
            traffic_management_type="road_closure",
            proposed_start_date=iso(REF_DATE + 200), proposed_end_date=iso(REF_DATE + 239),
            works_location_wkt=line_wkt(q_pts), excavation="no", closure="yes",
            diversion_route_wkt=None,
        ),
    )  # fmt: skip
    footpath = plant.add(
        ROW_DATASET,
        row_work(
            county, p_id, parish, works_category="standard", activity_type="Temporary closure",
            traffic_management_type="road_closure",
            proposed_start_date=iso(REF_DATE + 210), proposed_end_date=iso(REF_DATE + 224),
            works_location_wkt=line_wkt(p_pts), excavation="no", closure="yes",
            diversion_route_wkt=line_wkt(diversion),
        ),
    )  # fmt: skip
    plant.cases.append(
        {
            "kind": "diversion_onto_closed_path",
            "path_id": p_id,
            "diverted_onto_path_id": q_id,
            "references": [footpath, bridleway],
            "overlap_start": iso(REF_DATE + 210),
            "overlap_end": iso(REF_DATE + 224),
        }
    )

"""The shared works format and what every works dataset builder uses to fill it.

Every works file has the same columns (``WORKS_COLUMNS``, Street Manager names): street works
carry a USRN, rights of way works a path id instead, with ``closure`` and any
``diversion_route_wkt``. Dates are ISO, yes/no fields ``yes``/``no``, traffic management types
Street Manager values, geometry British National Grid WKT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from civicshare.works.models import WORKS_FIELDS

from ..geography import DISTRICTS
from ..partnership import DISTRICT_PARTNER, PARTNER_BY_KEY
from .base import COUNTY, Context

WORKS_COLUMNS = list(WORKS_FIELDS)
CATEGORIES = ["major", "standard", "minor", "immediate"]
TRAFFIC_MANAGEMENT = [
    "road_closure",
    "contra_flow",
    "lane_closure",
    "convoy_workings",
    "multi_way_signals",
    "two_way_signals",
    "stop_go_boards",
    "priority_working",
    "give_and_take",
    "some_c_way_incursion",
    "no_c_way_incursion",
]
# Chance of each traffic management type (in TRAFFIC_MANAGEMENT order) by works category.
TM_BY_CATEGORY = {
    "major": [0.35, 0.1, 0.1, 0.0, 0.15, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],
    "standard": [0.1, 0.0, 0.15, 0.05, 0.05, 0.35, 0.1, 0.1, 0.1, 0.0, 0.0],
    "minor": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.05, 0.3, 0.25, 0.3],
    "immediate": [0.15, 0.0, 0.2, 0.0, 0.0, 0.3, 0.2, 0.0, 0.15, 0.0, 0.0],
}


@dataclass(frozen=True)
class Promoter:
    """A promoter's programme: its dataset, works a year per street of its area, what it does."""

    dataset: str
    partner: str
    title: str
    prefix: str
    share: float
    categories: tuple[float, float, float, float]  # chance of major, standard, minor, immediate
    activities: tuple[str, ...]
    excavation: float
    district: int | None = None  # index into DISTRICTS; None for the whole county

    @property
    def name(self) -> str:
        return PARTNER_BY_KEY[self.partner]["name"]


UTILITY_CATEGORIES = (0.05, 0.3, 0.5, 0.15)
PROMOTERS = [
    Promoter(
        "highway-works", COUNTY, "Planned highway works (Street Manager)", "WCC", 0.3,
        (0.12, 0.38, 0.45, 0.05),
        ("Resurfacing", "Patching", "Drainage", "Street lighting", "Footway works"), 0.3,
    ),
    Promoter(
        "utility-works", "mercia-water", "Planned water street works (Street Manager)", "MW",
        0.12, UTILITY_CATEGORIES,
        ("Water main repair", "New connection", "Valve replacement", "Leak repair",
         "Sewer works"), 0.8,
    ),
    Promoter(
        "gas-works", "mercian-gas", "Planned gas street works (Street Manager)", "MG", 0.1,
        UTILITY_CATEGORIES,
        ("Gas main replacement", "New connection", "Service alteration", "Leak repair"), 0.85,
    ),
    Promoter(
        "electricity-works", "severn-vale-power",
        "Planned electricity street works (Street Manager)", "SVP", 0.08, UTILITY_CATEGORIES,
        ("Cable laying", "New connection", "Substation works", "Fault repair"), 0.75,
    ),
    Promoter(
        "telecoms-works", "wyvern-fibre", "Planned telecoms street works (Street Manager)", "WF",
        0.1, UTILITY_CATEGORIES,
        ("Fibre installation", "Duct laying", "Pole replacement", "Cabinet installation"), 0.6,
    ),
    *[
        Promoter(
            f"district-works-{d.key}", DISTRICT_PARTNER[d.key],
            f"{d.name} council's planned works on the highway", d.key[:3].upper() + "D", 0.04,
            (0.0, 0.3, 0.7, 0.0),
            ("Tree works", "Parking bay lining", "CCTV installation", "Street cleansing",
             "Bin store works"), 0.1, district=i,
        )
        for i, d in enumerate(DISTRICTS)
    ],
]  # fmt: skip
PROMOTER_BY_DATASET = {p.dataset: p for p in PROMOTERS}
ROW_DATASET = "rights-of-way-works"
WORKS_DATASETS = [p.dataset for p in PROMOTERS] + [ROW_DATASET]


def yes_no(flag) -> str:
    return "yes" if flag else "no"


def iso(day: np.datetime64) -> str:
    return str(np.datetime64(day, "D"))


def line_wkt(points) -> str:
    return "LINESTRING (" + ", ".join(f"{x:.1f} {y:.1f}" for x, y in points) + ")"


def street_point(st: dict, i: int, t: float) -> tuple[float, float]:
    """The point a share ``t`` of the way along street ``i``."""
    return (
        float(st["x0"][i] + (st["x1"][i] - st["x0"][i]) * t),
        float(st["y0"][i] + (st["y1"][i] - st["y0"][i]) * t),
    )


def street_row(ctx: Context, promoter: Promoter, street: int, **values) -> dict:
    """A work on a street: the street's fields filled in, ``values`` the rest."""
    st = ctx.geo.streets
    tm = values["traffic_management_type"]
    return {
        "promoter": promoter.name,
        "usrn": int(st["usrn"][street]),
        "path_id": None,
        "street_name": str(st["name"][street]),
        "traffic_sensitive": yes_no(ctx.sensitive_streets[street]),
        "closure": yes_no(tm == "road_closure"),
        "diversion_route_wkt": None,
        **values,
    }


def path_walk(rng: np.random.Generator, x: float, y: float, steps: int) -> list:
    """A rural path: a gently turning walk of 150 m steps from (x, y)."""
    ang = rng.uniform(0, 2 * np.pi)
    pts = [(x, y)]
    for _ in range(steps):
        ang += rng.normal(0, 0.5)
        x, y = x + 150 * np.cos(ang), y + 150 * np.sin(ang)
        pts.append((float(x), float(y)))
    return pts


def detour(pts: list, side: float, rng: np.random.Generator) -> list:
    """A diversion from the first point of ``pts`` to the last, out to one side and back."""
    (ax, ay), (bx, by) = pts[0], pts[-1]
    dx, dy = bx - ax, by - ay
    length = max(float(np.hypot(dx, dy)), 1.0)
    nx, ny = -dy / length * side, dx / length * side
    away = rng.uniform(120, 250)
    return [
        (ax, ay),
        (ax + nx * away, ay + ny * away),
        (ax + dx * 0.5 + nx * away * 1.2, ay + dy * 0.5 + ny * away * 1.2),
        (bx + nx * away, by + ny * away),
        (bx, by),
    ]


ROW_ACTIVITIES = ["Temporary closure", "Surface repair", "Bridge replacement", "Drainage"]
PATH_KINDS = {"FP": "Footpath", "BR": "Bridleway", "RB": "Restricted byway"}


def path_label(path_id: str, parish: str) -> str:
    kind = path_id.split("-")[1].rstrip("0123456789")
    return f"{PATH_KINDS[kind]} {path_id} ({parish})"


def row_work(promoter_name: str, path_id: str, parish: str, **values) -> dict:
    """A rights of way work: no USRN, the path id and the path's name instead."""
    return {
        "promoter": promoter_name,
        "usrn": None,
        "path_id": path_id,
        "street_name": path_label(path_id, parish),
        "traffic_sensitive": "no",
        **values,
    }

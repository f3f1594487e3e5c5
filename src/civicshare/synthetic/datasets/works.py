"""Works: a year's programme of planned works by every promoter, in the shared works format.

One dataset per promoter: county highways (``highway-works``), each district council's own works
(``district-works-<district>``), four utilities (``utility-works`` for Mercia Water,
``gas-works``, ``electricity-works``, ``telecoms-works``) and the county's public rights of way
closures (``rights-of-way-works``), all in the columns of ``works_format.WORKS_COLUMNS``. Each
dataset draws from its own random stream. The cases planted for co-ordination to find
(``works_planted``) draw from theirs, are appended to the datasets they belong to, and their
references are written to ``truth/works-planted.json``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..common import REF_DATE, rng_for
from ..partnership import PARTNER_BY_KEY
from .base import COUNTY, Context, Writer
from .traffic import traffic_sensitive
from .truth import dump_json
from .works_format import (
    CATEGORIES,
    PATH_KINDS,
    PROMOTERS,
    ROW_ACTIVITIES,
    ROW_DATASET,
    TM_BY_CATEGORY,
    TRAFFIC_MANAGEMENT,
    WORKS_COLUMNS,
    Promoter,
    detour,
    iso,
    line_wkt,
    path_walk,
    row_work,
    street_point,
    street_row,
    yes_no,
)
from .works_planted import plant_cases


def works(ctx: Context) -> None:
    """Every promoter's programme, the rights of way closures and the planted cases."""
    ctx.sensitive_streets = traffic_sensitive(ctx.geo)
    planted, cases = plant_cases(ctx)
    refs: dict[tuple[str, int], str] = {}
    for promoter in PROMOTERS:
        rows = _street_programme(ctx, promoter)
        _write(ctx, promoter.dataset, promoter.partner, promoter.title, promoter.prefix + "{:07d}",
               rows, planted.get(promoter.dataset, []), refs)  # fmt: skip
    rows = _rights_of_way(ctx)
    _write(ctx, ROW_DATASET, COUNTY, "Public rights of way closures and works", "PROW{:05d}",
           rows, planted.get(ROW_DATASET, []), refs)  # fmt: skip
    resolved = [
        {k: ([refs[t] for t in v] if k == "references" else v) for k, v in case.items()}
        for case in cases
    ]
    dump_json({"cases": resolved}, ctx.out / "truth" / "works-planted.json")


def _write(ctx, name, partner, title, id_fmt, rows, planted, refs) -> None:
    """Write one works dataset; record the references the planted rows were given."""
    everything = rows + planted
    n = len(everything)
    columns: dict = {}
    for column in WORKS_COLUMNS[1:]:
        values = [r[column] for r in everything]
        columns[column] = (
            pa.array(values, type=pa.int64())
            if column == "usrn"
            else pa.array(values, type=pa.string())
        )
    Writer.finish(
        None, ctx, partner=partner, name=name, title=title, fmt="csv",
        id_col="work_reference_number", id_fmt=id_fmt, n=n, columns=columns,
    )  # fmt: skip
    for j in range(len(planted)):
        refs[(name, j)] = str(ctx.last_ids[len(rows) + j])


def _traffic_management(rng: np.random.Generator, categories: np.ndarray) -> np.ndarray:
    u = rng.random(len(categories))
    out = np.empty(len(categories), dtype=object)
    for cat, p in TM_BY_CATEGORY.items():
        cdf = np.cumsum(p) / np.sum(p)
        pick = np.searchsorted(cdf, u, side="right").clip(0, len(p) - 1)
        chosen = categories == cat
        out[chosen] = np.array(TRAFFIC_MANAGEMENT, dtype=object)[pick[chosen]]
    return out


def _street_programme(ctx: Context, promoter: Promoter) -> list[dict]:
    """A promoter's year of works on random streets of its area."""
    st = ctx.geo.streets
    rng = rng_for(ctx.seed, "dataset:" + promoter.dataset)
    pool = (
        np.arange(len(st["usrn"]))
        if promoter.district is None
        else np.flatnonzero(st["district"] == promoter.district)
    )
    if len(pool) == 0:
        return []
    k = max(3, round(len(pool) * promoter.share))
    idx = pool[rng.integers(0, len(pool), k)]
    start = REF_DATE + rng.integers(-30, 365, k)
    cat = rng.choice(CATEGORIES, k, p=promoter.categories)
    days = np.select(
        [cat == "major", cat == "standard"],
        [rng.integers(11, 60, k), rng.integers(4, 11, k)],
        rng.integers(1, 4, k),
    )
    activity = rng.choice(promoter.activities, k)
    tm = _traffic_management(rng, cat)
    excavation = rng.random(k) < promoter.excavation
    t0 = rng.uniform(0, 0.5, k)
    t1 = np.minimum(1.0, t0 + rng.uniform(0.2, 0.6, k))
    as_point = np.isin(cat, ["minor", "immediate"]) & (rng.random(k) < 0.5)
    rows = []
    for j in range(k):
        i = int(idx[j])
        a = street_point(st, i, t0[j])
        where = (
            f"POINT ({a[0]:.1f} {a[1]:.1f})"
            if as_point[j]
            else line_wkt([a, street_point(st, i, t1[j])])
        )
        rows.append(
            street_row(
                ctx,
                promoter,
                i,
                works_category=str(cat[j]),
                activity_type=str(activity[j]),
                traffic_management_type=str(tm[j]),
                proposed_start_date=iso(start[j]),
                proposed_end_date=iso(start[j] + days[j] - 1),
                works_location_wkt=where,
                excavation=yes_no(excavation[j]),
            )
        )
    return rows


def _rights_of_way(ctx: Context) -> list[dict]:
    """Rights of way closures and works on rural paths near villages, most with a diversion."""
    rng = rng_for(ctx.seed, "dataset:" + ROW_DATASET)
    villages = [s for s in ctx.geo.settlements if s.kind == "village"] or ctx.geo.settlements
    k = int(np.clip(round(ctx.pop.n / 2000), 8, 3 * len(villages)))
    vi = rng.integers(0, len(villages), k)
    kind = rng.choice(list(PATH_KINDS), k, p=[0.75, 0.2, 0.05])
    path_no = rng.integers(1, 60, k)
    start = REF_DATE + rng.integers(-30, 365, k)
    days = rng.integers(7, 120, k)
    activity = rng.choice(ROW_ACTIVITIES, k, p=[0.5, 0.25, 0.1, 0.15])
    county = PARTNER_BY_KEY[COUNTY]["name"]
    rows = []
    for j in range(k):
        s = villages[vi[j]]
        pts = path_walk(rng, s.x + rng.normal(0, 400), s.y + rng.normal(0, 400), rng.integers(3, 8))
        closed = activity[j] == "Temporary closure" or rng.random() < 0.5
        diversion = closed and rng.random() < 0.8
        route = detour(pts, 1.0 if rng.random() < 0.5 else -1.0, rng) if diversion else None
        rows.append(
            row_work(
                county,
                f"{s.name[:3].upper()}-{kind[j]}{path_no[j]}",
                s.name,
                works_category="major" if days[j] > 60 else "standard",
                activity_type=str(activity[j]),
                traffic_management_type="road_closure" if closed else "no_c_way_incursion",
                proposed_start_date=iso(start[j]),
                proposed_end_date=iso(start[j] + days[j] - 1),
                works_location_wkt=line_wkt(pts),
                excavation=yes_no(activity[j] in ("Bridge replacement", "Drainage")),
                closure=yes_no(closed),
                diversion_route_wkt=line_wkt(route) if route else None,
            )
        )
    return rows

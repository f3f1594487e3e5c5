"""Works: planned highway works, utility street works and public rights of way works."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..common import REF_DATE, rng_for
from .base import (
    COUNTY,
    Context,
    Writer,
    fmt_date,
    yn,
)


def _sub_lines(st, idx, rng):
    t0 = rng.uniform(0, 0.5, len(idx))
    t1 = np.minimum(1.0, t0 + rng.uniform(0.2, 0.6, len(idx)))
    x0, y0, x1, y1 = st["x0"][idx], st["y0"][idx], st["x1"][idx], st["y1"][idx]
    ax, ay = x0 + (x1 - x0) * t0, y0 + (y1 - y0) * t0
    bx, by = x0 + (x1 - x0) * t1, y0 + (y1 - y0) * t1
    return [
        f"LINESTRING ({a:.1f} {b:.1f}, {c:.1f} {d:.1f})"
        for a, b, c, d in zip(ax, ay, bx, by, strict=True)
    ]


def works(ctx: Context) -> None:
    settle_name = np.array([s.name for s in ctx.geo.settlements], dtype=object)
    for name, partner, title, share, prefix, promoter in (
        (
            "highway-works",
            COUNTY,
            "Planned highway works (street manager)",
            0.08,
            "WCC",
            "Worcestershire County Council",
        ),
        (
            "utility-works",
            "mercia-water",
            "Planned utility street works",
            0.06,
            "MW",
            "Mercia Water",
        ),
    ):
        _street_works(ctx, settle_name, name, partner, title, share, prefix, promoter)
    _rights_of_way(ctx)


def _street_works(
    ctx: Context,
    settle_name: np.ndarray,
    name: str,
    partner: str,
    title: str,
    share: float,
    prefix: str,
    promoter: str,
) -> None:
    """One promoter's planned works on a share of the streets."""
    st = ctx.geo.streets
    n_st = len(st["usrn"])
    rng = rng_for(ctx.seed, "dataset:" + name)
    k = max(1, int(n_st * share))
    idx = rng.integers(0, n_st, k)
    start = REF_DATE + rng.integers(-90, 365, k)
    cat = rng.choice(["major", "standard", "minor", "immediate"], k, p=[0.1, 0.3, 0.5, 0.1])
    dur = np.select(
        [cat == "major", cat == "standard"],
        [rng.integers(11, 90, k), rng.integers(4, 11, k)],
        rng.integers(1, 4, k),
    )
    activity = rng.choice(
        ["Resurfacing", "Patching", "Drainage", "Street lighting", "Footway works"]
        if name == "highway-works"
        else [
            "Water main repair",
            "New connection",
            "Valve replacement",
            "Leak repair",
            "Sewer works",
        ],
        k,
    )
    tm = rng.choice(
        [
            "Road closure",
            "Two-way signals",
            "Give and take",
            "Lane closure",
            "No carriageway incursion",
        ],
        k,
    )
    Writer.finish(
        None,
        ctx,
        partner=partner,
        name=name,
        title=title,
        fmt="csv",
        id_col="work_reference_number",
        id_fmt=prefix + "{:07d}",
        n=k,
        columns={
            "promoter": np.full(k, promoter, dtype=object),
            "usrn": pa.array(st["usrn"][idx]),
            "street_name": st["name"][idx],
            "town": settle_name[st["settle"][idx]],
            "works_category": cat.astype(object),
            "activity_type": activity.astype(object),
            "traffic_management_type": tm.astype(object),
            "traffic_sensitive": yn(rng.random(k) < 0.2),
            "excavation": yn(rng.random(k) < (0.8 if name == "utility-works" else 0.3)),
            "proposed_start_date": fmt_date(start, "%Y-%m-%d"),
            "proposed_end_date": fmt_date(start + dur, "%Y-%m-%d"),
            "location_wkt": np.array(_sub_lines(st, idx, rng), dtype=object),
        },
    )


def _rights_of_way(ctx: Context) -> None:
    """Rights of way works on rural paths (random walks between villages' edges)."""
    rng = rng_for(ctx.seed, "dataset:rights-of-way-works")
    villages = [s for s in ctx.geo.settlements if s.kind == "village"] or ctx.geo.settlements
    k = int(np.clip(round(ctx.pop.n / 4000), 5, 2 * len(villages)))
    vi = rng.integers(0, len(villages), k)
    wkts, parish = [], []
    for j in range(k):
        s = villages[vi[j]]
        steps = rng.integers(3, 8)
        ang = rng.uniform(0, 2 * np.pi)
        x, y = s.x + rng.normal(0, 400), s.y + rng.normal(0, 400)
        pts = [(x, y)]
        for _ in range(steps):
            ang += rng.normal(0, 0.5)
            x, y = x + 150 * np.cos(ang), y + 150 * np.sin(ang)
            pts.append((x, y))
        wkts.append("LINESTRING (" + ", ".join(f"{a:.1f} {b:.1f}" for a, b in pts) + ")")
        parish.append(s.name)
    path_no = rng.integers(1, 60, k)
    kind = rng.choice(["FP", "BR", "RB"], k, p=[0.75, 0.2, 0.05])
    start = REF_DATE + rng.integers(-60, 300, k)
    closure = rng.choice(
        ["Temporary closure", "Temporary diversion", "Surface repair", "Bridge replacement"], k
    )
    Writer.finish(
        None,
        ctx,
        partner=COUNTY,
        name="rights-of-way-works",
        title="Public rights of way closures and works",
        fmt="csv",
        id_col="order_ref",
        id_fmt="PROW{:05d}",
        n=k,
        columns={
            "path_id": np.array(
                [f"{p[:3].upper()}-{t}{n}" for p, t, n in zip(parish, kind, path_no, strict=True)],
                dtype=object,
            ),
            "parish": np.array(parish, dtype=object),
            "path_type": np.select(
                [kind == "FP", kind == "BR"], ["Footpath", "Bridleway"], "Restricted byway"
            ).astype(object),
            "works_type": closure.astype(object),
            "start_date": fmt_date(start, "%d/%m/%Y"),
            "end_date": fmt_date(start + rng.integers(7, 180, k), "%d/%m/%Y"),
            "geometry_wkt": np.array(wkts, dtype=object),
        },
    )

"""Benchmark: the works co-ordination engine against a brute-force pairwise check.

    python benchmarks/works.py                   # 2,000 works
    python benchmarks/works.py --size 100000     # the run in docs/benchmarks.md
    python benchmarks/works.py --size 100000 --traffic-days 365   # with a year of counts

Setup (fixed seed): a synthetic town on a street grid of 100 m blocks, 6 km square, each
street 500 m long with its own USRN (1,440 streets, one in five traffic-sensitive). `--size`
works over one year: six in ten a point on a street, three in ten a stretch of 20-200 m of it,
one in ten a 10 m square beside it; durations by category (immediate and minor 1-3 days,
standard 3-10, major 10-60), two in a hundred rights-of-way closures (a path id, no USRN) with
a diversion along the parallel street, one in a hundred major resurfacing.

`--traffic-days D` adds hourly traffic counts on every street for the first D days (a two-peak
daily profile scaled per street, with noise), built before timing, so severity looks up the
busiest hour of every clash. The engine (`works.engine.coordinate`, clashes within 25 m, Section
58 and opportunities) is timed alone, then `works.brute.brute_force_clashes` checks every pair
with no index; the two lists of clashes must be identical (pair, kind, severity, overlap,
distance). The last line of output is one JSON object; `seconds` is wall-clock time and
`cpu_seconds` the process's CPU time for the same best run (on a machine shared with other
work the first swings with the load, the second much less).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import shapely  # noqa: E402
from rich.console import Console  # noqa: E402

from civicshare.works.brute import brute_force_clashes  # noqa: E402
from civicshare.works.engine import coordinate  # noqa: E402
from civicshare.works.models import TRAFFIC_MANAGEMENT_TYPES, TrafficCounts, Work  # noqa: E402

ORIGIN = (380_000.0, 250_000.0)
BLOCK_M = 100.0
LINES = 60  # grid lines each way: 6 km
BLOCKS_PER_STREET = 5
STREETS_PER_LINE = LINES // BLOCKS_PER_STREET
YEAR_START = date(2027, 1, 1)
CATEGORIES = ("immediate", "minor", "standard", "major")
CATEGORY_WEIGHTS = (0.05, 0.45, 0.4, 0.1)
DURATIONS = {"immediate": (1, 3), "minor": (1, 3), "standard": (3, 10), "major": (10, 60)}
TM_WEIGHTS = np.array([4, 2, 1, 2, 4, 10, 4, 6, 8, 6, 8], dtype=float)


def street_geometry(street: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Street k's start point (x, y) and direction (1 = along x, 0 = along y)."""
    horizontal = street < LINES * STREETS_PER_LINE
    local = np.where(horizontal, street, street - LINES * STREETS_PER_LINE)
    line, piece = local // STREETS_PER_LINE, local % STREETS_PER_LINE
    along = piece * BLOCKS_PER_STREET * BLOCK_M
    across = line * BLOCK_M
    x = ORIGIN[0] + np.where(horizontal, along, across)
    y = ORIGIN[1] + np.where(horizontal, across, along)
    return x, y, horizontal


def generate(size: int, seed: int) -> list[Work]:
    rng = np.random.default_rng(seed)
    streets = 2 * LINES * STREETS_PER_LINE
    street = rng.integers(0, streets, size)
    x0, y0, horizontal = street_geometry(street)
    dx, dy = horizontal.astype(float), (~horizontal).astype(float)
    length = BLOCKS_PER_STREET * BLOCK_M
    at = rng.uniform(0, length, size)
    span = rng.uniform(20, 200, size)
    shape_kind = rng.choice(3, size, p=[0.6, 0.3, 0.1])
    px, py = x0 + dx * at, y0 + dy * at
    points = shapely.points(px, py)
    end = np.minimum(at + span, length)
    lines = shapely.linestrings(
        np.stack([np.column_stack([px, py]), np.column_stack([x0 + dx * end, y0 + dy * end])], 1)
    )
    boxes = shapely.box(px + dy * 2, py + dx * 2, px + dy * 2 + 10, py + dx * 2 + 10)
    location = np.where(shape_kind == 0, points, np.where(shape_kind == 1, lines, boxes))
    category = rng.choice(CATEGORIES, size, p=CATEGORY_WEIGHTS)
    low = np.array([DURATIONS[c][0] for c in category])
    high = np.array([DURATIONS[c][1] for c in category])
    duration = rng.integers(low, high + 1)
    start = rng.integers(0, 365, size)
    tm = rng.choice(TRAFFIC_MANAGEMENT_TYPES, size, p=TM_WEIGHTS / TM_WEIGHTS.sum())
    excavation = rng.random(size) < 0.7
    path_work = rng.random(size) < 0.02
    resurfacing = (category == "major") & (rng.random(size) < 0.1)
    works = []
    for k in range(size):
        diversion = None
        if path_work[k]:  # the parallel street one block over, joined at both ends
            ox, oy = dy[k] * BLOCK_M, dx[k] * BLOCK_M
            sx, sy, ex, ey = shapely.bounds(location[k])
            diversion = shapely.LineString(
                [(sx, sy), (sx + ox, sy + oy), (ex + ox + 1, ey + oy + 1), (ex, ey)]
            )
        works.append(
            Work(
                work_reference_number=f"BW{k:07d}",
                promoter=("County highways", "Cadent", "Severn Trent", "Openreach")[k % 4],
                usrn=None if path_work[k] else 20_000_000 + int(street[k]),
                path_id=f"BEN-FP{street[k]}" if path_work[k] else None,
                street_name=f"Street {street[k]}",
                works_category=str(category[k]),
                activity_type="Resurfacing" if resurfacing[k] else "New connection",
                traffic_management_type="road_closure" if path_work[k] else str(tm[k]),
                proposed_start_date=YEAR_START + timedelta(days=int(start[k])),
                proposed_end_date=YEAR_START + timedelta(days=int(start[k] + duration[k] - 1)),
                location=location[k],
                excavation=bool(excavation[k]) and not resurfacing[k],
                traffic_sensitive=bool(street[k] % 5 == 0),
                closure=bool(path_work[k] or tm[k] == "road_closure"),
                diversion_route=diversion,
            )
        )
    return works


def traffic_counts(days: int, seed: int) -> TrafficCounts | None:
    """Every street counted every hour for the first `days` days of the year: a weekday-like
    profile (peaks at 08:00 and 17:00) scaled per street, with noise."""
    if days <= 0:
        return None
    rng = np.random.default_rng(seed + 1)
    streets = 2 * LINES * STREETS_PER_LINE
    usrn = np.repeat(20_000_000 + np.arange(streets), days * 24)
    start = np.datetime64(YEAR_START, "D")
    day = np.tile(np.repeat(start + np.arange(days), 24), streets)
    hour = np.tile(np.arange(24), streets * days)
    profile = 0.2 + np.exp(-((hour - 8) ** 2) / 4) + np.exp(-((hour - 17) ** 2) / 6)
    scale = rng.uniform(50, 700, streets)[usrn - 20_000_000]
    vehicles = np.maximum(0, scale * profile + rng.normal(0, 30, usrn.size)).astype(np.int64)
    return TrafficCounts.from_arrays(usrn, day, hour, vehicles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000, help="works to check")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="engine runs (the best is kept)")
    parser.add_argument(
        "--traffic-days", type=int, default=0, help="hourly counts on every street for N days"
    )
    args = parser.parse_args()
    console = Console(stderr=True)

    started = time.perf_counter()
    works = generate(args.size, args.seed)
    console.print(f"{len(works):,} works generated in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    traffic = traffic_counts(args.traffic_days, args.seed)
    if traffic is not None:
        console.print(f"{traffic.rows:,} traffic counts in {time.perf_counter() - started:.1f} s")

    timings, cpu = [], []
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        found = coordinate(works, traffic=traffic)
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    best = int(np.argmin(timings))
    seconds, cpu_seconds = timings[best], cpu[best]
    console.print(
        f"engine: {seconds:.3f} s, CPU {cpu_seconds:.3f} s (best of {args.repeat}), "
        f"{len(found.clashes):,} clashes "
        f"{found.clashes_by_severity()}, {len(found.opportunities):,} opportunities, "
        f"{len(found.restrictions):,} restrictions"
    )
    started = time.perf_counter()
    brute = brute_force_clashes(works, traffic=traffic)
    brute_seconds = time.perf_counter() - started
    identical = brute == list(found.clashes)
    console.print(
        f"brute force: {brute_seconds:.2f} s, {len(brute):,} clashes, identical: {identical}"
    )
    kinds = {}
    for clash in found.clashes:
        kinds[clash.kind] = kinds.get(clash.kind, 0) + 1
    print(
        json.dumps(
            {
                "works": len(works),
                "clashes": len(found.clashes),
                "seconds": round(seconds, 4),
                "cpu_seconds": round(
                    cpu_seconds, 4
                ),  # the process's CPU time: steadier when shared
                "brute_seconds": round(brute_seconds, 2),
                "identical": identical,
                "ratio": round(brute_seconds / seconds, 1) if seconds else None,
                "kinds": kinds,
                "opportunities": len(found.opportunities),
                "restrictions": len(found.restrictions),
                "traffic_counts": traffic.rows if traffic is not None else 0,
            }
        )
    )
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()

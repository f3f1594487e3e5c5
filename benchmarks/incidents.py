"""Benchmark: vulnerable households at an incident, end to end through the API, and the
geometric core against a brute-force numpy scan.

    python benchmarks/incidents.py                                   # 20,000 properties
    python benchmarks/incidents.py --size 1000000 --people 50000     # the run in docs/benchmarks.md

Setup: the demo partnership on a synthetic county of `--people` residents (governance store on
SQLite, every partner dataset pushed into snapshots, the emergency agreement active), then the
address gazetteer is grown to `--size` properties: the county's own properties plus synthetic
ones scattered around them (normal jitter of 150 m), so every incident area sits among a dense
address base. `--incidents` incidents are opened at random properties, three in four a circle of
`--radius` m and one in four a square cordon (a polygon, turned 30 degrees) of the same size.

End to end: `GET /api/incidents/{ref}/households` with a bearer token through the ASGI app
in-process (authentication, decide for each of the five datasets, snapshot lookups, the exact
area test over the gazetteer and over the vulnerable records, grouping, audit record, incident
log entry, commit, JSON). The first request executes the five grants (DuckDB over Parquet,
decryption) and places their records; it is reported apart as "cold". The rest are "warm":
decided and audited afresh each time, execution reused for the identical grant of the identical
snapshot.

Floor, side by side: after each households request, `GET /api/incidents/{ref}` for the same
incident with the same token (authentication, the incident, may_see, JSON; nothing decided or
shared). `ratio` in the last line is the households p95 over the floor's p95.

Geometric core: for the same areas, the k-d tree prefilter plus exact test over all `--size`
properties (`PointIndex.within`) against testing every property (`brute_force_within`: numpy
`dx*dx + dy*dy <= r*r` for circles, shapely's vectorised point-in-polygon for polygons). Each
pair must return the same indices. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from rich.console import Console  # noqa: E402

from civicshare import db, demo  # noqa: E402
from civicshare.config import Settings  # noqa: E402
from civicshare.incidents import service  # noqa: E402
from civicshare.incidents.geometry import Area  # noqa: E402
from civicshare.maps import reference  # noqa: E402


def grow_gazetteer(settings: Settings, size: int, seed: int) -> int:
    path = reference.reference_path(settings, reference.PROPERTIES)
    table = pq.read_table(path)
    have = table.num_rows
    if size <= have:
        return have
    rng = np.random.default_rng(seed)
    extra = size - have
    base = rng.integers(0, have, extra)
    x = table.column("easting").to_numpy()[base] + rng.normal(0, 150, extra)
    y = table.column("northing").to_numpy()[base] + rng.normal(0, 150, extra)
    start = int(pa.compute.max(table.column("uprn")).as_py()) + 1
    grown = {
        "uprn": np.arange(start, start + extra, dtype=np.int64),
        "address_line_1": [f"{i % 200 + 1} Bench Street {i // 200}" for i in range(extra)],
        "postcode": [f"ZZ{i // 5000} {i % 9}AA" for i in range(extra)],
        "easting": np.round(x, 1),
        "northing": np.round(y, 1),
    }
    kept = table.select(list(grown))
    extra_table = pa.table(
        {k: pa.array(v).cast(kept.schema.field(k).type) for k, v in grown.items()}
    )
    pq.write_table(pa.concat_tables([kept, extra_table]), path)
    return size


def area_for(i: int, x: float, y: float, radius: float) -> Area:
    if i % 4 != 3:
        return Area.circle(x, y, radius)
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    corners = [(-radius, -radius), (radius, -radius), (radius, radius), (-radius, radius)]
    ring = [(x + a * c - b * s, y + a * s + b * c) for a, b in corners]
    return Area.from_polygons([[ring + [ring[0]]]], origin=(x, y))


def time_phases() -> dict[str, list[float]]:
    """Wrap the phases of a request with timers (for the breakdown printed at the end)."""
    from civicshare.audit import service as audit
    from civicshare.datasets import service as datasets
    from civicshare.incidents.geometry import PointIndex

    phases: dict[str, list[float]] = {}

    def timed(owner, name, label):
        real = getattr(owner, name)
        totals = phases.setdefault(label, [])

        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                totals.append(time.perf_counter() - t)

        setattr(owner, name, wrapper)

    from civicshare.incidents.service import drawing, households_view

    timed(drawing, "decide", "decide")
    timed(datasets, "current_snapshot", "snapshot lookup")
    timed(datasets, "current_snapshots", "snapshot lookup")
    timed(PointIndex, "within", "exact area test")
    timed(households_view, "_households", "grouping")
    timed(audit, "record", "audit record")
    timed(service, "households", "service total")
    return phases


def percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="Properties in the gazetteer.")
    parser.add_argument("--people", type=int, default=2_000, help="Residents of the county.")
    parser.add_argument("--incidents", type=int, default=200, help="Requests measured.")
    parser.add_argument("--radius", type=float, default=400.0, help="Radius (m).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--uncached",
        action="store_true",
        help="Keep no snapshot look-up between requests (as before the change stamp), to compare.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="Prepare the county here and keep it; a later run with the same --people, --seed "
        "and --size reuses it (default: a temporary directory, removed after).",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="Write cProfile stats of the warm requests to FILE."
    )
    args = parser.parse_args()
    if args.uncached:
        from civicshare.datasets import service as datasets_service

        datasets_service.SNAPSHOT_LOOKUPS.size = 0

    from fastapi.testclient import TestClient

    from civicshare.accounts import service as accounts
    from civicshare.accounts.service import actor_for
    from civicshare.app import create_app
    from civicshare.incidents.demo import agreement_reference
    from civicshare.partners import service as partners

    with contextlib.ExitStack() as stack:
        if args.workdir:
            tmp = str(args.workdir)
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
        settings = Settings(data_dir=Path(tmp) / "data", database_url=f"sqlite:///{tmp}/store.db")
        t0 = time.perf_counter()
        ready = Path(tmp) / f"ready-{args.people}-{args.seed}-{args.size}"
        if not ready.exists():
            demo.prepare(
                settings, people=args.people, seed=args.seed, console=Console(file=io.StringIO())
            )
        size = grow_gazetteer(settings, args.size, args.seed)
        ready.touch()
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        gaz = service.gazetteer(settings)
        gazetteer_s = time.perf_counter() - t0
        print(
            f"county of {args.people:,} residents; gazetteer of {size:,} properties "
            f"(setup {setup_s:.1f} s, gazetteer and k-d tree loaded in {gazetteer_s:.1f} s)"
        )

        rng = np.random.default_rng(args.seed)
        picks = rng.integers(0, len(gaz), args.incidents)
        areas = [
            area_for(i, float(gaz.index.x[p]), float(gaz.index.y[p]), args.radius)
            for i, p in enumerate(picks)
        ]

        # The geometric core, side by side with the brute-force scan, on the same areas.
        core, brute, found = [], [], []
        for area in areas:
            t = time.perf_counter()
            a = gaz.index.within(area)
            core.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = gaz.index.brute_force_within(area)
            brute.append(time.perf_counter() - t)
            if not np.array_equal(a, b):
                raise SystemExit("the k-d tree and the brute-force scan disagree")
            found.append(len(a))
        print(
            f"geometric core over {size:,} properties: p50 {percentile(core, 50):.3f} ms, "
            f"p95 {percentile(core, 95):.3f} ms; brute force p50 {percentile(brute, 50):.3f} ms, "
            f"p95 {percentile(brute, 95):.3f} ms; {np.mean(found):,.0f} properties per area; "
            "identical results"
        )

        engine = db.make_engine(settings.effective_database_url)
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            person = partners.get_person_by_email(session, "crew.manager@hw-fire.example")
            secret, _ = accounts.create_api_token(
                session, person.memberships[0], name="bench", scopes=["incidents:read"], days=1
            )
            fire = actor_for(person.memberships[0], "cli")
            ref = agreement_reference(session)
            references = [
                service.open_incident(
                    session, fire, title=f"Bench {i}", kind="fire", area=area, agreement=ref
                ).reference
                for i, area in enumerate(areas)
            ]
        engine.dispose()

        phases = time_phases()
        headers = {"Authorization": f"Bearer {secret}"}
        latencies, households, floor = [], [], []
        cpu, floor_cpu = [], []  # CPU of this process per request: what the machine's load
        # does not add (a loaded machine makes a request wait for a core, not work longer)
        with TestClient(create_app(settings)) as client:
            t = time.perf_counter()
            first = client.get(f"/api/incidents/{references[0]}/households", headers=headers)
            cold = time.perf_counter() - t
            first.raise_for_status()
            for totals in phases.values():
                totals.clear()
            profiler = None
            if args.profile:
                # The route runs in a worker thread: profile inside the service call there.
                import cProfile

                profiler = cProfile.Profile()
                real_households = service.households

                def profiled(*a, **k):
                    profiler.enable()
                    try:
                        return real_households(*a, **k)
                    finally:
                        profiler.disable()

                service.households = profiled
            for incident in references:
                t, c = time.perf_counter(), time.process_time()
                response = client.get(f"/api/incidents/{incident}/households", headers=headers)
                latencies.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
                response.raise_for_status()
                households.append(len(response.json()["households"]))
                # The floor, right after it: the same app, token and incident, the incident
                # alone (authentication, the incident and may_see, JSON; nothing shared).
                t, c = time.perf_counter(), time.process_time()
                client.get(f"/api/incidents/{incident}", headers=headers).raise_for_status()
                floor.append(time.perf_counter() - t)
                floor_cpu.append(time.process_time() - c)
            if profiler is not None:
                service.households = real_households
                profiler.dump_stats(args.profile)
        print(
            f"end to end (API, decide x5, query, audit, log, commit): cold {cold * 1000:.0f} ms; "
            f"warm p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
            f"max {percentile(latencies, 100):.1f} ms over {len(latencies)} requests; "
            f"{np.mean(households):.1f} vulnerable households per area"
        )
        print(
            f"floor (GET the incident alone, alternating): p50 {percentile(floor, 50):.1f} ms, "
            f"p95 {percentile(floor, 95):.1f} ms"
        )
        print(
            f"CPU of this process per request: households p50 {percentile(cpu, 50):.1f} ms, "
            f"p95 {percentile(cpu, 95):.1f} ms; floor p50 {percentile(floor_cpu, 50):.1f} ms, "
            f"p95 {percentile(floor_cpu, 95):.1f} ms"
        )

    n = len(latencies)
    breakdown = {name: round(sum(v) * 1000 / n, 2) for name, v in phases.items()}
    print(
        "mean ms per warm request by phase (overlapping: decide includes its queries): "
        + ", ".join(f"{k} {v}" for k, v in breakdown.items())
    )
    out = {
        "benchmark": "incidents",
        "properties": size,
        "people": args.people,
        "requests": len(latencies),
        "radius_m": args.radius,
        "api_cold_ms": round(cold * 1000, 1),
        "api_p50_ms": round(percentile(latencies, 50), 2),
        "api_p95_ms": round(percentile(latencies, 95), 2),
        "floor_p50_ms": round(percentile(floor, 50), 2),
        "floor_p95_ms": round(percentile(floor, 95), 2),
        "ratio": round(percentile(latencies, 95) / percentile(floor, 95), 2),
        "api_cpu_p50_ms": round(percentile(cpu, 50), 2),
        "api_cpu_p95_ms": round(percentile(cpu, 95), 2),
        "floor_cpu_p50_ms": round(percentile(floor_cpu, 50), 2),
        "floor_cpu_p95_ms": round(percentile(floor_cpu, 95), 2),
        "core_p50_ms": round(percentile(core, 50), 4),
        "core_p95_ms": round(percentile(core, 95), 4),
        "brute_p50_ms": round(percentile(brute, 50), 4),
        "brute_p95_ms": round(percentile(brute, 95), 4),
        "brute_over_core_p50": round(percentile(brute, 50) / percentile(core, 50), 1),
        "properties_per_area": round(float(np.mean(found)), 1),
        "households_per_area": round(float(np.mean(households)), 2),
        "identical": True,
        "snapshot_lookups_cached": not args.uncached,
        "phase_ms": breakdown,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

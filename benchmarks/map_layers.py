"""Benchmark: how heavy the map's offline base layer is, in bytes and milliseconds per request.

    python benchmarks/map_layers.py                  # the demo county of 5,000 residents
    python benchmarks/map_layers.py --people 20000

Setup: the demo partnership on a synthetic county of `--people` residents (its reference
districts, streets and properties installed under DATA_DIR/reference/). Then, through the ASGI
app in-process, without signing in (the routes are public): the district boundaries; every
street of the county at a county-wide zoom (10) beside the same request at full detail (no
zoom: the baseline), to show what simplifying to the zoom saves; and a typical incident view,
1.6 km x 1 km around the property with the most neighbours within 300 m, at zoom 16: its
streets and its property points. Each request is repeated `--repeat` times; the median is
reported. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from rich.console import Console

from civicshare import demo
from civicshare.app import create_app
from civicshare.config import Settings
from civicshare.maps import reference
from civicshare.maps.projection import to_wgs84


def bbox(x0: float, y0: float, x1: float, y1: float) -> str:
    (w, e), (s, n) = to_wgs84([x0, x1], [y0, y1])
    return f"{w:.5f},{s:.5f},{e:.5f},{n:.5f}"


def measure(client: TestClient, url: str, repeat: int) -> dict:
    times, body = [], b""
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
        body = response.content
    document = json.loads(body)
    return {
        "bytes": len(body),
        "features": len(document["features"]),
        "ms": round(statistics.median(times) * 1000, 1),
        "truncated": document.get("truncated", False),
    }


def busiest_property(settings: Settings) -> tuple[float, float]:
    points = reference.property_points(settings)
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([points.x, points.y]))
    counts = [len(n) for n in tree.query_ball_point(np.column_stack([points.x, points.y]), 300)]
    best = int(np.argmax(counts))
    return float(points.x[best]), float(points.y[best])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{Path(tmp) / 'store.db'}")
        demo.prepare(
            settings, people=args.people, seed=args.seed, console=Console(file=io.StringIO())
        )
        streets = reference.streets(settings)
        points = reference.property_points(settings)
        x0, y0, x1, y1 = (
            float(streets.bounds[:, 0].min()),
            float(streets.bounds[:, 1].min()),
            float(streets.bounds[:, 2].max()),
            float(streets.bounds[:, 3].max()),
        )
        cx, cy = busiest_property(settings)
        county = bbox(x0 - 100, y0 - 100, x1 + 100, y1 + 100)
        view = bbox(cx - 800, cy - 500, cx + 800, cy + 500)
        client = TestClient(create_app(settings))
        rows = {
            "districts": measure(client, "/map/reference/districts.geojson", args.repeat),
            "streets, county, zoom 10": measure(
                client, f"/map/reference/streets.geojson?bbox={county}&zoom=10", args.repeat
            ),
            "streets, county, full detail (baseline)": measure(
                client, f"/map/reference/streets.geojson?bbox={county}", args.repeat
            ),
            "streets, incident view, zoom 16": measure(
                client, f"/map/reference/streets.geojson?bbox={view}&zoom=16", args.repeat
            ),
            "properties, incident view": measure(
                client, f"/map/reference/properties.geojson?bbox={view}", args.repeat
            ),
        }
    console.print(
        f"County of {args.people:,} residents: {len(streets.usrn):,} streets, "
        f"{len(points.x):,} properties"
    )
    for name, row in rows.items():
        console.print(
            f"{name:42} {row['bytes']:>9,} bytes {row['features']:>6,} features "
            f"{row['ms']:>7.1f} ms{'  (capped)' if row['truncated'] else ''}"
        )
    saved = (
        rows["streets, county, zoom 10"]["bytes"]
        / rows["streets, county, full detail (baseline)"]["bytes"]
    )
    console.print(f"county-wide streets at zoom 10 / full detail: {saved:.2f}")
    print(
        json.dumps(
            {
                "people": args.people,
                "streets": len(streets.usrn),
                "properties": len(points.x),
                "districts_bytes": rows["districts"]["bytes"],
                "county_streets_zoom10_bytes": rows["streets, county, zoom 10"]["bytes"],
                "county_streets_full_bytes": rows["streets, county, full detail (baseline)"][
                    "bytes"
                ],
                "view_streets_bytes": rows["streets, incident view, zoom 16"]["bytes"],
                "view_properties_bytes": rows["properties, incident view"]["bytes"],
                "view_streets_ms": rows["streets, incident view, zoom 16"]["ms"],
                "zoom10_over_full": round(saved, 3),
            }
        )
    )


if __name__ == "__main__":
    main()

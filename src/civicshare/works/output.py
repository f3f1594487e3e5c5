"""The engine's findings as files for planners: three CSVs (through the safe CSV writer, so a
promoter's `=HYPERLINK(...)` is shown as text, never run) and the clashes as RFC 7946 GeoJSON
(WGS84 longitude/latitude, for display only: distances are always worked in BNG metres)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping

from civicshare import csvsafe
from civicshare.maps import projection
from civicshare.works.models import Coordination

CLASH_COLUMNS = (
    "work_reference_number_a",
    "work_reference_number_b",
    "kind",
    "severity",
    "overlap_start",
    "overlap_end",
    "distance_m",
)
OPPORTUNITY_COLUMNS = (
    "usrn",
    "street_name",
    "work_reference_number_a",
    "work_reference_number_b",
    "gap_days",
    "suggested_start",
    "suggested_end",
)
RESTRICTION_COLUMNS = (
    "work_reference_number",
    "usrn",
    "street_name",
    "proposed_start_date",
    "protecting_work_reference_number",
    "protected_from",
    "protected_until",
)
OUTPUT_FILES = ("clashes.csv", "opportunities.csv", "restrictions.csv", "clashes.geojson")
COORDINATE_DECIMALS = 7  # about 1 cm: finer than the transform is good for offline (about 2 m)


def to_wgs84(geometries):
    """The BNG geometries (an array) in WGS84 longitude/latitude, rounded to 7 decimals."""
    transformer = projection.transformer(projection.BNG, projection.WGS84)

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), COORDINATE_DECIMALS)

    return shapely.transform(np.asarray(geometries, dtype=object), convert)


def _value(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def clashes_geojson(coordination: Coordination) -> dict[str, Any]:
    """One feature per clash: a GeometryCollection of both works' locations, and the CSV's
    columns as properties."""
    works = [coordination.work(ref) for clash in coordination.clashes for ref in clash.pair]
    shown = to_wgs84([work.location for work in works])
    features = []
    for k, clash in enumerate(coordination.clashes):
        properties = {c: _value(getattr(clash, c)) for c in CLASH_COLUMNS}
        geometry = {
            "type": "GeometryCollection",
            "geometries": [mapping(shown[2 * k]), mapping(shown[2 * k + 1])],
        }
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


TABLES = {
    "clashes.csv": (CLASH_COLUMNS, "clashes"),
    "opportunities.csv": (OPPORTUNITY_COLUMNS, "opportunities"),
    "restrictions.csv": (RESTRICTION_COLUMNS, "restrictions"),
}


def csv_text(coordination: Coordination, name: str) -> str:
    """One of the three CSVs (`clashes.csv`, `opportunities.csv`, `restrictions.csv`) as text,
    through the safe CSV writer."""
    columns, attribute = TABLES[name]
    items = getattr(coordination, attribute)
    return csvsafe.rows_text(
        ([_value(getattr(item, c)) for c in columns] for item in items), columns
    )


def write_outputs(coordination: Coordination, out_dir: Path) -> dict[str, Path]:
    """Write clashes.csv, opportunities.csv, restrictions.csv and clashes.geojson into out_dir
    (made if missing); returns each file's path by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in OUTPUT_FILES}
    for name in TABLES:
        paths[name].write_text(csv_text(coordination, name), encoding="utf-8", newline="")
    document = clashes_geojson(coordination)
    paths["clashes.geojson"].write_text(json.dumps(document, separators=(",", ":")) + "\n")
    return paths

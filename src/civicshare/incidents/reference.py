"""Reference data for incidents: the address gazetteer (every property with its UPRN, first
address line, postcode and National Grid location), district boundaries and streets.

These are public-style reference files, not partners' data: no person is in them. They live
under `DATA_DIR/reference/` (installed by `civicshare incidents install-reference DIR` or by the
demo) and this module reads nothing else; partners' snapshots are read only by the compiler
(dataplane/query.py), through decide -> execute.
"""

from __future__ import annotations

import re
import shutil
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from civicshare.config import Settings
from civicshare.incidents.errors import IncidentError  # noqa: F401  (re-exported)
from civicshare.incidents.geometry import PointIndex

REFERENCE_DIR = "reference"
PROPERTIES = "properties.parquet"
DISTRICTS = "districts.parquet"
STREETS = "streets.parquet"
FILES = (PROPERTIES, DISTRICTS, STREETS)


# -- the address gazetteer (reference data: properties, no people) ---------------------------


def _norm(text: Any) -> str:
    return re.sub(r"[^A-Z0-9]+", " ", str(text or "").upper()).strip()


def norm_postcode(text: Any) -> str:
    return re.sub(r"\s+", "", str(text or "").upper())


class Gazetteer:
    """Properties by UPRN with their location, an index of address -> property, postcode
    centroids, and a k-d tree over every property."""

    def __init__(self, path: Path) -> None:
        table = pq.read_table(
            path, columns=["uprn", "address_line_1", "postcode", "easting", "northing"]
        )
        self.uprn = table.column("uprn").to_numpy().astype(np.int64)
        self.index = PointIndex(
            table.column("easting").to_numpy(), table.column("northing").to_numpy()
        )
        self.address = table.column("address_line_1").to_pylist()
        self.postcode = table.column("postcode").to_pylist()
        self._order = np.argsort(self.uprn, kind="stable")
        self._sorted = self.uprn[self._order]
        self.by_address: dict[tuple[str, str], int] = {}
        sums: dict[str, list[float]] = {}
        x, y = self.index.x, self.index.y
        for i, (line, postcode) in enumerate(zip(self.address, self.postcode, strict=True)):
            pc = norm_postcode(postcode)
            self.by_address.setdefault((_norm(line), pc), i)
            s = sums.setdefault(pc, [0.0, 0.0, 0])
            s[0] += x[i]
            s[1] += y[i]
            s[2] += 1
        self.centroids = {pc: (s[0] / s[2], s[1] / s[2]) for pc, s in sums.items()}

    def __len__(self) -> int:
        return len(self.uprn)

    def find_uprn(self, uprn: Any) -> int | None:
        try:
            value = int(str(uprn).strip())
        except (TypeError, ValueError):
            return None
        at = int(np.searchsorted(self._sorted, value))
        if at < len(self._sorted) and self._sorted[at] == value:
            return int(self._order[at])
        return None

    def find_address(self, line: Any, postcode: Any) -> int | None:
        first = str(line or "").split(",")[0]
        return self.by_address.get((_norm(first), norm_postcode(postcode)))


_cache_lock = threading.Lock()
_gazetteers: dict[tuple[str, float], Gazetteer] = {}


def reference_path(settings: Settings, name: str) -> Path:
    return settings.data_dir / REFERENCE_DIR / name


def gazetteer(settings: Settings) -> Gazetteer:
    path = reference_path(settings, PROPERTIES)
    if not path.is_file():
        raise IncidentError(
            "The gateway has no address gazetteer yet: install the properties file with "
            "`civicshare incidents install-reference DIR`.",
            status=503,
        )
    key = (str(path), path.stat().st_mtime)
    with _cache_lock:
        found = _gazetteers.get(key)
        if found is None:
            found = Gazetteer(path)
            _gazetteers.clear()
            _gazetteers[key] = found
        return found


def install_reference(settings: Settings, geography_dir: Path) -> list[Path]:
    """Copy the address gazetteer, districts and streets (public-style reference data: no
    people) into the data directory, where incidents read them."""
    target = settings.data_dir / REFERENCE_DIR
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in (PROPERTIES, DISTRICTS, STREETS):
        source = Path(geography_dir) / name
        if not source.is_file():
            raise IncidentError(f"{source} is missing: expected the synthetic county's {name}")
        destination = target / name
        staging = destination.with_suffix(".partial")
        shutil.copyfile(source, staging)
        staging.replace(destination)
        copied.append(destination)
    return copied


@lru_cache(maxsize=2)
def _districts_cached(path: str, mtime: float) -> list[dict]:
    return pq.read_table(path, columns=["district", "name", "wkt"]).to_pylist()


def districts(settings: Settings) -> list[dict]:
    """District key, name and WKT polygon (BNG); empty when not installed."""
    path = reference_path(settings, DISTRICTS)
    if not path.is_file():
        return []
    return _districts_cached(str(path), path.stat().st_mtime)


@lru_cache(maxsize=2)
def _district_shapes_cached(path: str, mtime: float):
    import shapely

    return shapely.from_wkt([row["wkt"] for row in _districts_cached(path, mtime)])


def district_shapes(settings: Settings):
    """The districts' polygons (shapely, BNG); empty when not installed."""
    path = reference_path(settings, DISTRICTS)
    if not path.is_file():
        return []
    return _district_shapes_cached(str(path), path.stat().st_mtime)


@lru_cache(maxsize=2)
def _streets_cached(path: str, mtime: float):
    import shapely

    table = pq.read_table(path, columns=["street_name", "wkt"])
    shapes = shapely.from_wkt(table.column("wkt").to_numpy(zero_copy_only=False))
    return table.column("street_name").to_pylist(), shapes, shapely.bounds(shapes)


def streets(settings: Settings):
    """(names, shapely lines in BNG, their bounds) or None when not installed."""
    path = reference_path(settings, STREETS)
    if not path.is_file():
        return None
    return _streets_cached(str(path), path.stat().st_mtime)

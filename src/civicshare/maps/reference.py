"""The county's reference geography: district boundaries, streets (USRN and line) and
properties (UPRN, first address line, postcode and National Grid point). Public-style reference
data, no people in it, under `DATA_DIR/reference/` (installed by `civicshare incidents
install-reference DIR` or by the demo).

This module is the one reader of those files; partners' snapshots are read only by the data
plane, through decide -> execute. Each file is read once per modification time and cached."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from civicshare.config import Settings
from civicshare.maps.errors import MapError

REFERENCE_DIR = "reference"
PROPERTIES = "properties.parquet"
DISTRICTS = "districts.parquet"
STREETS = "streets.parquet"
FILES = (PROPERTIES, DISTRICTS, STREETS)


def reference_path(settings: Settings, name: str) -> Path:
    return settings.data_dir / REFERENCE_DIR / name


def install_reference(settings: Settings, geography_dir: Path) -> list[Path]:
    """Copy the properties, districts and streets (public-style reference data: no people)
    from the synthetic county's geography folder into the data directory, each file replaced
    whole (a reader never sees half a file)."""
    target = settings.data_dir / REFERENCE_DIR
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in FILES:
        source = Path(geography_dir) / name
        if not source.is_file():
            raise MapError(
                f"{source} is missing: expected the synthetic county's {name}", field="geography"
            )
        destination = target / name
        staging = destination.with_suffix(".partial")
        shutil.copyfile(source, staging)
        staging.replace(destination)
        copied.append(destination)
    return copied


def file_stamp(settings: Settings, name: str) -> tuple[str, float] | None:
    """(path, modification time) of a reference file, the key its caches use; None if absent."""
    path = reference_path(settings, name)
    return (str(path), path.stat().st_mtime) if path.is_file() else None


# -- properties ------------------------------------------------------------------------------


def read_properties(settings: Settings, columns: list[str]):
    """The properties file's `columns` as a pyarrow Table; MapError (503) when not installed."""
    path = reference_path(settings, PROPERTIES)
    if not path.is_file():
        raise MapError(
            "The gateway has no address gazetteer yet: install the properties file with "
            "`civicshare incidents install-reference DIR`.",
            status=503,
        )
    return pq.read_table(path, columns=columns)


@dataclass(frozen=True)
class PropertyPoints:
    """Every property as a point: UPRN, USRN, first address line and BNG metres."""

    uprn: np.ndarray
    usrn: np.ndarray
    address: list[str]
    x: np.ndarray
    y: np.ndarray


@lru_cache(maxsize=2)
def _property_points(path: str, mtime: float) -> PropertyPoints:
    table = pq.read_table(path, columns=["uprn", "usrn", "address_line_1", "easting", "northing"])
    return PropertyPoints(
        uprn=table.column("uprn").to_numpy().astype(np.int64),
        usrn=table.column("usrn").to_numpy().astype(np.int64),
        address=table.column("address_line_1").to_pylist(),
        x=table.column("easting").to_numpy().astype(np.float64),
        y=table.column("northing").to_numpy().astype(np.float64),
    )


def property_points(settings: Settings) -> PropertyPoints | None:
    """The properties as points, or None when not installed."""
    stamp = file_stamp(settings, PROPERTIES)
    return _property_points(*stamp) if stamp else None


# -- districts -------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _districts(path: str, mtime: float) -> list[dict]:
    return pq.read_table(path, columns=["district", "name", "wkt"]).to_pylist()


def districts(settings: Settings) -> list[dict]:
    """District key, name and WKT polygon (BNG); empty when not installed."""
    stamp = file_stamp(settings, DISTRICTS)
    return _districts(*stamp) if stamp else []


@lru_cache(maxsize=2)
def _district_shapes(path: str, mtime: float):
    import shapely

    return shapely.from_wkt([row["wkt"] for row in _districts(path, mtime)])


def district_shapes(settings: Settings):
    """The districts' polygons (shapely, BNG); empty when not installed."""
    stamp = file_stamp(settings, DISTRICTS)
    return _district_shapes(*stamp) if stamp else []


# -- streets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Streets:
    """Every street: USRN, name, its line (shapely, BNG) and the line's bounds (n x 4)."""

    usrn: np.ndarray
    names: list[str]
    shapes: np.ndarray
    bounds: np.ndarray


@lru_cache(maxsize=2)
def _streets(path: str, mtime: float) -> Streets:
    import shapely

    table = pq.read_table(path, columns=["usrn", "street_name", "wkt"])
    shapes = shapely.from_wkt(table.column("wkt").to_numpy(zero_copy_only=False))
    return Streets(
        usrn=table.column("usrn").to_numpy().astype(np.int64),
        names=table.column("street_name").to_pylist(),
        shapes=shapes,
        bounds=shapely.bounds(shapes),
    )


def streets(settings: Settings) -> Streets | None:
    """The streets, or None when not installed."""
    stamp = file_stamp(settings, STREETS)
    return _streets(*stamp) if stamp else None


# -- postcodes -------------------------------------------------------------------------------


def postcode_key(text: str) -> str:
    """A postcode as the reference data writes it: upper case, one space before the inward
    code ("wr1 2ab", "WR12AB" -> "WR1 2AB")."""
    compact = "".join(str(text or "").split()).upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


@lru_cache(maxsize=2)
def _postcode_centres(path: str, mtime: float) -> dict[str, tuple[float, float]]:
    table = pq.read_table(path, columns=["postcode", "easting", "northing"]).to_pandas()
    centres = table.groupby("postcode")[["easting", "northing"]].mean()
    return {
        postcode_key(code): (float(row.easting), float(row.northing))
        for code, row in centres.iterrows()
    }


def postcode_centre(settings: Settings, postcode: str) -> tuple[float, float] | None:
    """The mean position (BNG metres) of the gazetteer's properties in `postcode`; None when the
    postcode is not in it (or no gazetteer is installed)."""
    stamp = file_stamp(settings, PROPERTIES)
    return _postcode_centres(*stamp).get(postcode_key(postcode)) if stamp else None

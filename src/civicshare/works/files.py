"""Reading works and traffic counts: CSV or GeoJSON files, or rows from the data plane.

Every refused row is named by its place (`row 4`: the fourth data row after the header;
`feature 2`: the second feature of the collection) and the field at fault, e.g.
`row 4, proposed_end_date: is before proposed_start_date (2027-03-01)`. A row with several
faults gets one error per field. Valid rows are kept; nothing is guessed.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from civicshare.core.errors import DomainError
from civicshare.works.models import (
    TRAFFIC_COUNT_FIELDS,
    TRAFFIC_MANAGEMENT_TYPES,
    WORKS_CATEGORIES,
    RowError,
    TrafficCounts,
    Work,
    WorksFile,
)

REQUIRED = (
    "work_reference_number",
    "promoter",
    "works_category",
    "activity_type",
    "traffic_management_type",
    "proposed_start_date",
    "proposed_end_date",
    "excavation",
    "traffic_sensitive",
)
COUNT_FIELDS = TRAFFIC_COUNT_FIELDS
# Great Britain on the National Grid, generously: outside is a mistake (axes swapped, WGS84).
BNG_EXTENT = (0.0, 0.0, 700_000.0, 1_300_000.0)
MAX_USRN = 99_999_999
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
# Spoken forms a planner may type, beyond the mechanical normalisation in `traffic_management`.
TM_ALIASES = {
    "contraflow": "contra_flow",
    "convoy_working": "convoy_workings",
    "multiway_signals": "multi_way_signals",
    "multi_way_lights": "multi_way_signals",
    "two_way_lights": "two_way_signals",
    "stop_go": "stop_go_boards",
    "give_&_take": "give_and_take",
}


class WorksFileError(DomainError):
    """A file that cannot be read at all (missing, not CSV or GeoJSON, not UTF-8)."""

    status = 422


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


# ---- fields ----------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad(f"must be a whole number, not {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise _Bad(f"must be a whole number, not {text!r}")
    return int(text)


def _usrn(value: Any) -> int:
    usrn = _integer(value)
    if not 1 <= usrn <= MAX_USRN:
        raise _Bad(f"must be a USRN from 1 to {MAX_USRN}, not {usrn}")
    return usrn


def parse_date(value: Any) -> date:
    if isinstance(value, date):
        return value if type(value) is date else value.date()
    text = str(value).strip()
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise _Bad(f"must be an ISO date such as 2027-03-01, not {text!r}") from None


def parse_yes_no(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text in YES:
        return True
    if text in NO:
        return False
    raise _Bad(f"must be yes or no, not {str(value).strip()!r}")


def traffic_management(value: Any) -> str:
    """Street Manager's value for a traffic management type, spoken forms accepted."""
    text = str(value).strip().lower()
    for mark in (" ", "-", "/"):
        text = text.replace(mark, "_")
    text = text.replace("carriageway", "c_way")
    text = TM_ALIASES.get(text, text)
    if text not in TRAFFIC_MANAGEMENT_TYPES:
        raise _Bad(
            f"{str(value).strip()!r} is not a traffic management type; use one of "
            + ", ".join(TRAFFIC_MANAGEMENT_TYPES)
        )
    return text


def parse_geometry(value: Any, lines_only: bool = False) -> BaseGeometry:
    """A BNG geometry from WKT (or a shapely geometry): a point, line or polygon (or several)
    inside Great Britain's National Grid extent; a diversion route must be a line."""
    if isinstance(value, BaseGeometry):
        geometry = value
    else:
        try:
            geometry = shapely.from_wkt(str(value).strip())
        except shapely.errors.GEOSException as error:
            reason = str(error).split(": ", 1)[-1]
            raise _Bad(f"is not valid WKT ({reason})") from None
    if geometry is None or geometry.is_empty:
        raise _Bad("is empty")
    kinds = ("LineString", "MultiLineString") if lines_only else _KINDS
    if geometry.geom_type not in kinds:
        raise _Bad(
            f"must be a {'line' if lines_only else 'point, line or polygon'}, "
            f"not a {geometry.geom_type}"
        )
    if geometry.has_z:
        geometry = shapely.force_2d(geometry)
    x0, y0, x1, y1 = geometry.bounds
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise _Bad("has a coordinate that is not a number")
    if x0 < BNG_EXTENT[0] or y0 < BNG_EXTENT[1] or x1 > BNG_EXTENT[2] or y1 > BNG_EXTENT[3]:
        raise _Bad(
            f"lies outside Great Britain's National Grid (EPSG:27700 metres; bounds {x0:g}, "
            f"{y0:g}, {x1:g}, {y1:g}): is it in longitude/latitude, or are the axes swapped?"
        )
    if geometry.geom_type in ("Polygon", "MultiPolygon") and not geometry.is_valid:
        raise _Bad(f"is not a valid polygon ({shapely.is_valid_reason(geometry)})")
    return geometry


_KINDS = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")


# ---- works ---------------------------------------------------------------------------------


def work_from_row(row: Mapping[str, Any], geometry: Any = None) -> tuple[Work | None, list]:
    """A work from one row (a Mapping of field to value), or the (field, message) faults."""
    faults: list[tuple[str, str]] = []
    values: dict[str, Any] = {}

    def take(name: str, parse=lambda v: str(v).strip(), required: bool = True) -> None:
        raw = row.get(name)
        if not isinstance(raw, BaseGeometry) and _text(raw) is None:
            if required:
                faults.append((name, "is required"))
            values[name] = None
            return
        try:
            values[name] = parse(raw if not isinstance(raw, str) else raw.strip())
        except _Bad as bad:
            faults.append((name, bad.message))

    for name in ("work_reference_number", "promoter", "activity_type"):
        take(name)
    take("street_name", required=False)
    take("path_id", required=False)
    take("usrn", _usrn, required=False)
    take("works_category", _category)
    take("traffic_management_type", traffic_management)
    take("proposed_start_date", parse_date)
    take("proposed_end_date", parse_date)
    for name in ("excavation", "traffic_sensitive"):
        take(name, parse_yes_no)
    take("closure", parse_yes_no, required=False)
    if geometry is not None:
        values["works_location_wkt"] = geometry
    else:
        take("works_location_wkt", parse_geometry)
    take("diversion_route_wkt", lambda v: parse_geometry(v, lines_only=True), required=False)
    if "usrn" in values and values["usrn"] is None and values.get("path_id") is None:
        faults.append(("usrn", "is required unless path_id is given (a right of way)"))
    start, end = values.get("proposed_start_date"), values.get("proposed_end_date")
    if start and end and end < start:
        faults.append(("proposed_end_date", f"is before proposed_start_date ({start})"))
    if faults:
        return None, faults
    closure = values["closure"]
    if closure is None:
        closure = values["traffic_management_type"] == "road_closure"
    work = Work(
        work_reference_number=values["work_reference_number"],
        promoter=values["promoter"],
        usrn=values["usrn"],
        path_id=values["path_id"],
        street_name=values["street_name"],
        works_category=values["works_category"],
        activity_type=values["activity_type"],
        traffic_management_type=values["traffic_management_type"],
        proposed_start_date=start,
        proposed_end_date=end,
        location=values["works_location_wkt"],
        excavation=values["excavation"],
        traffic_sensitive=values["traffic_sensitive"],
        closure=closure,
        diversion_route=values["diversion_route_wkt"],
    )
    return work, []


def _category(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in WORKS_CATEGORIES:
        raise _Bad(
            f"{str(value).strip()!r} is not a works category; "
            f"use one of {', '.join(WORKS_CATEGORIES)}"
        )
    return text


def works_from_rows(
    rows: Iterable[Mapping[str, Any]] | Any,
    *,
    label: str = "row",
    geometries: list[Any] | None = None,
) -> WorksFile:
    """Works from rows: dicts of field to value (text as in a CSV, or typed values: ints,
    dates, booleans, shapely geometries), or a pyarrow table. `geometries`, when given, holds a
    location per row that replaces `works_location_wkt` (GeoJSON features)."""
    if hasattr(rows, "to_pylist"):
        rows = rows.to_pylist()
    works: list[Work] = []
    errors: list[RowError] = []
    first_row: dict[str, str] = {}
    count = 0
    for index, row in enumerate(rows):
        count += 1
        where = f"{label} {index + 1}"
        geometry = geometries[index] if geometries is not None else None
        bad_geometry = isinstance(geometry, RowError)
        work, faults = work_from_row(row, None if bad_geometry else geometry)
        if bad_geometry:  # the feature's geometry is at fault, not a missing WKT property
            faults = [f for f in faults if f[0] != "works_location_wkt"]
            faults.append((geometry.field, geometry.message))
            work = None
        errors.extend(RowError(where, name, message) for name, message in faults)
        if work is None:
            continue
        reference = work.work_reference_number
        if reference in first_row:
            errors.append(
                RowError(
                    where,
                    "work_reference_number",
                    f"{reference} is already used by {first_row[reference]}",
                )
            )
            continue
        first_row[reference] = where
        works.append(work)
    return WorksFile(tuple(works), tuple(errors), count, tuple(first_row.values()))


def read_works(path: Path) -> WorksFile:
    """The works of a CSV file (header row, `.csv`) or a GeoJSON FeatureCollection (`.geojson`
    or `.json`). Raises WorksFileError when the file cannot be read at all."""
    path = Path(path)
    text = _read_text(path)
    if path.suffix.lower() in (".geojson", ".json"):
        return _works_from_geojson(text)
    if path.suffix.lower() != ".csv":
        raise WorksFileError(f"{path.name}: a works file must be .csv or .geojson", field="file")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [name for name in REQUIRED if name not in (reader.fieldnames or ())]
    if missing:
        return WorksFile(
            (), (RowError("header", missing[0], f"missing column(s) {', '.join(missing)}"),)
        )
    return works_from_rows(reader)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise WorksFileError(f"There is no file {path}.", field="file") from None
    except UnicodeDecodeError:
        raise WorksFileError(f"{path.name} is not UTF-8 text.", field="file") from None


def _works_from_geojson(text: str) -> WorksFile:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        return WorksFile(
            (), (RowError(f"line {error.lineno}", "file", f"is not JSON ({error.msg})"),)
        )
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        return WorksFile((), (RowError("document", "type", "must be a GeoJSON FeatureCollection"),))
    features = document.get("features")
    if not isinstance(features, list):
        return WorksFile((), (RowError("document", "features", "must be a list of features"),))
    rows, geometries = [], []
    for feature in features:
        feature = feature if isinstance(feature, dict) else {}
        properties = feature.get("properties")
        rows.append(properties if isinstance(properties, dict) else {})
        geometries.append(_feature_geometry(feature.get("geometry")))
    return works_from_rows(rows, label="feature", geometries=geometries)


def _feature_geometry(geometry: Any) -> Any:
    """A feature's geometry (BNG), None when it has none, or a RowError saying what is wrong."""
    if geometry is None:
        return None
    try:
        return parse_geometry(shape(geometry))
    except _Bad as bad:
        return RowError("", "geometry", bad.message)
    except Exception as error:  # shapely's shape() raises several kinds on a malformed member
        return RowError("", "geometry", f"is not a GeoJSON geometry ({error})")


# ---- traffic counts ------------------------------------------------------------------------


def traffic_counts_from_rows(
    rows: Iterable[Mapping[str, Any]] | Any, *, label: str = "row"
) -> TrafficCounts:
    """Traffic counts from rows of usrn, count_date, hour (0-23) and vehicles (0 or more)."""
    if hasattr(rows, "to_pylist"):
        rows = rows.to_pylist()
    kept: dict[str, list] = {name: [] for name in COUNT_FIELDS}
    errors: list[RowError] = []
    count = 0
    for index, row in enumerate(rows):
        count += 1
        parsed, faults = {}, []
        for name, parse in (
            ("usrn", _usrn),
            ("count_date", parse_date),
            ("hour", _integer),
            ("vehicles", _integer),
        ):
            raw = row.get(name)
            if _text(raw) is None:
                faults.append((name, "is required"))
                continue
            try:
                parsed[name] = parse(raw)
            except _Bad as bad:
                faults.append((name, bad.message))
        if "hour" in parsed and not 0 <= parsed["hour"] <= 23:
            faults.append(("hour", f"must be from 0 to 23, not {parsed['hour']}"))
        if "vehicles" in parsed and parsed["vehicles"] < 0:
            faults.append(("vehicles", f"must be 0 or more, not {parsed['vehicles']}"))
        if faults:
            errors.extend(RowError(f"{label} {index + 1}", n, m) for n, m in faults)
            continue
        for name in COUNT_FIELDS:
            kept[name].append(parsed[name])
    return TrafficCounts.from_arrays(
        kept["usrn"],
        kept["count_date"],
        kept["hour"],
        kept["vehicles"],
        errors=tuple(errors),
        rows=count,
    )


def read_traffic_counts(path: Path) -> TrafficCounts:
    """Traffic counts from a CSV file with the header usrn, count_date, hour, vehicles."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    missing = [name for name in COUNT_FIELDS if name not in (reader.fieldnames or ())]
    if missing:
        return TrafficCounts(
            errors=(RowError("header", missing[0], f"missing column(s) {', '.join(missing)}"),)
        )
    return traffic_counts_from_rows(reader)

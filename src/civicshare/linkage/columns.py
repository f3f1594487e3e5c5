"""Column maps for file mode: which column of each file holds which canonical field.

A map is YAML. One map can serve every file::

    record_id: rec_id
    given_name: given_name
    surname: surname
    date_of_birth: {column: date_of_birth, format: "%Y%m%d"}
    address: [street_number, address_1, address_2, suburb, state]
    postcode: postcode
    other_id: soc_sec_id

or each file can have its own section (by file name or by name without extension), with
``default`` for the files not named::

    files:
      acute-admissions.csv:
        record_id: SPELL_ID
        nhs_number: NHS_NO
        date_of_birth: {column: DOB, format: "%Y%m%d"}
      default:
        record_id: id

Fields: record_id (required), given_name (one column, or a list such as first and middle names,
joined in order), surname, full_name (instead of the two: ``SURNAME, Forenames`` or ``Mrs Jane
Smith``, titles dropped, the last word the surname), date_of_birth (a column, or ``{column,
format}`` with a strptime format; ISO ``%Y-%m-%d`` when no format is given), sex, nhs_number,
other_id, address (one column or a list, joined in order), postcode, uprn; and optionally
age_band, ethnic_group (passed through for the report's bias check), source (a name for the
file in the outputs; the file name without extension by default) and duplicates (``true``: the
file may hold one person more than once, so linking does not limit each of its records to one
record of each other file; ``--allow-duplicates`` says this of every file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from civicshare.core.errors import DomainError

FIELDS = (
    "record_id",
    "given_name",
    "surname",
    "full_name",
    "date_of_birth",
    "sex",
    "nhs_number",
    "other_id",
    "address",
    "postcode",
    "uprn",
    "age_band",
    "ethnic_group",
)
ISO_DATE = "%Y-%m-%d"


class ColumnMapError(DomainError, ValueError):
    """A column map or an input file that does not fit it; the message names where."""

    status = 422


@dataclass
class FileColumns:
    """The columns of one file: canonical field -> list of file columns."""

    columns: dict[str, list[str]]
    date_format: str = ISO_DATE
    source: str | None = None
    duplicates: bool = False  # the file may hold one person more than once

    def required_columns(self) -> list[str]:
        return [c for cols in self.columns.values() for c in cols]


@dataclass
class ColumnMap:
    default: FileColumns | None
    per_file: dict[str, FileColumns] = field(default_factory=dict)
    origin: str = "the column map"

    def for_file(self, path: Path) -> FileColumns:
        for key in (path.name, path.stem):
            if key in self.per_file:
                return self.per_file[key]
        if self.default is None:
            named = ", ".join(sorted(self.per_file)) or "none"
            raise ColumnMapError(
                f"{self.origin}: no section for {path.name} (sections: {named}; add one or a "
                "'default' section)"
            )
        return self.default


def _section(spec: Any, where: str) -> FileColumns:
    if not isinstance(spec, dict):
        raise ColumnMapError(f"{where}: expected a mapping of field: column, got {spec!r}")
    columns: dict[str, list[str]] = {}
    date_format = ISO_DATE
    source = None
    duplicates = False
    for key, value in spec.items():
        if key == "duplicates":
            if not isinstance(value, bool):
                raise ColumnMapError(f"{where}, duplicates: expected true or false, got {value!r}")
            duplicates = value
            continue
        if key == "source":
            if not isinstance(value, str) or not value.strip():
                raise ColumnMapError(f"{where}, source: expected a name, got {value!r}")
            source = value.strip()
            continue
        if key not in FIELDS:
            raise ColumnMapError(
                f"{where}: unknown field {key!r} (fields: {', '.join(FIELDS)}, source, duplicates)"
            )
        if key == "date_of_birth" and isinstance(value, dict):
            unknown = set(value) - {"column", "format"}
            if unknown or "column" not in value:
                raise ColumnMapError(
                    f"{where}, date_of_birth: expected {{column: NAME, format: '%d/%m/%Y'}}, "
                    f"got {value!r}"
                )
            date_format = str(value.get("format") or ISO_DATE)
            if "%" not in date_format:
                raise ColumnMapError(
                    f"{where}, date_of_birth: format {date_format!r} is not a strptime format "
                    "such as '%d/%m/%Y'"
                )
            value = value["column"]
        names = value if isinstance(value, list) else [value]
        if key not in ("address", "given_name") and len(names) != 1:
            raise ColumnMapError(f"{where}, {key}: expected one column, got {value!r}")
        if not names or not all(isinstance(n, (str, int)) and str(n).strip() for n in names):
            raise ColumnMapError(f"{where}, {key}: expected column names, got {value!r}")
        columns[key] = [str(n) for n in names]
    if "full_name" in columns and ({"given_name", "surname"} & set(columns)):
        raise ColumnMapError(
            f"{where}: full_name replaces given_name and surname; map one or the other"
        )
    if "record_id" not in columns:
        raise ColumnMapError(f"{where}: record_id is required (the column naming each row)")
    if len(columns) < 3:
        raise ColumnMapError(
            f"{where}: map at least two fields besides record_id (names, date of birth, "
            "postcode, an identifier ...)"
        )
    return FileColumns(
        columns=columns, date_format=date_format, source=source, duplicates=duplicates
    )


def parse_column_map(data: Any, origin: str = "the column map") -> ColumnMap:
    if not isinstance(data, dict) or not data:
        raise ColumnMapError(f"{origin}: expected a mapping of field: column (or 'files:')")
    if "files" in data:
        extra = set(data) - {"files"}
        if extra:
            raise ColumnMapError(
                f"{origin}: with 'files:' put every field inside a file's section "
                f"(found {', '.join(sorted(extra))} at the top level)"
            )
        files = data["files"]
        if not isinstance(files, dict) or not files:
            raise ColumnMapError(f"{origin}, files: expected file name: {{field: column}}")
        per_file = {
            str(name): _section(spec, f"{origin}, files, {name}")
            for name, spec in files.items()
            if name != "default"
        }
        default = (
            _section(files["default"], f"{origin}, files, default")
            if ("default" in files)
            else None
        )
        return ColumnMap(default=default, per_file=per_file, origin=origin)
    return ColumnMap(default=_section(data, origin), origin=origin)


def load_column_map(path: Path) -> ColumnMap:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ColumnMapError(f"{path}: cannot read the column map ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ColumnMapError(f"{path}{where}: not valid YAML ({exc})") from exc
    return parse_column_map(data, origin=str(path))


def guess_column_map(columns: list[str]) -> FileColumns:
    """A map from column names alone, for files whose columns already use canonical names."""
    lower = {c.lower(): c for c in columns}
    spec: dict[str, Any] = {}
    for name in FIELDS:
        if name in lower:
            spec[name] = lower[name]
    origin = "the file's own column names (no --columns given)"
    return parse_column_map(spec, origin=origin).default

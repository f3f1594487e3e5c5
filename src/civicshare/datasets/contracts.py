"""Dataset contracts: what a partner promises each file of a dataset looks like.

A contract is JSON (a file, the API or the web form) validated by `Contract`. It names the
columns in the file's own spelling, their types, which are required, which identify a person
(and how), which are special category or criminal offence data, the date formats the partner
uses, and what happens to bad rows: `reject` the whole file, or `quarantine` them (kept
encrypted, out of the snapshot) as long as they are at most `quarantine_limit` of the file.
Its optional `retention` rules say how long old data is kept (docs/retention.md).
`record_id` names the column that identifies each record: a repeated value is rejected or
quarantined (`duplicate_records`). `limits` bound what one file may hold; they are checked
before the file is parsed in earnest, so an oversized file is refused in well under a second.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from civicshare.core.errors import DomainError

CONTRACTS_DIR = Path(__file__).parent / "contracts"
NAME_PATTERN = r"^[a-z0-9][a-z0-9\-]{0,99}$"


class ColumnType(enum.StrEnum):
    string = "string"
    integer = "integer"
    decimal = "decimal"
    boolean = "boolean"
    date = "date"
    datetime = "datetime"


class IdentifierKind(enum.StrEnum):
    """How a column identifies a person. Anything but `none` is never stored in plaintext."""

    nhs_number = "nhs_number"
    given_name = "given_name"
    family_name = "family_name"
    full_name = "full_name"
    date_of_birth = "date_of_birth"
    postcode = "postcode"
    address = "address"
    uprn = "uprn"
    phone = "phone"
    email = "email"
    other_id = "other_id"
    none = "none"


class BadRows(enum.StrEnum):
    reject = "reject"
    quarantine = "quarantine"


class FileFormat(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    parquet = "parquet"


DEFAULT_TRUE = ["y", "yes", "true", "t", "1"]
DEFAULT_FALSE = ["n", "no", "false", "f", "0"]
STRING_KINDS = {
    IdentifierKind.nhs_number,
    IdentifierKind.given_name,
    IdentifierKind.family_name,
    IdentifierKind.full_name,
    IdentifierKind.postcode,
    IdentifierKind.address,
    IdentifierKind.uprn,
    IdentifierKind.phone,
    IdentifierKind.email,
}


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    name: str = Field(min_length=1, max_length=200, description="As in the file's header row.")
    type: ColumnType = ColumnType.string
    required: bool = False
    identifier: IdentifierKind = IdentifierKind.none
    special_category: bool = False
    special_category_kind: str | None = Field(
        default=None, description="For special category data: health, ethnic origin, ..."
    )
    criminal_offence: bool = False
    formats: list[str] = Field(
        default_factory=list,
        description="Date or datetime formats (strftime); default the contract's.",
    )
    true_values: list[str] | None = None
    false_values: list[str] | None = None
    allowed_values: list[str] | None = None
    description: str = Field(
        default="",
        description="The column's plain name (for example Discharge pathway), used where "
        "agreements and the register name it.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if self.identifier == IdentifierKind.date_of_birth and self.type != ColumnType.date:
            raise ValueError(f"column {self.name!r}: a date_of_birth column must have type date")
        if self.identifier in STRING_KINDS and self.type != ColumnType.string:
            raise ValueError(
                f"column {self.name!r}: a {self.identifier.value} column must have type string"
            )
        if self.formats and self.type not in (ColumnType.date, ColumnType.datetime):
            raise ValueError(f"column {self.name!r}: formats apply only to date and datetime")
        if self.special_category_kind and not self.special_category:
            raise ValueError(
                f"column {self.name!r}: special_category_kind needs special_category true"
            )
        return self

    @property
    def is_identifier(self) -> bool:
        return self.identifier != IdentifierKind.none

    @property
    def sensitive(self) -> bool:
        """Values never shown in a report: identifiers, special category, criminal offence."""
        return self.is_identifier or self.special_category or self.criminal_offence

    def truthy(self) -> list[str]:
        return [v.lower() for v in (self.true_values or DEFAULT_TRUE)]

    def falsy(self) -> list[str]:
        return [v.lower() for v in (self.false_values or DEFAULT_FALSE)]


MIB = 1 << 20


class Limits(BaseModel):
    """What one file may hold. Defaults are safe for a partner's ordinary extracts; a contract
    may set any of them lower, or higher (up to the ceilings below) for a larger dataset."""

    model_config = ConfigDict(extra="forbid")

    max_columns: int = Field(
        default=2_000, ge=1, le=100_000, description="Columns in the file's header (all of them)."
    )
    max_field_bytes: int = Field(
        default=MIB, ge=1, le=64 * MIB, description="Bytes of one field (as UTF-8 text)."
    )
    max_rows: int = Field(
        default=50_000_000, ge=1, le=2_000_000_000, description="Data rows in one file."
    )
    max_xlsx_uncompressed_bytes: int = Field(
        default=200 * MIB,
        ge=1,
        le=16 << 30,
        description="XLSX: the workbook's parts decompressed, summed (zip bombs).",
    )


class Retention(BaseModel):
    """How long the gateway keeps a dataset's data (enforced by `civicshare retention run`).

    A superseded snapshot is purged once it has been superseded for `keep_superseded_days`,
    or as soon as more than `keep_superseded_versions` newer superseded versions exist.
    With `max_age_days`, rows of the current snapshot whose `age_column` is older than that
    are dropped: a new version is written without them and the old one is purged."""

    model_config = ConfigDict(extra="forbid")

    keep_superseded_days: int = Field(
        default=30, ge=0, le=36500, description="Days a superseded snapshot is kept."
    )
    keep_superseded_versions: int = Field(
        default=5, ge=0, le=1000, description="Superseded snapshots kept at most."
    )
    max_age_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="Rows whose age_column is older than this many days are dropped.",
    )
    age_column: str | None = Field(
        default=None, description="A date or datetime column (not an identifier)."
    )

    @model_validator(mode="after")
    def _paired(self) -> Retention:
        if (self.max_age_days is None) != (self.age_column is None):
            raise ValueError("max_age_days and age_column go together: give both or neither")
        return self


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partner: str = Field(pattern=NAME_PATTERN, description="Key of the providing partner.")
    name: str = Field(
        pattern=NAME_PATTERN, description="The dataset's name, e.g. acute-admissions."
    )
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    format: FileFormat = FileFormat.csv
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    sheet: str | None = Field(default=None, description="XLSX: the sheet; default the first.")
    date_formats: list[str] = Field(default_factory=lambda: ["%Y-%m-%d"])
    datetime_formats: list[str] = Field(
        default_factory=lambda: ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
    )
    bad_rows: BadRows = BadRows.reject
    quarantine_limit: float = Field(
        default=0.1, ge=0, le=1, description="Quarantine: reject the file above this share."
    )
    record_id: str | None = Field(
        default=None, description="The column naming each record; a value may appear once."
    )
    duplicate_records: BadRows = Field(
        default=BadRows.reject,
        description="A record_id seen before in the file: reject the file (default) or "
        "quarantine the later rows (the first is kept; quarantine_limit applies).",
    )
    one_record_per_person: bool = Field(
        default=False,
        description="No person appears twice in a file (a GP list, a council's residents): "
        "the person index links each record to at most one record of every other such dataset.",
    )
    limits: Limits = Field(default_factory=Limits, description="What one file may hold.")
    columns: list[Column] = Field(min_length=1)
    retention: Retention = Field(
        default_factory=Retention, description="How long old data is kept."
    )

    @field_validator("columns")
    @classmethod
    def _unique(cls, columns: list[Column]) -> list[Column]:
        seen: set[str] = set()
        for column in columns:
            if column.name in seen:
                raise ValueError(f"column {column.name!r} appears twice")
            if "__" in column.name:
                raise ValueError(f"column {column.name!r}: '__' is reserved for stored columns")
            seen.add(column.name)
        return columns

    @model_validator(mode="after")
    def _record_id(self) -> Contract:
        if self.record_id and self.record_id not in {c.name for c in self.columns}:
            raise ValueError(f"record_id {self.record_id!r} is not one of the columns")
        return self

    @model_validator(mode="after")
    def _age_column(self) -> Contract:
        name = self.retention.age_column
        if name is None:
            return self
        column = next((c for c in self.columns if c.name == name), None)
        if column is None:
            raise ValueError(f"retention.age_column {name!r} is not one of the columns")
        if column.type not in (ColumnType.date, ColumnType.datetime) or column.is_identifier:
            raise ValueError(
                f"retention.age_column {name!r} must be a date or datetime column that is not "
                "an identifier"
            )
        return self

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def formats_for(self, column: Column) -> list[str]:
        if column.formats:
            return column.formats
        return self.date_formats if column.type == ColumnType.date else self.datetime_formats


class ContractError(DomainError, ValueError):
    """A contract that does not validate; the message names each field."""

    status = 422


def parse_contract(data: dict[str, Any] | str | bytes) -> Contract:
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as error:
            raise ContractError(f"the contract is not valid JSON: {error}") from None
    try:
        return Contract.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'contract'}: {e['msg']}"
            for e in error.errors()
        )
        raise ContractError(f"the contract is not valid: {problems}") from None


def load_contract(path: Path) -> Contract:
    return parse_contract(Path(path).read_text())


def example_contracts() -> list[Contract]:
    """The contracts shipped for the synthetic county's datasets."""
    return [load_contract(path) for path in sorted(CONTRACTS_DIR.glob("*.json"))]

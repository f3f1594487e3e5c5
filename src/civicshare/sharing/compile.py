"""Compile a Grant into DuckDB SQL over a snapshot's Parquet files, and run it.

The SQL is generated from the grant alone: its columns (each with its treatment), its row scope
and its output controls. Keys reach DuckDB only as bound parameters, never in SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import pyarrow as pa

from civicshare.agreements.models import Generalisation, Treatment
from civicshare.sharing.service import Grant

AGE_BAND_WIDTH = 5
AGE_BAND_TOP = 90  # 90 and over in one band: few people are older, and they stand out


class CannotExecute(Exception):
    """The grant asks for something the snapshot cannot give safely (said in plain words)."""


@dataclass(frozen=True)
class StoredColumn:
    """How one of the contract's columns is stored in the snapshot's Parquet."""

    name: str  # the name the provider and the agreement use
    type: str = "string"  # string, integer, decimal, boolean, date, datetime
    identifier: str | None = None  # nhs_number, date_of_birth, postcode, ... or None
    plain: str | None = None  # Parquet column with the value in clear
    token: str | None = None  # Parquet column with the keyed base token
    encrypted: str | None = None  # Parquet column with the AES-GCM ciphertext
    derived: dict[str, str] = field(default_factory=dict)  # generalisation -> Parquet column


@dataclass(frozen=True)
class SnapshotView:
    """What execute() reads: the files and how each contract column is stored."""

    ref: str  # "<partner>/<dataset>/v<N>"
    files: tuple[str, ...]
    columns: dict[str, StoredColumn]

    def by_identifier(self, kind: str) -> StoredColumn | None:
        return next((c for c in self.columns.values() if c.identifier == kind), None)


@dataclass(frozen=True)
class Compiled:
    sql: str
    decrypt: dict[str, str]  # output column -> encrypted Parquet column to decrypt after


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _hmac_sql(value_sql: str) -> str:
    # HMAC-SHA256 in SQL: H((K xor opad) || H((K xor ipad) || m)); the two padded keys are
    # bound parameters, so they never appear in the statement.
    inner = f"sha256($inner::BLOB || encode(CAST({value_sql} AS VARCHAR)))"
    return f"sha256($outer::BLOB || unhex({inner}))"


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def _generalise_sql(how: Generalisation, value: str, today: date) -> str:
    if how == Generalisation.age_band:
        age = f"date_sub('year', CAST({value} AS DATE), DATE '{today.isoformat()}')"
        low = f"(floor({age} / {AGE_BAND_WIDTH}) * {AGE_BAND_WIDTH})::INTEGER"
        return (
            f"CASE WHEN {value} IS NULL THEN NULL WHEN {age} >= {AGE_BAND_TOP} "
            f"THEN '{AGE_BAND_TOP}+' ELSE {low}::VARCHAR || '-' || "
            f"({low} + {AGE_BAND_WIDTH - 1})::VARCHAR END"
        )
    if how == Generalisation.birth_year:
        return f"year(CAST({value} AS DATE))"
    if how == Generalisation.postcode_sector:
        return rf"regexp_replace(upper(trim({value})), '^(\S+)\s*(\d)[A-Z]{{2}}$', '\1 \2')"
    if how == Generalisation.postcode_district:
        return rf"regexp_extract(upper(trim({value})), '^(\S+)', 1)"
    if how == Generalisation.month:
        return f"strftime(CAST({value} AS DATE), '%Y-%m')"
    if how == Generalisation.flag:
        return (
            f"({value} IS NOT NULL AND upper(trim(CAST({value} AS VARCHAR))) "
            "NOT IN ('', 'N', 'NO', '0', 'FALSE'))"
        )
    raise CannotExecute(f"Unknown generalisation {how}")


def _column_sql(column, stored: StoredColumn, today: date, decrypt: dict[str, str]) -> str:
    treatment = column.treatment
    if treatment == Treatment.identifiable:
        if stored.plain:
            return _quote(stored.plain)
        if stored.encrypted:
            decrypt[column.column] = stored.encrypted
            return _quote(stored.encrypted)
    elif treatment == Treatment.pseudonymised:
        if stored.token:
            return _hmac_sql(_quote(stored.token))
        if stored.plain:
            return _hmac_sql(_quote(stored.plain))
    elif treatment == Treatment.generalised:
        how = column.generalisation
        if how is None:
            raise CannotExecute(
                f"{column.column} is to be generalised but the agreement says not how"
            )
        if how.value in stored.derived:
            return _quote(stored.derived[how.value])
        if stored.plain:
            return _generalise_sql(how, _quote(stored.plain), today)
    raise CannotExecute(
        f"{column.column} cannot be delivered {treatment.value}: the snapshot does not hold it "
        "in a form that allows it"
    )


def _scope_sql(grant: Grant, view: SnapshotView, recipient_district: str | None, today: date):
    """WHERE clauses for the agreement's row scope; each needs a column that can answer it."""
    clauses: list[str] = []
    scope = grant.row_scope or {}
    low, high = scope.get("min_age"), scope.get("max_age")
    if low is not None or high is not None:
        dob = view.by_identifier("date_of_birth")
        if dob is None or not dob.plain:
            raise CannotExecute(
                "The agreement limits rows by age, but this dataset has no date of birth that "
                "can be checked"
            )
        age = f"date_sub('year', CAST({_quote(dob.plain)} AS DATE), DATE '{today.isoformat()}')"
        if low is not None:
            clauses.append(f"{age} >= {int(low)}")
        if high is not None:
            clauses.append(f"{age} <= {int(high)}")
    if scope.get("recipient_district_only"):
        if not recipient_district:
            raise CannotExecute(
                "The agreement shares only residents of the recipient's district, but the "
                "recipient is not a district"
            )
        district = view.by_identifier("district")
        if district is None or not district.plain:
            raise CannotExecute(
                "The agreement shares only residents of the recipient's district, but this "
                "dataset does not say which district each person lives in"
            )
        clauses.append(f"lower({_quote(district.plain)}) = lower($district)")
    return clauses


def compile_grant(
    grant: Grant,
    view: SnapshotView,
    *,
    recipient_district: str | None = None,
    today: date | None = None,
) -> Compiled:
    today = today or date.today()
    decrypt: dict[str, str] = {}
    selected = []
    for column in grant.columns:
        stored = view.columns.get(column.column)
        if stored is None:
            raise CannotExecute(f"The snapshot has no column {column.column}")
        selected.append(f"{_column_sql(column, stored, today, decrypt)} AS {_quote(column.column)}")
    where = _scope_sql(grant, view, recipient_district, today)
    files = ", ".join("'" + f.replace("'", "''") + "'" for f in view.files)
    source = f"read_parquet([{files}])"
    body = f"SELECT {', '.join(selected)} FROM {source}"
    if where:
        body += " WHERE " + " AND ".join(where)
    if grant.aggregate_by is not None:
        groups = ", ".join(_quote(c) for c in grant.aggregate_by)
        counted = f"SELECT {groups}{', ' if groups else ''}count(*) AS n FROM ({body}) GROUP BY ALL"
        # Small-number suppression cannot be switched off: 1-7 -> '*', else nearest 5.
        body = (
            f"SELECT {groups}{', ' if groups else ''}CASE WHEN n <= {grant.suppress_at_or_below} "
            f"THEN '*' ELSE (round(n / {grant.round_to}) * {grant.round_to})::BIGINT::VARCHAR "
            f"END AS count FROM ({counted}) ORDER BY {groups or 'count'}"
        )
    return Compiled(sql=body, decrypt=decrypt)


def run(
    compiled: Compiled,
    *,
    agreement_key: bytes | None,
    recipient_district: str | None = None,
) -> pa.Table:
    """Execute compiled SQL in a fresh in-memory DuckDB; returns Arrow (ciphertext still in
    the columns listed in `compiled.decrypt`)."""
    parameters: dict = {}
    if "$inner" in compiled.sql:
        if agreement_key is None:
            raise CannotExecute("Pseudonymised columns need the agreement's token key")
        parameters["inner"], parameters["outer"] = hmac_pads(agreement_key)
    if "$district" in compiled.sql:
        parameters["district"] = recipient_district
    with duckdb.connect() as connection:
        return connection.sql(compiled.sql, params=parameters).to_arrow_table()

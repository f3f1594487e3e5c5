"""Compile a Grant into DuckDB SQL over a snapshot's Parquet files, and run it.

The SQL is generated from the grant alone: its columns (each with its treatment), its row scope
and its output controls. Keys reach DuckDB only as bound parameters, never in SQL text.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from civicshare.agreements.models import Generalisation, Treatment
from civicshare.config import Settings
from civicshare.dataplane.grant import ConditionOp, Grant, RowCondition
from civicshare.dataplane.ingest.layout import DATA_FILE, SNAPSHOTS_DIR
from civicshare.dataplane.store import LocalStore, SnapshotStore, snapshot_store
from civicshare.identity import service as identity

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
    sealed: str | None = None  # file (under the snapshot) with the column sealed whole
    derived: dict[str, str] = field(default_factory=dict)  # generalisation -> Parquet column


@dataclass(frozen=True)
class SnapshotView:
    """What execute() reads: the files and how each contract column is stored."""

    ref: str  # "<partner>/<dataset>/v<N>"
    files: tuple[str, ...]
    columns: dict[str, StoredColumn]
    # Parquet of postcode sector -> district (a postcode directory), for "recipient's district".
    sector_districts: str | None = None
    # Parquet of the person index (snapshot, record_id -> person_key), for the person key.
    person_index: str | None = None
    # Directory for derived per-agreement pseudonym columns (see `agreement_tokens`); None:
    # compute them in the query every time.
    cache_dir: str | None = None
    # Where `files` and `cache_dir` are (store.snapshot_store); None: local paths.
    store: SnapshotStore | None = None

    def by_identifier(self, kind: str) -> StoredColumn | None:
        return next((c for c in self.columns.values() if c.identifier == kind), None)


@dataclass(frozen=True)
class Compiled:
    sql: str  # reads FROM snapshot
    decrypt: dict[str, str]  # output column -> its contract column, decrypted after the query
    # Working column -> contract column whose ciphertext must be decrypted *before* the query
    # (a date of birth held only encrypted, needed to compute an age). Costs a decryption of
    # every row, so only what scope or generalisation needs is prepared.
    prepare: dict[str, str] = field(default_factory=dict)
    # Working column -> contract column read in clear from its sealed form (all rows, at native
    # speed) and joined to the snapshot on `_row`. Used instead of the two above when the
    # snapshot has the column sealed.
    unseal: dict[str, str] = field(default_factory=dict)
    # Working column -> stored column (base token or plain) whose per-agreement HMAC the grant
    # delivers: joined on `_row` from the agreement's derived pseudonym file.
    pseudonyms: dict[str, str] = field(default_factory=dict)
    # Values the statement names as `$name` (dates, row-condition values, ...): bound, never
    # written into the SQL text.
    params: dict[str, Any] = field(default_factory=dict)
    # Counts, per reason, of the rows the grant's `withheld` people hold among those the row
    # scope selects (one row of counts; None when nobody is withheld).
    withheld_sql: str | None = None
    # When `sql` only picks and renames columns of `snapshot` (no row scope, no aggregate):
    # (working or stored column, output name) pairs, so run() can take the columns as they
    # are instead of passing every row through a query. Used only while `sql` is unchanged.
    projection: tuple[tuple[str, str], ...] | None = None
    # Prepared (decrypted) working column -> (stored birth year column, years): decrypt only
    # the rows of those years; the statement decides the others by the year (see _scope_sql).
    boundary: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    projection_of: str | None = None  # the `sql` the projection was made from


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _hmac_sql(value_sql: str) -> str:
    # HMAC-SHA256 in SQL: H((K xor opad) || H((K xor ipad) || m)); the two padded keys are
    # bound parameters, so they never appear in the statement.
    inner = f"sha256($inner::BLOB || encode(CAST({value_sql} AS VARCHAR)))"
    return f"sha256($outer::BLOB || unhex({inner}))"


def _generalise_sql(how: Generalisation, value: str) -> str:
    if how == Generalisation.age_band:
        age = f"date_sub('year', CAST({value} AS DATE), $today)"
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


def _plain_source(stored: StoredColumn, prepare: dict[str, str], unseal=None) -> str | None:
    """SQL naming the column's plaintext, preparing a decrypted working column if need be."""
    if stored.plain:
        return _quote(stored.plain)
    if stored.sealed and unseal is not None:
        working = f"{stored.name}__plain"
        unseal[working] = stored.name
        return _quote(working)
    if stored.encrypted:
        working = f"{stored.name}__plain"
        prepare[working] = stored.name
        return _quote(working)
    return None


PERSON_KEY = "person_key"


def _person_key_sql(view: SnapshotView, stored: StoredColumn) -> str:
    """The record's person key from the person index, joined on snapshot and record id."""
    if not view.person_index or not stored.plain:
        raise CannotExecute("The person index has not linked this dataset yet")
    return (
        "(SELECT i.person_key FROM read_parquet($person_index) AS i WHERE i.snapshot = $ref "
        f"AND i.record_id = CAST(snapshot.{_quote(stored.plain)} AS VARCHAR))"
    )


def _column_sql(column, stored: StoredColumn, decrypt, prepare, unseal, pseudonyms, view) -> str:
    treatment = column.treatment
    if stored.identifier == PERSON_KEY:
        # Only ever as this agreement's token: the key itself would join across agreements.
        if treatment != Treatment.pseudonymised:
            raise CannotExecute(f"{column.column} can be delivered only pseudonymised")
        return _hmac_sql(_person_key_sql(view, stored))
    if treatment == Treatment.identifiable:
        if stored.plain or stored.sealed:
            return _plain_source(stored, prepare, unseal)
        if stored.encrypted:
            # Decrypted after the query: only the rows actually delivered.
            decrypt[column.column] = stored.name
            return _quote(stored.encrypted)
    elif treatment == Treatment.pseudonymised:
        source = stored.token or stored.plain
        if source:
            working = f"{source}__pseudonym"
            pseudonyms[working] = source
            return _quote(working)
    elif treatment == Treatment.generalised:
        how = column.generalisation
        if how is None:
            raise CannotExecute(
                f"{column.column} is to be generalised but the agreement says not how"
            )
        if how.value in stored.derived:
            return _quote(stored.derived[how.value])
        source = _plain_source(stored, prepare, unseal)
        if source:
            return _generalise_sql(how, source)
    raise CannotExecute(
        f"{column.column} cannot be delivered {treatment.value}: the snapshot does not hold it "
        "in a form that allows it"
    )


def _scope_sql(grant: Grant, view: SnapshotView, recipient_district, params, prepare, unseal):
    """WHERE clauses for the agreement's row scope; each needs a column that can answer it."""
    clauses: list[str] = []
    scope = grant.row_scope or {}
    low, high = scope.get("min_age"), scope.get("max_age")
    if low is not None or high is not None:
        dob = view.by_identifier("date_of_birth")
        source = _plain_source(dob, prepare, unseal) if dob else None
        if source is None:
            raise CannotExecute(
                "The agreement limits rows by age, but this dataset has no date of birth that "
                "can be checked"
            )
        age = f"date_sub('year', CAST({source} AS DATE), $today)"
        year = _quote(dob.derived["birth_year"]) if "birth_year" in dob.derived else None
        # With the birth year stored in clear, only its boundary cohort needs the exact date
        # (born in year(today) - low is low or low - 1 years old); the others are decided by
        # the year alone, so a date of birth held per value is decrypted for that cohort only
        # (Compiled.boundary).
        if low is not None:
            exact = f"{age} >= {int(low)}"
            clauses.append(
                f"({year} < year($today) - {int(low)} OR ({year} = year($today) - {int(low)} "
                f"AND {exact}))"
                if year
                else exact
            )
        if high is not None:
            exact = f"{age} <= {int(high)}"
            clauses.append(
                f"({year} >= year($today) - {int(high)} OR ({year} = year($today) - "
                f"{int(high) + 1} AND {exact}))"
                if year
                else exact
            )
    if scope.get("recipient_district_only"):
        if not recipient_district:
            raise CannotExecute(
                "The agreement shares only residents of the recipient's district, but the "
                "recipient is not a district"
            )
        clauses.append(_district_sql(view, prepare, unseal))
    for condition in grant.conditions:
        clauses.append(_condition_sql(condition, view, params, prepare, unseal))
    return clauses


def typed_value(column_type: str, value: Any) -> Any:
    """A row condition's JSON value as the column's type, for binding."""
    if value is None:
        return None
    if column_type == "integer":
        return int(value)
    if column_type == "decimal":
        return float(value)
    if column_type == "boolean":
        return value if isinstance(value, bool) else str(value).strip().lower() in TRUE_WORDS
    if column_type == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if column_type == "datetime":
        return datetime.fromisoformat(str(value))
    return str(value)


TRUE_WORDS = ("true", "yes", "y", "1")


def _condition_sql(condition: RowCondition, view: SnapshotView, params, prepare, unseal) -> str:
    """One row condition as a WHERE clause; its values are bound (`$c<n>`), never inlined.
    A null never meets equals, in or between: a row whose value is unknown is not shared."""
    stored = view.columns.get(condition.column)
    source = None
    if stored is not None and stored.identifier != PERSON_KEY:
        source = _plain_source(stored, prepare, unseal)
    if source is None:
        raise CannotExecute(
            f"The agreement limits rows by {condition.column}, but the snapshot cannot check it"
        )
    if condition.op == ConditionOp.is_null:
        return f"{source} IS NULL"
    if condition.op == ConditionOp.is_not_null:
        return f"{source} IS NOT NULL"
    try:
        values = [typed_value(stored.type, v) for v in condition.values]
        low, high = (
            typed_value(stored.type, condition.low),
            typed_value(stored.type, condition.high),
        )
    except (TypeError, ValueError) as error:
        raise CannotExecute(
            f"The agreement's condition on {condition.column} has a value that is not a "
            f"{stored.type} ({error})"
        ) from None

    def bind(value: Any) -> str:
        name = f"c{len(params)}"
        params[name] = value
        return f"${name}"

    if condition.op == ConditionOp.equals and len(values) == 1:
        return f"{source} = {bind(values[0])}"
    if condition.op == ConditionOp.one_of and values:
        return f"list_contains({bind(values)}, {source})"
    if condition.op == ConditionOp.between and (low is not None or high is not None):
        parts = [f"{source} >= {bind(low)}"] if low is not None else []
        parts += [f"{source} <= {bind(high)}"] if high is not None else []
        return "(" + " AND ".join(parts) + ")"
    raise CannotExecute(f"The agreement's condition on {condition.column} is incomplete")


def _district_sql(view: SnapshotView, prepare: dict[str, str], unseal) -> str:
    district = view.by_identifier("district")
    if district is not None and district.plain:
        return f"lower({_quote(district.plain)}) = lower($district)"
    postcode = view.by_identifier("postcode")
    if postcode is not None and view.sector_districts:
        if "postcode_sector" in postcode.derived:
            sector = _quote(postcode.derived["postcode_sector"])
        else:
            source = _plain_source(postcode, prepare, unseal)
            sector = source and _generalise_sql(Generalisation.postcode_sector, source)
        if sector:
            return (
                f"{sector} IN (SELECT sector FROM read_parquet($sector_districts) "
                "WHERE lower(district) = lower($district))"
            )
    raise CannotExecute(
        "The agreement shares only residents of the recipient's district, but this dataset "
        "does not say which district each person lives in"
    )


def compile_grant(
    grant: Grant,
    view: SnapshotView,
    *,
    recipient_district: str | None = None,
    today: date | None = None,
) -> Compiled:
    params: dict[str, Any] = {"today": today or date.today()}
    decrypt: dict[str, str] = {}
    prepare: dict[str, str] = {}
    unseal: dict[str, str] = {}
    pseudonyms: dict[str, str] = {}
    selected = []
    picked: list[tuple[str, str]] = []
    for column in grant.columns:
        stored = view.columns.get(column.column)
        if stored is None:
            raise CannotExecute(f"The snapshot has no column {column.column}")
        sql = _column_sql(column, stored, decrypt, prepare, unseal, pseudonyms, view)
        selected.append(f"{sql} AS {_quote(column.column)}")
        if QUOTED.fullmatch(sql):
            picked.append((sql[1:-1].replace('""', '"'), column.column))
    where = _scope_sql(grant, view, recipient_district, params, prepare, unseal)
    withheld_sql = _withheld(grant, view, where, params) if grant.withheld else None
    body = f"SELECT {', '.join(selected)} FROM snapshot"
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
    plain = len(picked) == len(selected) and not where and grant.aggregate_by is None
    boundary = _boundary(grant, view, prepare, params["today"], body, withheld_sql)
    return Compiled(
        sql=body,
        decrypt=decrypt,
        prepare=prepare,
        unseal=unseal,
        pseudonyms=pseudonyms,
        params=params,
        withheld_sql=withheld_sql,
        boundary=boundary,
        projection=tuple(picked) if plain and not withheld_sql else None,
        projection_of=body if plain and not withheld_sql else None,
    )


def _boundary(grant: Grant, view: SnapshotView, prepare, today: date, body: str, withheld):
    """{working column: (birth year column, boundary years)} when a date of birth held only
    per value is prepared for the age scope and nothing else: rows of other years are
    decided by their stored birth year, so their dates need not be decrypted."""
    scope = grant.row_scope or {}
    low, high = scope.get("min_age"), scope.get("max_age")
    dob = view.by_identifier("date_of_birth")
    if dob is None or "birth_year" not in dob.derived or (low is None and high is None):
        return {}
    working = f"{dob.name}__plain"
    if working not in prepare:
        return {}
    uses = (low is not None) + (high is not None)  # one exact clause per bound
    if body.count(_quote(working)) != uses or (withheld or "").count(_quote(working)) > uses:
        return {}
    years = [today.year - int(low)] if low is not None else []
    years += [today.year - int(high) - 1] if high is not None else []
    return {working: (dob.derived["birth_year"], tuple(years))}


QUOTED = re.compile(r'"(?:[^"]|"")*"')  # one quoted name: a column taken as it is stored


WITHHELD_ROWS = "rows"  # the count of every row withheld, whatever the reason


def _withheld(grant: Grant, view: SnapshotView, where: list[str], params) -> str:
    """Add to `where` the clause that drops the rows of the grant's withheld people; return the
    statement counting, per reason, the rows it drops (among those the scope selects)."""
    person_key = _person_key_sql(view, view.columns[PERSON_KEY])
    scope = f" WHERE {' AND '.join(where)}" if where else ""
    counts = []
    for index, withheld in enumerate(grant.withheld):
        params[f"withheld_{index}"] = list(withheld.person_keys)
        counts.append(
            f"count(*) FILTER (WHERE list_contains(CAST($withheld_{index} AS VARCHAR[]), k)) "
            f"AS {_quote(withheld.reason)}"
        )
    params["withheld"] = sorted({key for w in grant.withheld for key in w.person_keys})
    matches = f"list_contains(CAST($withheld AS VARCHAR[]), {person_key})"
    counts.append(
        f"count(*) FILTER (WHERE list_contains(CAST($withheld AS VARCHAR[]), k)) AS {WITHHELD_ROWS}"
    )
    where.append(f"NOT coalesce({matches}, FALSE)")
    return f"SELECT {', '.join(counts)} FROM (SELECT {person_key} AS k FROM snapshot{scope})"


LOCAL = LocalStore()  # a SnapshotView without a store names local paths


def _store(view: SnapshotView) -> SnapshotStore:
    return view.store or LOCAL


def pseudonym_path(view: SnapshotView, stored: str, key: bytes) -> str:
    """The derived file of one agreement's pseudonyms for one stored column of the snapshot.
    Its name is keyed by the agreement's token key, so it says nothing about the agreement and
    changes with the key."""
    label = b"civicshare derived pseudonyms\x00" + view.ref.encode() + b"\x00" + stored.encode()
    name = hmac.new(key, label, hashlib.sha256).hexdigest()[:32]
    return f"{view.cache_dir.rstrip('/')}/pseudonyms-{name}.parquet"


PSEUDONYM_GROUP = 131_072  # rows per row group of a derived file: read back in parallel


def agreement_pseudonyms(connection, view: SnapshotView, table: pa.Table, stored: str,
                         key: bytes) -> pa.Table:  # fmt: skip
    """`_row` and `pseudonym`, the agreement's HMAC of `stored` for every row of the snapshot
    in file order (the rows of `table`): read from the snapshot's derived file, computed and
    written (atomically) the first time, or again when the file does not fit the snapshot.
    Only pseudonyms and row numbers are kept there, never a key or a plaintext, and only after
    decide() has allowed a request under the agreement; the file goes with the snapshot's
    directory when the snapshot is purged."""
    path = pseudonym_path(view, stored, key)
    rows = table.column("_row")
    store = _store(view)
    if store.exists(path) and store.parquet_rows(path) == len(rows):
        kept = _read_files(connection, store, [path], ["_row", "pseudonym"])
        if kept.column("_row").equals(rows):
            return kept
        # Not in the order of this read: line it up by row number (checked, all rows), or
        # derive it again when it is not this snapshot's.
        with contextlib.suppress(CannotExecute):
            return pa.table({"_row": rows, "pseudonym": _on_rows(rows, kept, "pseudonym")})
    source = table.column(stored) if stored in table.column_names else None
    if source is None:  # read apart: lined up on `_row` (an object store's scan keeps no order)
        part = _read_files(connection, store, view.files, ["_row", stored])
        source = _on_rows(rows, part, stored)
    derived = pa.table({"_row": rows, "pseudonym": hmac_column(key, source)})
    # A read-only or full store: use what was computed, keep nothing.
    with contextlib.suppress(OSError):
        store.write_table(path, derived, row_group_size=PSEUDONYM_GROUP)
    return derived


def hmac_column(key: bytes, values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """HMAC-SHA256(key, value) in hex for every value, in order, null for null: computed
    once per distinct value (stored tokens repeat where people do)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(pc.cast(values, pa.string()))
    return identity.hmac_hex(key, encoded.dictionary).take(encoded.indices)


def bound(statement: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values the statement names (DuckDB refuses a parameter it does not use)."""
    named = set(PARAMETER.findall(statement))
    return {name: value for name, value in values.items() if name in named}


PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _stored_columns(compiled: Compiled, names: list[str], also: set[str]) -> list[str]:
    """The snapshot's stored columns the statement names (every reference is quoted), and
    `also`: what reading the snapshot for this grant needs, nothing more."""
    text = compiled.sql + (compiled.withheld_sql or "")
    return [n for n in names if n == "_row" or n in also or _quote(n) in text]


def _read_files(connection, store: SnapshotStore, files, columns: list[str]) -> pa.Table:
    """Columns of Parquet files, read by DuckDB (faster here than pyarrow's reader, and in
    parallel): local files with `read_parquet`, object storage through the store's scan.
    DuckDB keeps file order for a plain projection, but nothing relies on it: whatever is put
    beside these rows is checked against their `_row` (see `_on_rows`)."""
    selected = ", ".join(_quote(c) for c in columns)
    if not isinstance(store, LocalStore):
        return store.scan(connection, list(files)).project(selected).to_arrow_table()
    relation = connection.sql(f"SELECT {selected} FROM read_parquet($files)",
                              params={"files": list(files)})  # fmt: skip
    return relation.to_arrow_table()


def _on_rows(rows: pa.ChunkedArray, part: pa.Table, column: str) -> pa.ChunkedArray:
    """`part[column]` in the order of `rows`, by `part["_row"]`: as it is when both are in file
    order (the usual case: ingest writes them in the same batches), else by looking up each
    row number. A row without its value refuses the request rather than deliver a wrong one."""
    if part.column("_row").equals(rows):
        return part.column(column)
    where = pc.index_in(rows, value_set=part.column("_row").combine_chunks())
    if where.null_count or part.num_rows != len(rows):
        raise CannotExecute("The snapshot's sealed columns do not line up")
    return part.column(column).take(where)


def _assemble(compiled: Compiled, view: SnapshotView, connection, agreement_key, decrypt,
              unseal) -> pa.Table:  # fmt: skip
    """The stored columns the statement reads, with the working columns it needs beside
    them: decrypted (per value), unsealed (whole columns) and the agreement's pseudonyms.
    Put together by position and checked on the row number `_row`, so no join is needed."""
    store = _store(view)
    with store.open(view.files[0]) as handle:
        names = pq.read_schema(handle).names
    also = {view.columns[c].encrypted for c in compiled.prepare.values()}
    also |= {year for year, _ in compiled.boundary.values()}
    if view.cache_dir is None:  # pseudonyms computed in the query, from the stored column
        also |= set(compiled.pseudonyms.values())
    table = _read_files(connection, store, view.files, _stored_columns(compiled, names, also))
    for name, column in compiled.prepare.items():
        encrypted = table.column(view.columns[column].encrypted)
        if name in compiled.boundary:
            year, years = compiled.boundary[name]
            wanted = pc.is_in(table.column(year), value_set=pa.array(years, table[year].type))
            wanted = wanted.fill_null(False).combine_chunks()
            values = decrypt(column, encrypted.filter(wanted))
            values = pc.replace_with_mask(pa.nulls(len(wanted), pa.string()), wanted, values)
        else:
            values = decrypt(column, encrypted)
        table = table.append_column(name, values)
    lined_up = compiled.unseal or (compiled.pseudonyms and view.cache_dir is not None)
    if lined_up and "_row" not in table.column_names:
        raise CannotExecute("The snapshot has no row numbers to line its columns up by")
    rows = table.column("_row") if "_row" in table.column_names else None
    for name, column in compiled.unseal.items():
        part = unseal(column, view.columns[column].sealed, table.num_rows)
        table = table.append_column(name, _on_rows(rows, part, "value"))
    if view.cache_dir is not None:
        for working, stored in compiled.pseudonyms.items():
            part = agreement_pseudonyms(connection, view, table, stored, agreement_key)
            table = table.append_column(working, part.column("pseudonym"))
    return table


def run(
    compiled: Compiled,
    view: SnapshotView,
    *,
    agreement_key: bytes | None,
    recipient_district: str | None = None,
    decrypt: Callable[[str, pa.Array], pa.Array] | None = None,
    unseal: Callable[[str, str, int], pa.Table] | None = None,
    withheld_counts: dict[str, int] | None = None,
) -> pa.Table:
    """Execute compiled SQL in a fresh in-memory DuckDB and decrypt what the grant delivers
    identifiable. `decrypt(contract_column, ciphertexts)` gives plaintexts of per-value
    ciphertext; `unseal(contract_column, sealed_file, rows)` every row of a sealed column as
    a table of `_row` and `value`.

    The statement reads `snapshot`: the snapshot's Parquet with the sealed columns and
    agreement pseudonyms the grant needs beside it, read with pyarrow (which keeps file order,
    where DuckDB's scan does not promise to) and lined up on the file row number `_row`.

    `withheld_counts`, when given, receives the rows withheld per reason (see Withheld)."""
    if compiled.pseudonyms and agreement_key is None:
        raise CannotExecute("Pseudonymised columns need the agreement's token key")
    if (compiled.prepare or compiled.decrypt) and decrypt is None:
        raise CannotExecute("Encrypted columns are needed but no key was given to read them")
    if compiled.unseal and unseal is None:
        raise CannotExecute("Sealed columns are needed but no key was given to read them")
    with duckdb.connect() as connection:
        computed: list[str] = []
        projection = compiled.projection if compiled.projection_of == compiled.sql else None
        if projection is not None and (view.cache_dir or not compiled.pseudonyms):
            table = _assemble(compiled, view, connection, agreement_key, decrypt, unseal)
            table = table.select([source for source, _ in projection])
            table = table.rename_columns([output for _, output in projection])
            return _decrypted(compiled, table, decrypt)
        if compiled.prepare or compiled.unseal or compiled.pseudonyms:
            table = _assemble(compiled, view, connection, agreement_key, decrypt, unseal)
            connection.register("stored", table)
            joined = ["stored"]
        else:
            _store(view).scan(connection, list(view.files)).create_view("stored_files")
            joined = ["stored_files"]
        for working, stored in compiled.pseudonyms.items():
            if view.cache_dir is None:
                computed.append(f"{_hmac_sql(_quote(stored))} AS {_quote(working)}")
        columns = ", ".join(["*", *computed])
        snapshot = f"SELECT {columns} FROM {' '.join(joined)}"
        statement = f"WITH snapshot AS ({snapshot}) {compiled.sql}"
        if "$inner" in statement and agreement_key is None:
            # Tokens computed in the query (the person key's, or pseudonyms without a cache).
            raise CannotExecute("Pseudonymised columns need the agreement's token key")
        inner, outer = identity.hmac_pads(agreement_key) if agreement_key else (None, None)
        values = {
            **compiled.params,
            "district": recipient_district,
            "person_index": view.person_index,
            "ref": view.ref,
            "sector_districts": view.sector_districts,
            "inner": inner,
            "outer": outer,
        }
        table = connection.sql(statement, params=bound(statement, values)).to_arrow_table()
        if compiled.withheld_sql and withheld_counts is not None:
            counting = f"WITH snapshot AS ({snapshot}) {compiled.withheld_sql}"
            counted = connection.sql(counting, params=bound(counting, values)).to_arrow_table()
            withheld_counts.update({k: int(v) for k, v in counted.to_pylist()[0].items()})
    return _decrypted(compiled, table, decrypt)


def _decrypted(compiled: Compiled, table: pa.Table, decrypt) -> pa.Table:
    """The delivered table with its per-value ciphertext columns decrypted."""
    for output, column in compiled.decrypt.items():
        index = table.schema.get_field_index(output)
        table = table.set_column(index, output, decrypt(column, table.column(output)))
    return table


# -- a snapshot as the compiler sees it ------------------------------------------------------


GENERALISED_AS = {"year": "birth_year", "sector": "postcode_sector"}
POSTCODE_DIRECTORY = "reference/postcode-sectors.parquet"
PERSON_INDEX = "person-index/mapping.parquet"  # written by linkage.service.write_mapping
DERIVED = "derived"  # per-agreement pseudonym files, under the snapshot's own directory


def snapshot_readers(settings: Settings, snapshot) -> dict:
    """The `decrypt` and `unseal` callbacks `run` needs to read this snapshot's
    encrypted and sealed columns, with the snapshot's own keys."""
    from civicshare.identity import service as identity

    store, version = snapshot_store(settings), Path(SNAPSHOTS_DIR) / snapshot.ref

    def unseal(column: str, path: str, rows: int) -> pa.Table:
        with store.open(_located(store, version, path)) as handle:
            return identity.unseal_column(settings, snapshot, column, handle, rows)

    return {
        "decrypt": lambda column, values: identity.decrypt_column(
            settings, snapshot, column, values
        ),
        "unseal": unseal,
    }


def _located(store: SnapshotStore, version: Path, name: str) -> str:
    location = store.file(version, name)
    if location is None:
        raise FileNotFoundError(f"snapshot {version} is not in the snapshot store")
    return location


def snapshot_view(settings: Settings, snapshot) -> SnapshotView:
    """How the snapshot stores each contract column (its storage map), for the compiler."""
    columns = {}
    for name, stored in snapshot.storage.items():
        columns[name] = StoredColumn(
            name=name,
            type=stored.get("type", "string"),
            identifier=stored.get("identifier"),
            plain=stored.get("plain"),
            token=stored.get("token"),
            encrypted=stored.get("encrypted"),
            sealed=stored.get("sealed"),
            derived={
                GENERALISED_AS[label]: column
                for label, column in (stored.get("generalised") or {}).items()
                if label in GENERALISED_AS
            },
        )
    directory = settings.data_dir / POSTCODE_DIRECTORY
    # The person key (linkage/service.py): by the contract's record id, or the row number.
    index = settings.data_dir / PERSON_INDEX
    record_id = snapshot.contract.record_id
    if PERSON_KEY not in columns:
        plain = (columns[record_id].plain if record_id in columns else None) or "_row"
        columns[PERSON_KEY] = StoredColumn(name=PERSON_KEY, identifier=PERSON_KEY, plain=plain)
    store, version = snapshot_store(settings), Path(SNAPSHOTS_DIR) / snapshot.ref
    return SnapshotView(
        ref=snapshot.ref,
        files=(_located(store, version, DATA_FILE),),
        columns=columns,
        sector_districts=str(directory) if directory.is_file() else None,
        person_index=str(index) if index.is_file() else None,
        cache_dir=_located(store, version, DERIVED),
        store=store,
    )


def build_postcode_directory(properties: str, data_dir) -> None:
    """Postcode sector -> district from an address file with postcode and district columns
    (the synthetic county's properties; in production the ONS Postcode Directory). A sector
    that crosses a boundary goes to the district holding most of its addresses."""
    target = data_dir / POSTCODE_DIRECTORY
    target.parent.mkdir(parents=True, exist_ok=True)
    sector = _generalise_sql(Generalisation.postcode_sector, "postcode")
    with duckdb.connect() as connection:
        connection.read_parquet(str(properties)).create_view("properties")
        connection.sql(
            f"""SELECT sector, arg_max(district, n) AS district FROM (
                    SELECT {sector} AS sector, district, count(*) AS n
                    FROM properties GROUP BY ALL
                ) GROUP BY sector ORDER BY sector"""
        ).write_parquet(str(target))

"""How run() puts a snapshot together (decision 0039): sealed columns and pseudonyms lined up
on the row number whatever order they were written in, the age scope's birth-year shortcut
exact at the boundaries, and the projection short cut never used for a changed statement."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from civicshare.agreements.models import Generalisation, Treatment
from civicshare.dataplane.grant import ColumnGrant, Grant
from civicshare.dataplane.query import (
    CannotExecute,
    SnapshotView,
    StoredColumn,
    compile_grant,
    run,
)
from civicshare.identity import service as identity

TODAY = date(2026, 12, 4)
KEY = bytes(range(32))
DATA_KEY = bytes(range(32, 64))
REF = "p/people/v1"


def grant(*columns: ColumnGrant, scope=None) -> Grant:
    return Grant(agreement="ISA-1", version=1, provider="p", recipient="r", dataset="people",
                 columns=columns, row_scope=scope or {})  # fmt: skip


def _born(years: int, days: int) -> date:
    """`years` years before TODAY, moved `days` days (so ages either side of a birthday)."""
    from datetime import timedelta

    return TODAY.replace(year=TODAY.year - years) + timedelta(days=days)


def _age(born: date) -> int:
    return TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))


def _snapshot(tmp_path, born: list[date | None], order=None) -> SnapshotView:
    """Rows 1..n with a token, a birth year in clear and the date of birth sealed; the sealed
    chunks written in `order` of rows (file order by default), two rows a chunk."""
    n = len(born)
    table = pa.table({
        "_row": pa.array(range(1, n + 1), pa.int64()),
        "T": [f"t{i + 1}" for i in range(n)],
        "DOB__year": pa.array([d and d.year for d in born], pa.int16()),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "data.parquet", row_group_size=3)
    order = order or list(range(n))
    writer = identity.SealedWriter(tmp_path / "DOB.bin", DATA_KEY, REF, "DOB", 0)
    for start in range(0, n, 2):
        chunk = order[start : start + 2]
        values = [born[i] and born[i].isoformat() for i in chunk]
        writer.write(pa.array(values, pa.string()), [i + 1 for i in chunk])
    writer.close()
    return SnapshotView(REF, (str(tmp_path / "data.parquet"),), {
        "ROW": StoredColumn("ROW", type="integer", plain="_row"),
        "NHS_NO": StoredColumn("NHS_NO", identifier="nhs_number", token="T"),
        "DOB": StoredColumn("DOB", type="date", identifier="date_of_birth", sealed="DOB.bin",
                            derived={"birth_year": "DOB__year"}),
    }, cache_dir=str(tmp_path / "derived"))  # fmt: skip


def _run(g: Grant, view: SnapshotView, tmp_path, compiled=None) -> list[dict]:
    compiled = compiled or compile_grant(g, view, today=TODAY)
    unseal = lambda column, path, rows: identity.unseal_values(  # noqa: E731
        DATA_KEY, tmp_path / path, REF, column, rows
    )
    return run(compiled, view, agreement_key=KEY, unseal=unseal).to_pylist()


BORN = [_born(years, days) for years in (17, 18, 19, 64, 65, 66) for days in (-1, 0, 1)] + [None]


@pytest.mark.parametrize(
    "scope", [{"min_age": 18}, {"max_age": 65}, {"min_age": 18, "max_age": 65}]
)
def test_the_birth_year_shortcut_keeps_exactly_the_rows_whose_age_is_in_scope(tmp_path, scope):
    view = _snapshot(tmp_path, BORN)
    g = grant(ColumnGrant("ROW", Treatment.identifiable), scope=scope)
    compiled = compile_grant(g, view, today=TODAY)
    assert '"DOB__year" = year($today)' in compiled.sql
    low, high = scope.get("min_age", 0), scope.get("max_age", 200)
    expected = [i + 1 for i, b in enumerate(BORN) if b and low <= _age(b) <= high]
    assert sorted(r["ROW"] for r in _run(g, view, tmp_path)) == expected
    assert 0 < len(expected) < len(BORN) - 1


def test_sealed_values_written_out_of_file_order_are_delivered_on_their_own_rows(tmp_path):
    order = [4, 0, 3, 1, 2, 5, 7, 6, 8, 9, 11, 10, 12, 14, 13, 15, 17, 16, 18]
    view = _snapshot(tmp_path, BORN, order=order)
    g = grant(
        ColumnGrant("ROW", Treatment.identifiable),
        ColumnGrant("DOB", Treatment.identifiable),
        ColumnGrant("NHS_NO", Treatment.pseudonymised),
        scope={"min_age": 18},
    )
    rows = _run(g, view, tmp_path)
    assert rows and all(r["DOB"] == BORN[r["ROW"] - 1].isoformat() for r in rows)
    for r in rows:
        assert r["NHS_NO"] == hmac.new(KEY, f"t{r['ROW']}".encode(), hashlib.sha256).hexdigest()


def test_a_sealed_column_missing_a_row_refuses_the_request(tmp_path):
    view = _snapshot(tmp_path, BORN)
    writer = identity.SealedWriter(tmp_path / "DOB.bin", DATA_KEY, REF, "DOB", 0)
    # Every row but row 1 sealed, and row 2 twice: the count fits, the rows do not.
    values = [b and b.isoformat() for b in BORN]
    writer.write(pa.array(values[1:] + values[1:2], pa.string()), [*range(2, 20), 2])
    writer.close()
    g = grant(
        ColumnGrant("ROW", Treatment.identifiable), ColumnGrant("DOB", Treatment.identifiable)
    )
    with pytest.raises(CannotExecute, match="do not line up"):
        _run(g, view, tmp_path)


def test_a_changed_statement_is_run_as_it_is_not_as_the_projection_it_was(tmp_path):
    view = _snapshot(tmp_path, BORN)
    g = grant(
        ColumnGrant("ROW", Treatment.identifiable), ColumnGrant("NHS_NO", Treatment.pseudonymised)
    )
    compiled = compile_grant(g, view, today=TODAY)
    assert compiled.projection == (("_row", "ROW"), ("T__pseudonym", "NHS_NO"))
    assert len(_run(g, view, tmp_path, compiled)) == len(BORN)
    # As the person index does: the compiled statement wrapped to keep some rows only.
    narrowed = dataclasses.replace(compiled, sql=f'SELECT * FROM ({compiled.sql}) WHERE "ROW" <= 3')
    assert [r["ROW"] for r in _run(g, view, tmp_path, narrowed)] == [1, 2, 3]


@pytest.mark.parametrize("scope", [{"min_age": 18}, {"min_age": 18, "max_age": 65}])
def test_a_date_of_birth_held_per_value_is_decrypted_for_the_boundary_cohort_only(tmp_path, scope):
    """A snapshot made before decision 0013 (per-value ciphertext, no sealed column): the age
    scope decrypts only the dates of birth of the boundary birth years."""
    table = pa.table({
        "_row": pa.array(range(1, len(BORN) + 1), pa.int64()),
        "DOB__enc": [b and f"enc:DOB:{b.isoformat()}" for b in BORN],
        "DOB__year": pa.array([b and b.year for b in BORN], pa.int16()),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "data.parquet")
    view = SnapshotView(REF, (str(tmp_path / "data.parquet"),), {
        "ROW": StoredColumn("ROW", type="integer", plain="_row"),
        "DOB": StoredColumn("DOB", type="date", identifier="date_of_birth", encrypted="DOB__enc",
                            derived={"birth_year": "DOB__year"}),
    })  # fmt: skip
    asked: list[str] = []

    def decrypt(column, values):
        plain = [v and v.split(":", 2)[2] for v in values.to_pylist()]
        asked.extend(p for p in plain if p)
        return pa.array(plain, pa.string())

    g = grant(ColumnGrant("ROW", Treatment.identifiable), scope=scope)
    compiled = compile_grant(g, view, today=TODAY)
    assert compiled.boundary
    rows = run(compiled, view, agreement_key=None, decrypt=decrypt).to_pylist()
    low, high = scope.get("min_age", 0), scope.get("max_age", 200)
    assert sorted(r["ROW"] for r in rows) == [
        i + 1 for i, b in enumerate(BORN) if b and low <= _age(b) <= high
    ]
    boundary = {TODAY.year - low} | ({TODAY.year - high - 1} if "max_age" in scope else set())
    assert asked and {date.fromisoformat(d).year for d in asked} <= boundary
    # Delivering the date of birth generalised from the same column needs every row's date.
    banded = grant(ColumnGrant("DOB", Treatment.generalised, Generalisation.age_band), scope=scope)
    assert not compile_grant(banded, view, today=TODAY).boundary

"""Row conditions in a grant: the data plane delivers exactly the rows that meet every condition
and the age scope, checked against brute force over generated grants; values are bound, so a
value that looks like SQL is only ever a value."""

from __future__ import annotations

import os
import random
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicshare.agreements.models import Treatment
from civicshare.dataplane.grant import ColumnGrant, ConditionOp, Grant, RowCondition
from civicshare.dataplane.query import (
    CannotExecute,
    SnapshotView,
    StoredColumn,
    bound,
    compile_grant,
    run,
)

TODAY = date(2026, 11, 23)
KEY = bytes(range(32))
# The aim: at least 10,000 generated grants (CIVICSHARE_PROPERTY_EXAMPLES to change).
EXAMPLES = int(os.environ.get("CIVICSHARE_PROPERTY_EXAMPLES", "10000"))

PATHWAYS = ["0", "1", "2", "3", None]
DISTRICTS = ["Worcester", "Bromsgrove", "Wyre Forest", "O'Hara's Lane", None]
COLUMNS = {
    "ID": StoredColumn("ID", type="integer", plain="ID"),
    "PATHWAY": StoredColumn("PATHWAY", plain="PATHWAY"),
    "DISTRICT": StoredColumn("DISTRICT", plain="DISTRICT"),
    "CFS": StoredColumn("CFS", type="integer", plain="CFS"),
    "LOS": StoredColumn("LOS", type="decimal", plain="LOS"),
    "DOB": StoredColumn("DOB", type="date", identifier="date_of_birth", plain="DOB"),
    "OXYGEN": StoredColumn("OXYGEN", type="boolean", plain="OXYGEN"),
}


def make_rows(n: int = 80) -> list[dict]:
    pick = random.Random(7)
    return [
        {
            "ID": i,
            "PATHWAY": pick.choice(PATHWAYS),
            "DISTRICT": pick.choice(DISTRICTS),
            "CFS": pick.choice([None, *range(1, 10)]),
            "LOS": pick.choice([None, 0.5, 1.0, 2.5, 7.0, 14.25]),
            "DOB": pick.choice(
                [
                    None,
                    date(1930, 1, 2),
                    date(1950, 11, 23),
                    date(1950, 11, 24),
                    date(2008, 11, 23),
                    date(2010, 5, 5),
                ]
            ),
            "OXYGEN": pick.choice([None, True, False]),
        }  # fmt: skip
        for i in range(n)
    ]


ROWS = make_rows()


@pytest.fixture(scope="module")
def view(tmp_path_factory) -> SnapshotView:
    path = tmp_path_factory.mktemp("conditions") / "data.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    return SnapshotView(ref="acute/admissions/v1", files=(str(path),), columns=COLUMNS)


def grant_of(conditions, min_age=None) -> Grant:
    return Grant(
        agreement="ISA-0001",
        version=1,
        provider="acute",
        recipient="county",
        dataset="admissions",
        columns=(ColumnGrant("ID", Treatment.identifiable),),
        row_scope={} if min_age is None else {"min_age": min_age},
        conditions=tuple(conditions),
    )


def deliver(view: SnapshotView, conditions, min_age=None) -> list[int]:
    compiled = compile_grant(grant_of(conditions, min_age), view, today=TODAY)
    return sorted(r["ID"] for r in run(compiled, view, agreement_key=KEY).to_pylist())


def meets(row: dict, condition: RowCondition) -> bool:
    value = row[condition.column]
    if condition.op == ConditionOp.is_null:
        return value is None
    if condition.op == ConditionOp.is_not_null:
        return value is not None
    if value is None:
        return False  # unknown is never shared
    if condition.op == ConditionOp.equals:
        return value == condition.values[0]
    if condition.op == ConditionOp.one_of:
        return value in condition.values
    above = condition.low is None or value >= condition.low
    return above and (condition.high is None or value <= condition.high)


def age(born: date) -> int:
    return TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))


def expected(conditions, min_age=None) -> list[int]:
    return sorted(
        r["ID"]
        for r in ROWS
        if all(meets(r, c) for c in conditions)
        and (min_age is None or (r["DOB"] is not None and age(r["DOB"]) >= min_age))
    )


VALUES = {
    "PATHWAY": st.sampled_from([p for p in PATHWAYS if p]),
    "DISTRICT": st.sampled_from([d for d in DISTRICTS if d] + ["'; DROP TABLE x; --"]),
    "CFS": st.integers(0, 10),
    "LOS": st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0, 14.25, 30.0]),
    "DOB": st.dates(date(1925, 1, 1), date(2012, 1, 1)),
    "OXYGEN": st.booleans(),
}


@st.composite
def conditions(draw):
    column = draw(st.sampled_from(sorted(VALUES)))
    op = draw(st.sampled_from(list(ConditionOp)))
    value = VALUES[column]
    if op == ConditionOp.equals:
        return RowCondition(column, op, (draw(value),))
    if op == ConditionOp.one_of:
        return RowCondition(column, op, tuple(draw(st.lists(value, min_size=1, max_size=4))))
    if op == ConditionOp.between:
        low, high = draw(st.none() | value), draw(st.none() | value)
        if low is None and high is None:
            low = draw(value)
        return RowCondition(column, op, low=low, high=high)
    return RowCondition(column, op)


@pytest.fixture(scope="module")
def connection():
    """The compiled statement over the rows in memory: ten thousand grants in seconds. `run`'s
    own plumbing (files, keys, decryption) is the same for every grant and tested below."""
    with duckdb.connect() as connection:
        connection.register("snapshot", pa.Table.from_pylist(ROWS))
        yield connection


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(chosen=st.lists(conditions(), max_size=3), min_age=st.none() | st.integers(0, 100))
def test_exactly_the_rows_that_meet_every_condition(view, connection, chosen, min_age):
    compiled = compile_grant(grant_of(chosen, min_age), view, today=TODAY)
    parameters = bound(compiled.sql, compiled.params)
    delivered = sorted(row[0] for row in connection.execute(compiled.sql, parameters).fetchall())
    assert delivered == expected(chosen, min_age)


def test_the_same_through_the_files(view):
    for chosen in ([], [RowCondition("CFS", ConditionOp.between, low=3, high=6)],
                   [RowCondition("DOB", ConditionOp.between, high=date(1950, 11, 23)),
                    RowCondition("OXYGEN", ConditionOp.equals, (True,))]):  # fmt: skip
        assert deliver(view, chosen, 18) == expected(chosen, 18)


def test_a_pathway_condition_keeps_pathway_zero_out(view):
    pathways = RowCondition("PATHWAY", ConditionOp.one_of, ("1", "2", "3"))
    delivered = set(deliver(view, [pathways]))
    assert delivered
    assert all(ROWS[i]["PATHWAY"] in {"1", "2", "3"} for i in delivered)
    assert {r["ID"] for r in ROWS if r["PATHWAY"] in {"1", "2", "3"}} == delivered


def test_values_are_bound_never_written_into_the_sql(view):
    sneaky = RowCondition("DISTRICT", ConditionOp.equals, ("x' OR '1'='1",))
    grant = Grant("ISA-0001", 1, "acute", "county", "admissions",
                  (ColumnGrant("ID", Treatment.identifiable),), conditions=(sneaky,))  # fmt: skip
    compiled = compile_grant(grant, view, today=TODAY)
    assert "OR '1'='1" not in compiled.sql
    assert "x' OR '1'='1" in compiled.params.values()
    assert deliver(view, [sneaky]) == []
    quoted = RowCondition("DISTRICT", ConditionOp.equals, ("O'Hara's Lane",))
    assert deliver(view, [quoted]) == expected([quoted])


@pytest.mark.parametrize(
    "condition, message",
    [
        (RowCondition("NOPE", ConditionOp.equals, ("1",)), "cannot check it"),
        (RowCondition("CFS", ConditionOp.equals, ("seven",)), "not a integer"),
        (RowCondition("CFS", ConditionOp.one_of, ()), "incomplete"),
        (RowCondition("CFS", ConditionOp.between), "incomplete"),
    ],
)
def test_a_condition_the_snapshot_cannot_check_refuses_the_extract(view, condition, message):
    with pytest.raises(CannotExecute, match=message):
        deliver(view, [condition])

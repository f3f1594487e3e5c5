"""The grant compiled to DuckDB SQL: treatments, row scope and suppression, against brute force."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicshare.agreements.models import Generalisation, Treatment
from civicshare.dataplane.query import (
    CannotExecute,
    SnapshotView,
    StoredColumn,
    compile_grant,
    pseudonym_path,
    run,
)
from civicshare.identity import service as identity
from civicshare.sharing.service import ColumnGrant, Grant

TODAY = date(2026, 11, 23)
KEY = bytes(range(32))
DATA_KEY = bytes(range(32, 64))
ROWS = [
    # nhs token, name (clear, for the test), dob, postcode, district, frailty, oxygen
    ("t1", "ADA", date(1930, 1, 2), "WR1 2AB", "Worcester", 7, "Y"),
    ("t2", "BEN", date(1950, 11, 23), "WR1 2AD", "Worcester", 3, "N"),
    ("t3", "CAL", date(1950, 11, 24), "B60 1AA", "Bromsgrove", 5, ""),
    ("t4", "DEE", date(2010, 5, 5), "DY10 3XY", "Wyre Forest", None, None),
    ("t5", "EVE", date(1961, 6, 30), "WR1 2AB", "Worcester", 4, "Y"),
]
COLUMNS = {
    "NHS_NO": StoredColumn("NHS_NO", identifier="nhs_number", token="NHS_NO__token"),
    "NAME": StoredColumn("NAME", identifier="family_name", plain="NAME"),
    "DOB": StoredColumn("DOB", type="date", identifier="date_of_birth", plain="DOB"),
    "POSTCODE": StoredColumn("POSTCODE", identifier="postcode", plain="POSTCODE"),
    "DISTRICT": StoredColumn("DISTRICT", identifier="district", plain="DISTRICT"),
    "CFS": StoredColumn("CFS", type="integer", plain="CFS"),
    "OXYGEN": StoredColumn("OXYGEN", plain="OXYGEN"),
}


@pytest.fixture(scope="module")
def view(tmp_path_factory) -> SnapshotView:
    path = tmp_path_factory.mktemp("snap") / "part-0.parquet"
    names = ["NHS_NO__token", "NAME", "DOB", "POSTCODE", "DISTRICT", "CFS", "OXYGEN"]
    pq.write_table(pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in ROWS]), path)
    return SnapshotView(ref="acute/admissions/v1", files=(str(path),), columns=COLUMNS)


def grant(*columns: ColumnGrant, scope=None, by=None) -> Grant:
    return Grant(
        agreement="ISA-0001", version=1, provider="acute", recipient="county",
        dataset="admissions", columns=columns, row_scope=scope or {}, aggregate_by=by,
    )  # fmt: skip


def execute(g: Grant, view: SnapshotView, district: str | None = None) -> list[dict]:
    compiled = compile_grant(g, view, recipient_district=district, today=TODAY)
    return run(
        compiled,
        view,
        agreement_key=KEY,
        recipient_district=district,
        decrypt=fake_decrypt,
        unseal=lambda column, path, rows: identity.unseal_values(
            DATA_KEY, Path(view.files[0]).parent / path, view.ref, column, rows
        ),
    ).to_pylist()


def fake_decrypt(column: str, values) -> pa.Array:
    """Stands in for AES-GCM: ciphertext here is 'enc:<column>:<plaintext>'."""
    out = []
    for value in values.to_pylist():
        assert value is None or value.startswith(f"enc:{column}:"), "decrypted the wrong column"
        out.append(None if value is None else value.split(":", 2)[2])
    return pa.array(out, pa.string())


def test_pseudonymised_is_the_agreements_hmac_of_the_base_token(view):
    rows = execute(grant(ColumnGrant("NHS_NO", Treatment.pseudonymised)), view)
    expected = [hmac.new(KEY, r[0].encode(), hashlib.sha256).hexdigest() for r in ROWS]
    assert [r["NHS_NO"] for r in rows] == expected
    assert not {r[0] for r in ROWS} & {r["NHS_NO"] for r in rows}


@pytest.mark.parametrize(
    ("column", "how", "expected"),
    [
        ("DOB", Generalisation.age_band, ["90+", "75-79", "75-79", "15-19", "65-69"]),
        ("DOB", Generalisation.birth_year, [1930, 1950, 1950, 2010, 1961]),
        (
            "POSTCODE",
            Generalisation.postcode_sector,
            ["WR1 2", "WR1 2", "B60 1", "DY10 3", "WR1 2"],
        ),
        ("POSTCODE", Generalisation.postcode_district, ["WR1", "WR1", "B60", "DY10", "WR1"]),
        ("DOB", Generalisation.month, ["1930-01", "1950-11", "1950-11", "2010-05", "1961-06"]),
        ("OXYGEN", Generalisation.flag, [True, False, False, False, True]),
    ],
)
def test_generalisations(view, column, how, expected):
    rows = execute(grant(ColumnGrant(column, Treatment.generalised, how)), view)
    assert [r[column] for r in rows] == expected


def test_age_scope_counts_birthdays_exactly(view):
    # Born 23 Nov 1950 is 76 today; born 24 Nov 1950 is still 75.
    rows = execute(grant(ColumnGrant("NAME", Treatment.identifiable), scope={"min_age": 76}), view)
    assert [r["NAME"] for r in rows] == ["ADA", "BEN"]
    rows = execute(grant(ColumnGrant("NAME", Treatment.identifiable), scope={"max_age": 75}), view)
    assert [r["NAME"] for r in rows] == ["CAL", "DEE", "EVE"]


def test_recipient_district_scope(view):
    g = grant(ColumnGrant("NAME", Treatment.identifiable), scope={"recipient_district_only": True})
    assert [r["NAME"] for r in execute(g, view, "worcester")] == ["ADA", "BEN", "EVE"]
    with pytest.raises(CannotExecute, match="recipient is not a district"):
        execute(g, view, None)


def test_aggregates_suppress_small_numbers_always(view, tmp_path):
    g = grant(ColumnGrant("DISTRICT", Treatment.identifiable), by=("DISTRICT",))
    assert execute(g, view) == [
        {"DISTRICT": "Bromsgrove", "count": "*"},
        {"DISTRICT": "Worcester", "count": "*"},
        {"DISTRICT": "Wyre Forest", "count": "*"},
    ]
    big = tmp_path / "big.parquet"
    pq.write_table(pa.table({"DISTRICT": ["A"] * 12 + ["B"] * 8 + ["C"] * 7}), big)
    many = SnapshotView("x/y/v1", (str(big),), {"DISTRICT": COLUMNS["DISTRICT"]})
    assert execute(g, many) == [
        {"DISTRICT": "A", "count": "10"},
        {"DISTRICT": "B", "count": "10"},
        {"DISTRICT": "C", "count": "*"},
    ]


def test_a_treatment_the_snapshot_cannot_give_is_refused(view):
    with pytest.raises(CannotExecute, match="NHS_NO cannot be delivered identifiable"):
        compile_grant(grant(ColumnGrant("NHS_NO", Treatment.identifiable)), view)
    with pytest.raises(CannotExecute, match="no date of birth"):
        compile_grant(
            grant(ColumnGrant("CFS", Treatment.identifiable), scope={"min_age": 65}),
            SnapshotView("x", view.files, {"CFS": COLUMNS["CFS"]}),
        )


TREATABLE = {
    "NHS_NO": [(Treatment.pseudonymised, None)],
    "NAME": [(Treatment.identifiable, None), (Treatment.pseudonymised, None)],
    "DOB": [(Treatment.generalised, Generalisation.age_band),
            (Treatment.generalised, Generalisation.birth_year), (Treatment.pseudonymised, None)],
    "POSTCODE": [(Treatment.generalised, Generalisation.postcode_sector),
                 (Treatment.pseudonymised, None), (Treatment.identifiable, None)],
    "CFS": [(Treatment.identifiable, None), (Treatment.generalised, Generalisation.flag)],
    "OXYGEN": [(Treatment.generalised, Generalisation.flag), (Treatment.identifiable, None)],
}  # fmt: skip


@st.composite
def grants(draw):
    chosen = draw(st.lists(st.sampled_from(sorted(TREATABLE)), min_size=1, unique=True))
    columns = tuple(ColumnGrant(c, *draw(st.sampled_from(TREATABLE[c]))) for c in chosen)
    low = draw(st.none() | st.integers(0, 100))
    return grant(*columns, scope={} if low is None else {"min_age": low})


@pytest.fixture(scope="module")
def sealed_view(tmp_path_factory) -> SnapshotView:
    """The same rows stored as ingest stores them: identifiers as tokens and sealed columns
    (two rows a chunk, two rows a row group), pseudonyms derived into a cache directory."""
    directory = tmp_path_factory.mktemp("sealed")
    ref = "acute/admissions/v3"
    rows = [
        {"NHS_NO__token": r[0], "NAME__token": f"tok-{r[1]}", "DOB__token": f"tok-{r[2]}",
         "DOB__year": r[2].year, "POSTCODE__token": f"tok-{r[3]}",
         "POSTCODE__sector": r[3][:-2], "DISTRICT": r[4], "CFS": r[5], "OXYGEN": r[6]}
        for r in ROWS
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows).add_column(0, "_row", [list(range(1, len(ROWS) + 1))])
    pq.write_table(table, directory / "data.parquet", row_group_size=2)
    columns = dict(COLUMNS)
    for stream, (name, position) in enumerate((("NAME", 1), ("DOB", 2), ("POSTCODE", 3))):
        values = [str(r[position]) for r in ROWS]
        writer = identity.SealedWriter(directory / f"{name}.bin", DATA_KEY, ref, name, stream)
        for start in range(0, len(values), 2):
            chunk = values[start : start + 2]
            writer.write(pa.array(chunk), range(start + 1, start + 1 + len(chunk)))
        writer.close()
        stored = COLUMNS[name]
        derived = {"DOB": {"birth_year": "DOB__year"},
                   "POSTCODE": {"postcode_sector": "POSTCODE__sector"}}.get(name, {})  # fmt: skip
        columns[name] = StoredColumn(name, type=stored.type, identifier=stored.identifier,
                                     token=f"{name}__token", sealed=f"{name}.bin",
                                     derived=derived)  # fmt: skip
    return SnapshotView(ref, (str(directory / "data.parquet"),), columns,
                        cache_dir=str(directory / "derived"))  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(g=grants())
def test_no_column_row_or_untreated_value_outside_the_grant(view, g):
    _nothing_outside_the_grant(view, g)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(g=grants())
def test_nothing_outside_the_grant_from_sealed_columns_and_derived_pseudonyms(sealed_view, g):
    _nothing_outside_the_grant(sealed_view, g)
    # The pseudonyms are derived once, then read: the same rows either way.
    assert _sorted(execute(g, sealed_view)) == _sorted(execute(g, sealed_view))


def _sorted(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(str(v) for v in r.values()) for r in rows)


def _nothing_outside_the_grant(view, g):
    rows = execute(g, view)
    granted = [c.column for c in g.columns]
    # Columns: exactly the grant's, in its order.
    assert all(list(r) == granted for r in rows)
    # Rows: exactly those in scope, by brute force.
    low = g.row_scope.get("min_age")
    in_scope = [r for r in ROWS if low is None or _age(r[2]) >= low]
    assert len(rows) == len(in_scope)
    # Values: nothing but identifiable columns carries a raw value of its column.
    names = ["NHS_NO", "NAME", "DOB", "POSTCODE", "DISTRICT", "CFS", "OXYGEN"]
    raw = {
        name: {str(r[i]) for r in ROWS if r[i] not in (None, "")} for i, name in enumerate(names)
    }
    for column in g.columns:
        if column.treatment == Treatment.identifiable:
            continue
        delivered = {str(r[column.column]) for r in rows}
        assert not delivered & raw[column.column], (column, delivered & raw[column.column])


def _age(born: date) -> int:
    return TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))


@pytest.fixture(scope="module")
def encrypted_view(tmp_path_factory) -> SnapshotView:
    """As the gateway stores identifiers: tokens and ciphertext, a plaintext year only."""
    path = tmp_path_factory.mktemp("enc") / "data.parquet"
    rows = [
        {"NAME__token": f"tok-{r[1]}", "NAME__enc": f"enc:NAME:{r[1]}",
         "DOB__enc": f"enc:DOB:{r[2].isoformat()}", "DOB__year": r[2].year,
         "POSTCODE__enc": f"enc:POSTCODE:{r[3]}", "POSTCODE__sector": r[3][:-2]}
        for r in ROWS
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), path)
    sectors = path.parent / "sectors.parquet"
    directory = {"sector": ["WR1 2", "B60 1", "DY10 3"],
                 "district": ["Worcester", "Bromsgrove", "Wyre Forest"]}  # fmt: skip
    pq.write_table(pa.table(directory), sectors)
    return SnapshotView(
        ref="acute/admissions/v2",
        files=(str(path),),
        columns={
            "NAME": StoredColumn(
                "NAME", identifier="family_name", token="NAME__token", encrypted="NAME__enc"
            ),
            "DOB": StoredColumn(
                "DOB",
                type="date",
                identifier="date_of_birth",
                encrypted="DOB__enc",
                derived={"birth_year": "DOB__year"},
            ),
            "POSTCODE": StoredColumn(
                "POSTCODE",
                identifier="postcode",
                encrypted="POSTCODE__enc",
                derived={"postcode_sector": "POSTCODE__sector"},
            ),
        },  # fmt: skip
        sector_districts=str(sectors),
    )


def test_encrypted_identifiers_are_decrypted_only_where_the_grant_needs_them(encrypted_view):
    g = grant(
        ColumnGrant("NAME", Treatment.identifiable),
        ColumnGrant("DOB", Treatment.generalised, Generalisation.age_band),
        ColumnGrant("POSTCODE", Treatment.generalised, Generalisation.postcode_sector),
        scope={"min_age": 76},
    )
    compiled = compile_grant(g, encrypted_view, today=TODAY)
    assert compiled.decrypt == {"NAME": "NAME"} and compiled.prepare == {"DOB__plain": "DOB"}
    assert execute(g, encrypted_view) == [
        {"NAME": "ADA", "DOB": "90+", "POSTCODE": "WR1 2"},
        {"NAME": "BEN", "DOB": "75-79", "POSTCODE": "WR1 2"},
    ]
    # A stored generalisation is used as it is: nothing to decrypt.
    by_year = grant(ColumnGrant("DOB", Treatment.generalised, Generalisation.birth_year))
    year = compile_grant(by_year, encrypted_view, today=TODAY)
    assert year.prepare == {} and year.decrypt == {}


def test_district_scope_through_the_postcode_directory(encrypted_view):
    g = grant(ColumnGrant("NAME", Treatment.pseudonymised), scope={"recipient_district_only": True})
    rows = execute(g, encrypted_view, "Worcester")
    expected = {
        hmac.new(KEY, f"tok-{n}".encode(), hashlib.sha256).hexdigest()
        for n in ("ADA", "BEN", "EVE")
    }
    assert {r["NAME"] for r in rows} == expected


def test_sealed_values_and_derived_pseudonyms_stay_on_their_rows(tmp_path):
    """Many row groups and chunks that do not line up: every delivered value belongs to the
    row it is delivered with, under a row scope, with one agreement's pseudonyms or another's."""
    n = 20_000
    ref = "acute/admissions/v9"
    born = [date(1930 + i % 90, 1 + i % 12, 1 + i % 28) for i in range(n)]
    table = pa.table({"_row": pa.array(range(1, n + 1), pa.int64()),
                      "T": [f"t{i + 1}" for i in range(n)],
                      "DOB__year": pa.array([d.year for d in born], pa.int16())})  # fmt: skip
    pq.write_table(table, tmp_path / "data.parquet", row_group_size=1_000)
    for name, values, chunk in (("NAME", [f"N{i + 1}" for i in range(n)], 3_001),
                                ("DOB", [d.isoformat() for d in born], 7_000)):  # fmt: skip
        writer = identity.SealedWriter(tmp_path / f"{name}.bin", DATA_KEY, ref, name, 0)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            writer.write(pa.array(values[start:stop]), range(start + 1, stop + 1))
        writer.close()
    view = SnapshotView(ref, (str(tmp_path / "data.parquet"),), {
        "ROW": StoredColumn("ROW", type="integer", plain="_row"),
        "NHS_NO": StoredColumn("NHS_NO", identifier="nhs_number", token="T"),
        "NAME": StoredColumn("NAME", identifier="family_name", sealed="NAME.bin"),
        "DOB": StoredColumn("DOB", type="date", identifier="date_of_birth", sealed="DOB.bin",
                            derived={"birth_year": "DOB__year"}),
    }, cache_dir=str(tmp_path / "derived"))  # fmt: skip
    g = grant(
        ColumnGrant("ROW", Treatment.identifiable),
        ColumnGrant("NHS_NO", Treatment.pseudonymised),
        ColumnGrant("NAME", Treatment.identifiable),
        ColumnGrant("DOB", Treatment.identifiable),
        scope={"min_age": 40},
    )
    expected = [i + 1 for i in range(n) if _age(born[i]) >= 40]
    for _ in range(2):  # the first run derives the pseudonyms, the second reads them
        rows = execute(g, view)
        assert sorted(r["ROW"] for r in rows) == expected
        for r in rows:
            assert r["NAME"] == f"N{r['ROW']}" and r["DOB"] == born[r["ROW"] - 1].isoformat()
            token = hmac.new(KEY, f"t{r['ROW']}".encode(), hashlib.sha256).hexdigest()
            assert r["NHS_NO"] == token
    assert len(list((tmp_path / "derived").iterdir())) == 1
    # Another agreement's key: another derived file and other pseudonyms for the same rows.
    other = bytes(32)
    compiled = compile_grant(g, view, today=TODAY)
    unseal = lambda column, path, rows: identity.unseal_values(  # noqa: E731
        DATA_KEY, tmp_path / path, ref, column, rows
    )
    theirs = run(compiled, view, agreement_key=other, unseal=unseal).to_pylist()
    assert sorted(r["ROW"] for r in theirs) == expected
    assert not {r["NHS_NO"] for r in theirs} & {r["NHS_NO"] for r in rows}
    for r in theirs[:100]:
        assert r["NHS_NO"] == hmac.new(other, f"t{r['ROW']}".encode(), "sha256").hexdigest()
    assert len(list((tmp_path / "derived").iterdir())) == 2


def test_a_derived_pseudonym_file_that_does_not_fit_the_snapshot_is_derived_again(sealed_view):
    g = grant(ColumnGrant("NHS_NO", Treatment.pseudonymised))
    first = execute(g, sealed_view)
    derived = Path(pseudonym_path(sealed_view, "NHS_NO__token", KEY))
    assert derived.is_file()
    pq.write_table(pa.table({"_row": [1], "pseudonym": ["not-a-token"]}), derived)  # cut short
    assert _sorted(execute(g, sealed_view)) == _sorted(first)
    assert pq.read_table(derived).num_rows == len(ROWS)


def test_pseudonyms_are_still_delivered_when_they_cannot_be_kept(sealed_view, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    view = SnapshotView(sealed_view.ref, sealed_view.files, sealed_view.columns,
                        cache_dir=str(blocked / "derived"))  # fmt: skip
    g = grant(ColumnGrant("NHS_NO", Treatment.pseudonymised))
    assert _sorted(execute(g, view)) == _sorted(execute(g, sealed_view))

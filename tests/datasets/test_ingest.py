"""Pushing files: validated, pseudonymised, encrypted, whole or not at all. Both backends."""

from __future__ import annotations

import json
import logging

import openpyxl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import inspect, select, text

from civicshare import db
from civicshare.audit.models import AuditRecord
from civicshare.datasets import service
from civicshare.datasets.models import DatasetIngest, DatasetSnapshot
from civicshare.identity import service as identity
from tests.datasets.conftest import GOOD_ROWS, simple_contract, write_csv

BAD_ROW = "A4,9434765918,Green,31/02/1950,WR5 1PS,1,x,1,Y,2025-01-02 10:00,"


def register(sessions, **kw):
    with db.session_scope(sessions) as session:
        return service.register_contract(session, simple_contract(**kw)).version


def push(sessions, settings, path, dataset="test-people", partner="worcs-acute"):
    with db.session_scope(sessions) as session:
        return service.push(session, settings, partner, dataset, path)


def test_a_clean_file_becomes_version_1_with_identifiers_tokenised_and_encrypted(
    seeded, settings, tmp_path
):
    register(seeded)
    result = push(seeded, settings, write_csv(tmp_path / "people.csv", GOOD_ROWS))
    assert result.outcome == "accepted", result.report
    with db.session_scope(seeded) as session:
        snap = service.current_snapshot(session, "worcs-acute", "test-people", settings)
    assert (snap.version, snap.row_count, snap.quarantined_count) == (1, 3, 0)
    assert snap.directory == settings.data_dir / "snapshots/worcs-acute/test-people/v1"
    table = pq.read_table(snap.data_path)
    assert "nhs" not in table.column_names and "surname" not in table.column_names
    assert {"nhs__token", "dob__year", "postcode__sector", "visits"} <= set(table.column_names)
    # Identifier values are kept only sealed (decision 0039): no per-value ciphertext column.
    assert not [name for name in table.column_names if name.endswith("__enc")]
    assert "encrypted" not in snap.storage["nhs"]
    assert table["_row"].to_pylist() == [1, 2, 3]
    assert table["visits"].to_pylist() == [3, 0, None]
    assert table["postcode__sector"].to_pylist() == ["WR5 1", "WR5 1", "B98 1"]
    assert table["dob__year"].to_pylist() == [1950, 1961, None]
    # both spellings of one postcode give one token
    tokens = table["postcode__token"].to_pylist()
    assert tokens[0] == tokens[1] != tokens[2]
    assert snap.storage["nhs"]["stored_as"] == "pseudonymised"
    assert snap.storage["condition"] == {**snap.storage["condition"], "stored_as": "plain"}
    assert snap.contract.column("condition").special_category

    def unsealed(column: str, path: str | None = None) -> list:
        path = snap.directory / (path or snap.storage[column]["sealed"])
        values = identity.unseal_column(settings, snap, column, path, snap.row_count)
        assert values["_row"].to_pylist() == [1, 2, 3]
        return values["value"].to_pylist()

    assert unsealed("nhs") == ["9434765919", "9434765870", None]
    assert unsealed("surname") == ["SMITH", "JONES", "BROWN"]
    with pytest.raises(identity.DecryptionError):  # a sealed column is bound to its column
        unsealed("surname", snap.storage["nhs"]["sealed"])
    stored = b"".join(p.read_bytes() for p in snap.directory.rglob("*") if p.is_file())
    assert b"9434765919" not in stored and b"SMITH" not in stored


def test_reject_policy_creates_no_version_and_reports_every_bad_field(seeded, settings, tmp_path):
    register(seeded)
    push(seeded, settings, write_csv(tmp_path / "v1.csv", GOOD_ROWS))
    result = push(seeded, settings, write_csv(tmp_path / "v2.csv", GOOD_ROWS + [BAD_ROW]))
    assert result.outcome == "rejected"
    assert result.snapshot is None
    found = {(p["row"], p["column"], p["code"]) for p in result.report["problems"]}
    assert found == {
        (4, "nhs", "nhs_number_check_digit"),
        (4, "dob", "not_date"),
        (4, "visits", "not_integer"),
    }
    assert "reject the file" in result.report["reasons"][0]
    with db.session_scope(seeded) as session:
        snap = service.current_snapshot(session, "worcs-acute", "test-people", settings)
        ingests = session.scalars(select(DatasetIngest).order_by(DatasetIngest.id)).all()
        assert [i.outcome.value for i in ingests] == ["accepted", "rejected"]
        actions = session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)).all()
    assert actions[-1] == "dataset.ingest_rejected"
    assert snap.version == 1 and snap.row_count == 3
    versions = sorted(p.name for p in snap.directory.parent.iterdir() if p.name[0] != ".")
    assert versions == ["v1"]
    assert not any((settings.data_dir / "snapshots/.tmp").iterdir())


def test_quarantine_policy_keeps_good_rows_and_encrypts_the_bad(seeded, settings, tmp_path):
    register(seeded, bad_rows="quarantine")
    result = push(seeded, settings, write_csv(tmp_path / "f.csv", GOOD_ROWS + [BAD_ROW]))
    assert result.outcome == "accepted"
    assert (result.snapshot.row_count, result.snapshot.quarantined_count) == (3, 1)
    quarantine = pq.read_table(result.snapshot.quarantine_path)
    assert quarantine.column_names == ["_row"] and quarantine["_row"].to_pylist() == [4]
    snap = result.snapshot
    stored = b"".join(p.read_bytes() for p in snap.directory.rglob("*") if p.is_file())
    assert b"9434765918" not in stored and b"Green" not in stored
    # Every field of the quarantined row is sealed, bound to its column and to the quarantine.
    data_key = identity.unwrap_data_key(settings, snap.wrapped_data_key)
    sealed = {
        column.name: identity.unseal_values(
            data_key,
            snap.directory / f"sealed/quarantine-{index}.bin",
            snap.ref,
            f"quarantine/{column.name}",
            1,
        )  # fmt: skip
        for index, column in enumerate(snap.contract.columns)
    }
    assert sealed["nhs"]["value"].to_pylist() == ["9434765918"]
    assert sealed["surname"]["value"].to_pylist() == ["Green"]
    assert sealed["dob"]["_row"].to_pylist() == [4]
    with pytest.raises(identity.DecryptionError):
        identity.unseal_values(
            data_key, snap.directory / "sealed/quarantine-1.bin", snap.ref, "nhs", 1
        )


def test_quarantine_above_the_limit_rejects(seeded, settings, tmp_path):
    register(seeded, bad_rows="quarantine")
    result = push(seeded, settings, write_csv(tmp_path / "f.csv", [BAD_ROW, BAD_ROW, GOOD_ROWS[0]]))
    assert result.outcome == "rejected"
    assert "quarantine limit" in result.report["reasons"][0]


def test_a_file_with_the_wrong_columns_is_refused_by_name(seeded, settings, tmp_path):
    register(seeded)
    header = "id,nhs,surname,dob,postcode,uprn,visits,cost,alone,seen,notes\n"
    result = push(seeded, settings, write_csv(tmp_path / "f.csv", GOOD_ROWS, header))
    assert result.outcome == "rejected"
    assert result.report["reasons"] == [
        "the file has no column 'condition'; the file has columns that are not in the "
        "contract: 'notes'"
    ]


def test_each_push_is_a_new_version_and_the_old_one_stays(seeded, settings, tmp_path):
    register(seeded)
    push(seeded, settings, write_csv(tmp_path / "a.csv", GOOD_ROWS))
    result = push(seeded, settings, write_csv(tmp_path / "b.csv", GOOD_ROWS[:2]))
    assert result.snapshot.version == 2 and result.snapshot.row_count == 2
    with db.session_scope(seeded) as session:
        old = service.snapshot(session, "worcs-acute", "test-people", 1, settings)
        assert old.status == "superseded" and pq.read_table(old.data_path).num_rows == 3
        assert [
            r.versions
            for r in service.list_datasets(session, "worcs-acute")
            if r.dataset.name == "test-people"
        ] == [2]


def test_xlsx_and_parquet_files(seeded, settings, tmp_path):
    register(seeded)
    csv_path = write_csv(tmp_path / "f.csv", GOOD_ROWS)
    book = openpyxl.Workbook()
    sheet = book.active
    for line in csv_path.read_text().splitlines():
        sheet.append([v if v != "" else None for v in line.split(",")])
    book.save(tmp_path / "f.xlsx")
    result = push(seeded, settings, tmp_path / "f.xlsx")
    assert result.outcome == "accepted", result.report
    assert result.snapshot.row_count == 3
    names = simple_contract()["columns"]
    table = pacsv.read_csv(
        csv_path,
        convert_options=pacsv.ConvertOptions(column_types={c["name"]: pa.string() for c in names}),
    )
    pq.write_table(table, tmp_path / "f.parquet")
    result = push(seeded, settings, tmp_path / "f.parquet")
    assert result.outcome == "accepted", result.report
    assert result.snapshot.row_count == 3


def test_the_synthetic_county_ingests_and_no_plaintext_identifier_is_stored(
    seeded, settings, county, caplog
):
    caplog.set_level(logging.DEBUG)
    with db.session_scope(seeded) as session:
        results = service.ingest_demo(session, settings, county)
    assert len(results) >= 10
    assert all(r.outcome == "accepted" for r in results), [r.report["reasons"] for r in results]

    # Sample identifiers straight from the partners' files.
    acute = pacsv.read_csv(
        county / "datasets/acute-admissions.csv",
        convert_options=pacsv.ConvertOptions(column_types={"NHS_NO": pa.string()}),
    )
    gp = pq.read_table(county / "datasets/gp-registrations.parquet")
    nhs = {n.replace(" ", "") for n in acute["NHS_NO"].to_pylist()[:40] if n}
    nhs |= {n for n in gp["nhs_number"].to_pylist()[:40] if n}
    nhs |= {f"{n[:3]} {n[3:6]} {n[6:]}" for n in list(nhs)}
    public = " ".join(
        path.read_text(errors="ignore") for path in [*(county / "datasets").glob("*works*.csv")]
    ).lower()
    public += " ".join(
        " ".join(str(v) for v in pq.read_table(p).to_pydict().get(c, []))
        for p in (county / "geography").glob("*.parquet")
        for c in ("street_name", "name", "settlement", "post_town", "address_line_1")
    ).lower()
    surnames = {s for s in gp["family_name"].to_pylist() if s and len(s) >= 6}
    surnames = {s for s in surnames if s.lower() not in public}
    assert len(nhs) > 50 and len(surnames) > 5
    needles = {n.lower() for n in nhs | surnames}

    haystacks: dict[str, str] = {}
    for path in settings.data_dir.rglob("*"):
        if path.is_dir() or path.suffix == ".db-wal" or path.name.endswith(("-shm",)):
            continue
        haystacks[str(path)] = path.read_bytes().decode("latin-1").lower()
        if path.suffix == ".parquet":  # decompressed values too, not only the bytes on disk
            table = pq.read_table(path)
            haystacks[f"{path} (decoded)"] = json.dumps(table.to_pydict(), default=str).lower()
    engine = db.make_engine(settings.effective_database_url)
    with engine.connect() as connection:
        for table_name in inspect(engine).get_table_names():
            rows = connection.execute(text(f'SELECT * FROM "{table_name}"')).all()
            haystacks[f"table {table_name}"] = repr(rows).lower()
    engine.dispose()
    haystacks["logs"] = caplog.text.lower()
    assert any("snapshots" in k for k in haystacks)
    leaks = [
        (needle, where) for where, hay in haystacks.items() for needle in needles if needle in hay
    ]
    assert leaks == []


def test_ingest_demo_is_idempotent(seeded, settings, county):
    with db.session_scope(seeded) as session:
        first = service.ingest_demo(session, settings, county)
    with db.session_scope(seeded) as session:
        again = service.ingest_demo(session, settings, county)
        count = len(session.scalars(select(DatasetSnapshot)).all())
    assert first and again == [] and count == len(first)


def test_a_contract_stored_before_a_field_existed_is_not_a_new_version_when_unchanged(seeded):
    """A field added later (``one_record_per_person``) left at its default keeps the digest a
    contract had before the field existed; set, it makes a new version."""
    from civicshare.datasets.models import DatasetContract

    assert register(seeded) == 1
    with db.session_scope(seeded) as session:
        row = session.scalars(select(DatasetContract)).one()
        before = {k: v for k, v in row.body.items() if k != "one_record_per_person"}
        old_digest = service.contract_digest(before)
        assert old_digest == row.sha256
        # As a store written before the field existed holds it.
        row.body = before
    assert register(seeded) == 1
    assert register(seeded, one_record_per_person=True) == 2

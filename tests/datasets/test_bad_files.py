"""Bad files end as a clear rejection (never a 500 or a traceback), naming the line or row where
known, refused before the heavy work when they break a limit; nothing stored is lost or left
half-written, and no staging directory outlives the push. Both backends."""

from __future__ import annotations

import io
import time
import zipfile

import openpyxl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from civicshare import db
from civicshare.dataplane import ingest
from civicshare.dataplane.ingest import staging as staging_module
from civicshare.dataplane.ingest.layout import DATA_FILE
from civicshare.datasets import service
from civicshare.datasets.models import DatasetSnapshot
from tests.conftest import sign_in
from tests.datasets.conftest import GOOD_ROWS, HEADER, simple_contract, write_csv

ROWS = [*GOOD_ROWS, "A5,,White,,,,2,,,,"]


def register(sessions, **kw) -> None:
    with db.session_scope(sessions) as session:
        service.register_contract(session, simple_contract(**kw))


def push(sessions, settings, path):
    with db.session_scope(sessions) as session:
        return service.push(session, settings, "worcs-acute", "test-people", path)


def snapshot_count(sessions) -> int:
    with db.session_scope(sessions) as session:
        return session.scalar(select(func.count(DatasetSnapshot.id)))


def staging(settings) -> list:
    root = ingest.staging_root(settings)
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def assert_rejected(result, settings, *fragments: str) -> str:
    assert result.outcome == "rejected", result.report
    assert result.snapshot is None
    reasons = "; ".join(result.report["reasons"])
    for fragment in fragments:
        assert fragment in reasons
    assert staging(settings) == []
    return reasons


def parquet_bytes(rows: list[str] = ROWS, **options) -> bytes:
    names = [c["name"] for c in simple_contract()["columns"]]
    table = pacsv.read_csv(
        io.BytesIO((HEADER + "\n".join(rows) + "\n").encode()),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def xlsx_bytes(rows: list[str] = ROWS) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for line in [HEADER.strip(), *rows]:
        sheet.append([v if v != "" else None for v in line.split(",")])
    sink = io.BytesIO()
    book.save(sink)
    return sink.getvalue()


# -- encodings -----------------------------------------------------------------------------


def test_utf16_with_a_bom_is_decoded_and_accepted(seeded, settings, tmp_path):
    register(seeded)
    path = tmp_path / "people.csv"
    path.write_bytes((HEADER + "\n".join(ROWS) + "\n").encode("utf-16"))
    result = push(seeded, settings, path)
    assert result.outcome == "accepted", result.report
    assert result.snapshot.row_count == 4
    table = pq.read_table(result.snapshot.data_path)
    assert table["visits"].to_pylist() == [3, 0, None, 2]
    assert staging(settings) == []


def test_utf8_with_a_bom_is_accepted(seeded, settings, tmp_path):
    register(seeded)
    path = tmp_path / "people.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\n".join(ROWS) + "\n").encode())
    assert push(seeded, settings, path).snapshot.row_count == 4


def test_a_cp1252_file_is_refused_by_name_with_its_line(seeded, settings, tmp_path):
    register(seeded)
    rows = [*ROWS[:2], "A3,,Müller,,B98 1YD,,,,,,", ROWS[3]]
    path = tmp_path / "people.csv"
    path.write_bytes((HEADER + "\n".join(rows) + "\n").encode("cp1252"))
    assert_rejected(push(seeded, settings, path), settings, "line 4 is not UTF-8", "Windows-1252")


def test_invalid_utf8_bytes_name_the_line_and_leave_no_traceback(seeded, settings, tmp_path, capfd):
    register(seeded)
    push(seeded, settings, write_csv(tmp_path / "good.csv", ROWS))
    body = (HEADER + "\n".join(ROWS[:3]) + "\n").encode() + b"A5,,Wh\xc3\x28ite,,,,,,,,\n"
    path = tmp_path / "people.csv"
    path.write_bytes(body)
    assert_rejected(push(seeded, settings, path), settings, "line 5 is not UTF-8")
    assert "Exception ignored" not in capfd.readouterr().err
    assert snapshot_count(seeded) == 1


# -- structure -----------------------------------------------------------------------------


def test_a_wrong_field_count_names_its_line(seeded, settings, tmp_path):
    register(seeded)
    rows = [ROWS[0], ROWS[1], "A3,,Brown", ROWS[3]]
    reasons = assert_rejected(push(seeded, settings, write_csv(tmp_path / "f.csv", rows)), settings)
    assert reasons == "line 4 has 3 fields where the header has 11"


def test_a_field_count_line_counts_newlines_inside_quotes(seeded, settings, tmp_path):
    register(seeded)
    rows = ['A1,,"Smith\nJones",,,,,,,,', "A2,,Brown,,,", ROWS[2]]
    reasons = assert_rejected(push(seeded, settings, write_csv(tmp_path / "f.csv", rows)), settings)
    assert reasons == "line 4 has 6 fields where the header has 11"


def test_a_corrupted_parquet_file_cannot_be_read_as_parquet(seeded, settings, tmp_path):
    register(seeded)
    push(seeded, settings, write_csv(tmp_path / "good.csv", ROWS))
    many = [f"B{i},,Name{i * 7919 % 10007},,,{i},{i % 97},,,," for i in range(20_000)]
    data = bytearray(parquet_bytes(many))
    middle = len(data) // 2  # inside the column chunks: the footer is a small part of the file
    assert middle < len(data) - pq.ParquetFile(io.BytesIO(bytes(data))).metadata.serialized_size
    data[middle - 40 : middle + 40] = bytes(b ^ 0xFF for b in data[middle - 40 : middle + 40])
    path = tmp_path / "f.parquet"
    path.write_bytes(bytes(data))
    assert_rejected(push(seeded, settings, path), settings, "could not be read as Parquet")
    assert snapshot_count(seeded) == 1


def test_a_truncated_parquet_file_is_rejected(seeded, settings, tmp_path):
    register(seeded)
    path = tmp_path / "f.parquet"
    path.write_bytes(parquet_bytes()[:-30])
    assert_rejected(push(seeded, settings, path), settings, "could not be read as Parquet")


def test_a_damaged_workbook_is_rejected(seeded, settings, tmp_path):
    register(seeded)
    path = tmp_path / "f.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    assert_rejected(push(seeded, settings, path), settings, "could not be read as an XLSX")


# -- limits --------------------------------------------------------------------------------


def test_a_100000_column_csv_is_refused_by_its_header(seeded, settings, tmp_path):
    register(seeded)
    path = tmp_path / "wide.csv"
    path.write_text(
        ",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join("1" * 100_000) + "\n"
    )
    started = time.perf_counter()
    result = push(seeded, settings, path)
    print(f"100,000-column CSV rejected in {time.perf_counter() - started:.3f}s")
    assert_rejected(
        result, settings, "the file has 100,000 columns, more than the contract's limit of 2,000"
    )


def test_the_column_limit_holds_for_parquet_from_its_footer(seeded, settings, tmp_path):
    register(seeded, limits={"max_columns": 5})
    path = tmp_path / "f.parquet"
    path.write_bytes(parquet_bytes())
    assert_rejected(push(seeded, settings, path), settings, "11 columns", "limit of 5")


def _zip_bomb(tmp_path, inflated: int) -> bytes:
    """A real workbook whose sheet XML is padded (inside a cell-less row) to `inflated` bytes."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes()))
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                pad = b" " * inflated
                data = data.replace(b"</sheetData>", pad + b"</sheetData>")
            out.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return sink.getvalue()


def test_an_xlsx_zip_bomb_is_refused_before_it_is_opened(seeded, settings, tmp_path):
    register(seeded, limits={"max_xlsx_uncompressed_bytes": 1 << 20})
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(_zip_bomb(tmp_path, 8 << 20))
    assert path.stat().st_size < 100_000
    started = time.perf_counter()
    result = push(seeded, settings, path)
    print(f"zip bomb rejected in {time.perf_counter() - started:.3f}s")
    assert_rejected(result, settings, "more than the contract's limit of 1,048,576")
    assert "limits.max_xlsx_uncompressed_bytes" in result.report["reasons"][0]


def test_a_field_over_the_limit_names_its_row_and_column(seeded, settings, tmp_path):
    register(seeded, limits={"max_field_bytes": 1000})
    rows = [*ROWS[:2], "A3,,Brown,,,,,,,," + "x" * 1001]
    assert_rejected(
        push(seeded, settings, write_csv(tmp_path / "f.csv", rows)),
        settings,
        "row 3, column 'condition': the field is 1,001 bytes",
    )


def test_the_row_limit(seeded, settings, tmp_path):
    register(seeded, limits={"max_rows": 3})
    assert_rejected(
        push(seeded, settings, write_csv(tmp_path / "f.csv", ROWS)), settings, "more than 3 rows"
    )
    path = tmp_path / "f.parquet"
    path.write_bytes(parquet_bytes())
    assert_rejected(push(seeded, settings, path), settings, "4 rows, more than")
    path = tmp_path / "f.xlsx"
    path.write_bytes(xlsx_bytes())
    assert_rejected(push(seeded, settings, path), settings, "more than 3 rows")


# -- duplicate record ids --------------------------------------------------------------------


def test_duplicate_record_ids_reject_the_file_naming_rows_and_field(seeded, settings, tmp_path):
    register(seeded, record_id="id")
    rows = [*ROWS, "A2,,Black,,,,,,,,", " A1 ,,Grey,,,,,,,,"]
    result = push(seeded, settings, write_csv(tmp_path / "f.csv", rows))
    assert_rejected(result, settings, "2 of 6 rows repeat a 'id'", "duplicate records reject")
    problems = result.report["problems"]
    assert [(p["row"], p["column"], p["code"], p["message"]) for p in problems] == [
        (5, "id", "duplicate_record_id", "repeats the record id of row 2"),
        (6, "id", "duplicate_record_id", "repeats the record id of row 1"),
    ]


def test_duplicate_record_ids_can_be_quarantined(seeded, settings, tmp_path):
    register(seeded, record_id="id", duplicate_records="quarantine")
    rows = [*ROWS, "A2,,Black,,,,,,,,"]
    result = push(seeded, settings, write_csv(tmp_path / "f.csv", rows))
    assert result.outcome == "accepted", result.report
    assert (result.snapshot.row_count, result.snapshot.quarantined_count) == (4, 1)
    assert pq.read_table(result.snapshot.quarantine_path)["_row"].to_pylist() == [5]
    assert result.report["rows_duplicated"] == 1


def test_shipped_contracts_name_their_record_id():
    from civicshare.datasets.contracts import example_contracts

    contracts = example_contracts()
    # Traffic counts have no one-column id: the shared works format fixes their columns as
    # usrn, count_date, hour, vehicles, keyed by the first three (tests/synthetic/test_works.py).
    keyed = [c for c in contracts if c.name != "traffic-counts"]
    assert len(keyed) == len(contracts) - 1 and all(c.record_id for c in keyed)
    assert all(c.duplicate_records.value == "reject" for c in contracts)


# -- staging and what is stored ------------------------------------------------------------


def test_a_crash_part_way_removes_staging_and_keeps_the_current_version(
    seeded, settings, tmp_path, monkeypatch
):
    register(seeded)
    first = push(seeded, settings, write_csv(tmp_path / "a.csv", ROWS))

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(staging_module, "validate_batch", boom)
    with pytest.raises(RuntimeError):
        push(seeded, settings, write_csv(tmp_path / "b.csv", ROWS))
    assert staging(settings) == []
    assert snapshot_count(seeded) == 1
    assert pq.read_table(first.snapshot.data_path).num_rows == 4


# -- through the API -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("people.csv", (HEADER + "\n".join(ROWS)).encode("cp1252") + b"\xe9\n", "line 5"),
        ("people.csv", (HEADER + "A1,,Smith\n").encode(), "line 2 has 3 fields"),
        ("people.csv", ",".join(["c"] * 100_000).encode() + b"\n", "100,000 columns"),
        ("people.parquet", b"PAR1" + b"\0" * 64 + b"PAR1", "could not be read as Parquet"),
        ("people.xlsx", b"\0" * 100, "could not be read as an XLSX"),
    ],
)
def test_the_api_answers_a_bad_file_with_422_and_its_report(client, member, name, body, expected):
    member("provider@acute.example", {"worcs-acute": ["data_provider"]})
    csrf = sign_in(client, "provider@acute.example", "worcs-acute")
    headers = {"x-csrf-token": csrf}
    assert client.post("/api/datasets", json=simple_contract(), headers=headers).is_success
    response = client.put(
        f"/api/datasets/worcs-acute/test-people/snapshots?filename={name}",
        content=body,
        headers=headers,
    )
    assert response.status_code == 422, response.text
    report = response.json()
    assert report["outcome"] == "rejected"
    assert expected in "; ".join(report["reasons"])
    assert staging(client.app.state.settings) == []


def test_a_sheet_that_declares_a_far_row_or_column_reads_only_what_is_there(
    seeded, settings, tmp_path
):
    """openpyxl would fill 50 million empty rows and pad each row to column XFD."""
    register(seeded)
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes()))
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<row r="5"', b'<row r="50000000"')
                data = data.replace(b"</row></sheetData>", b'<c r="XFD1"/></row></sheetData>')
            out.writestr(item, data)
    path = tmp_path / "far.xlsx"
    path.write_bytes(sink.getvalue())
    result = push(seeded, settings, path)
    assert result.outcome == "accepted", result.report
    assert result.snapshot.row_count == 4


def test_parquet_text_that_is_not_utf8_is_rejected_by_column(seeded, settings, tmp_path):
    """Found by the fuzzer: pyarrow does not check a Parquet string column's bytes."""
    register(seeded)
    data = parquet_bytes(compression="none")
    at = data.index(b"Smith")
    path = tmp_path / "f.parquet"
    path.write_bytes(data[:at] + b"Sm\xffth" + data[at + 5 :])
    result = push(seeded, settings, path)
    assert_rejected(result, settings, "'surname' holds text that is not UTF-8")


# -- a snapshot that cannot be written ----------------------------------------------------------


@pytest.mark.parametrize("failing", [1, 3])
def test_a_failed_snapshot_write_fails_the_push_and_stores_nothing(
    seeded, settings, tmp_path, monkeypatch, failing
):
    """data.parquet is compressed in a thread of its own, one batch behind the checks: a write
    that fails there (a full disk), on the first batch or a later one, must still fail the
    push, with no snapshot recorded and no staging directory left."""
    from civicshare.dataplane.ingest import readers

    register(seeded)
    monkeypatch.setattr(readers, "TEXT_CHUNK_BYTES", 1 << 12)  # a batch per 4 KiB of text
    rows = [f"B{i},,Name{i},,WR5 1PS,,{i % 9},,,," for i in range(2_000)]
    path = write_csv(tmp_path / "many.csv", rows)
    written: list[int] = []
    real_write = pq.ParquetWriter.write_batch

    def write_batch(self, batch, *args, **kwargs):
        if str(self.where).endswith(DATA_FILE):
            written.append(batch.num_rows)
            if len(written) == failing:
                raise OSError(28, "No space left on device")
        return real_write(self, batch, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", write_batch)
    with pytest.raises(OSError, match="No space left"):
        push(seeded, settings, path)
    assert len(written) >= failing
    assert snapshot_count(seeded) == 0
    assert staging(settings) == []
    monkeypatch.undo()  # the disk has room again: the same file goes in whole
    register(seeded)
    result = push(seeded, settings, path)
    assert result.outcome == "accepted", result.report
    assert result.report["rows_accepted"] == 2_000

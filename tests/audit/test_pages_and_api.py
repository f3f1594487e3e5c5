"""IG leads browse, filter, export and verify the audit log; others see only what involves them."""

from __future__ import annotations

import csv
import io
import re

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.audit import service as audit
from civicshare.partners import service as partners
from tests.conftest import sign_in


def seed(sessions):
    with db.session_scope(sessions) as session:
        for dataset, outcome, rows in (
            ("worcestershire-cc/adult-social-care", "allowed", 120),
            ("fire/home-safety-visits", "denied", 0),
            ("acute-trust/discharges", "allowed", 45),
        ):
            audit.record(
                session,
                None,
                "share_decided",
                "dataset",
                dataset,
                purpose="Vulnerable people at an incident",
                agreement_ref="ISA-0001",
                agreement_version=1,
                dataset=dataset,
                columns=["person_token", "uprn"],
                row_count=rows,
                output_sha256="cd" * 32,
                outcome=outcome,
            )


def test_the_host_partners_ig_lead_sees_everything_and_filters(client, member, sessions):
    member("ig@county.example", {"worcestershire-cc": ["ig_lead"]})
    seed(sessions)
    sign_in(client, "ig@county.example", "worcestershire-cc")
    page = client.get("/audit", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "fire/home-safety-visits" in page.text and "acute-trust/discharges" in page.text
    assert 'href="/audit"' in page.text  # the nav link for IG leads

    denied = client.get("/audit?outcome=denied&dataset=fire/home-safety-visits")
    assert "fire/home-safety-visits" in denied.text
    assert "acute-trust/discharges" not in denied.text

    exported = client.get("/audit.csv?outcome=allowed")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["dataset"] for r in rows] == [
        "worcestershire-cc/adult-social-care",
        "acute-trust/discharges",
    ]
    assert rows[0]["columns"] == '["person_token", "uprn"]'

    verified = client.get("/audit?verify=true")
    assert re.search(r"Audit log intact: \d+ records, no signed checkpoints yet", verified.text)


def test_another_partners_ig_lead_sees_only_what_involves_them(client, member, sessions):
    member("ig@fire.example", {"fire": ["ig_lead"]})
    seed(sessions)
    sign_in(client, "ig@fire.example", "fire")
    page = client.get("/audit")
    assert "fire/home-safety-visits" in page.text
    assert "acute-trust/discharges" not in page.text
    rows = list(csv.DictReader(io.StringIO(client.get("/audit.csv").text)))
    assert [r["dataset"] for r in rows if r["dataset"]] == ["fire/home-safety-visits"]
    assert {r["actor_partner"] for r in rows if not r["dataset"]} <= {"fire"}


def test_only_ig_leads_may_read_the_audit_log(client, member):
    member("analyst@county.example", {"worcestershire-cc": ["analyst"]})
    sign_in(client, "analyst@county.example", "worcestershire-cc")
    assert client.get("/audit").status_code == 403
    assert client.get("/api/audit").status_code == 403
    assert client.get("/audit.csv").status_code == 403


def test_the_api_needs_the_audit_read_scope(client, member, sessions):
    member("ig@county.example", {"worcestershire-cc": ["ig_lead"]})
    seed(sessions)
    tokens = {}
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, "ig@county.example")
        membership = person.memberships[0]
        for scopes in (["audit:read"], ["partners:read"]):
            secret, _ = accounts.create_api_token(
                session, membership, name=scopes[0], scopes=scopes, days=1
            )
            tokens[scopes[0]] = {"authorization": f"Bearer {secret}"}
    listed = client.get("/api/audit?outcome=allowed&per_page=1", headers=tokens["audit:read"])
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 2
    assert body["records"][0]["dataset"] == "acute-trust/discharges"
    verified = client.get("/api/audit/verify", headers=tokens["audit:read"]).json()
    assert verified["intact"] is True
    assert verified["records"] >= 3
    refused = client.get("/api/audit", headers=tokens["partners:read"])
    assert refused.status_code == 403
    assert "audit:read" in refused.json()["detail"]


def test_audit_csv_shows_a_formula_purpose_as_text(client, member, sessions):
    member("ig@county.example", {"worcestershire-cc": ["ig_lead"]})
    purposes = ['=HYPERLINK("http://evil.example","Safeguarding")', "@SUM(1+1)", "-1+2", "\tTab"]
    with db.session_scope(sessions) as session:
        for purpose in purposes:
            audit.record(session, None, "share_decided", "dataset", "fire/home-safety-visits",
                         purpose=purpose, dataset="fire/home-safety-visits", row_count=-5,
                         agreement_version=1, outcome="allowed")  # fmt: skip
    sign_in(client, "ig@county.example", "worcestershire-cc")
    exported = client.get("/audit.csv?dataset=fire/home-safety-visits")
    assert exported.status_code == 200
    assert '"\'=HYPERLINK(""http://evil.example"",""Safeguarding"")"' in exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text, newline="")))
    assert [r["purpose"] for r in rows] == ["'" + p for p in purposes]
    assert {r["row_count"] for r in rows} == {"-5"}  # a number, not text: left as it is
    assert all(r["seq"].isdigit() for r in rows)

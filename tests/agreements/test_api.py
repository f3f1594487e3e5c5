"""The agreements API: credentials, scopes, roles, and problem details naming each field."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.app import create_app
from civicshare.partners.models import Membership
from tests.agreements.conftest import World


@pytest.fixture
def client(settings, engine):
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def token(sessions, actor, scopes=("agreements:read", "agreements:write")) -> dict:
    with db.session_scope(sessions) as session:
        secret, _ = accounts.create_api_token(
            session,
            session.get(Membership, actor.membership_id),
            name="t",
            scopes=list(scopes),
            days=1,
        )
    return {"Authorization": f"Bearer {secret}"}


def test_every_api_route_except_health_needs_credentials(client):
    checked = 0
    for path, operations in client.app.openapi()["paths"].items():
        if not path.startswith("/api/"):
            continue
        concrete = path.replace("{reference}", "ISA-0001").replace("{number}", "1")
        concrete = concrete.replace("{action}", "submit")
        for segment in ("{token_id}", "{key}", "{person_id}", "{membership_id}", "{version}"):
            concrete = concrete.replace(segment, "1")
        for method in operations:
            response = client.request(method.upper(), concrete, json={})
            assert response.status_code == 401, (method, concrete, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked >= 12


def _flow(client, headers: dict[str, dict]):
    today = date.today()
    created = client.post(
        "/api/agreements",
        headers=headers["acute"],
        json={
            "title": "Discharge planning",
            "template": "hospital-discharge",
            "start_date": today.isoformat(),
            "review_date": (today + timedelta(days=365)).isoformat(),
            "dpia_outcome": "Completed, residual risk low",
            "reason": "New pathway",
        },
    )
    assert created.status_code == 201, created.text
    return created.json()["reference"]


def test_the_lifecycle_over_the_api(client, sessions, world: World):
    headers = {name: token(sessions, getattr(world, name)) for name in ("acute", "county", "fire")}
    ref = _flow(client, headers)
    base = f"/api/agreements/{ref}/versions/1"
    shown = client.get(base, headers=headers["acute"]).json()
    assert shown["problems"] == [] and "submit" in shown["allowed_actions"]
    assert client.post(f"{base}/submit", headers=headers["acute"]).json()["status"] == "submitted"
    assert client.post(f"{base}/approve", headers=headers["acute"]).status_code == 200
    assert client.post(f"{base}/approve", headers=headers["county"]).json()["status"] == "approved"
    endorsed = client.post(
        f"{base}/endorse",
        headers=headers["fire"],
        json={"meeting_date": date.today().isoformat(), "minute_reference": "IGG/1"},
    )
    assert endorsed.json()["status"] == "endorsed", endorsed.text
    assert client.post(f"{base}/activate", headers=headers["county"]).json()["status"] == "active"
    listed = client.get("/api/agreements", params={"status": "active"}, headers=headers["fire"])
    assert [a["reference"] for a in listed.json()] == [ref]
    history = client.get(f"/api/agreements/{ref}/history", headers=headers["acute"]).json()
    assert [h["action"] for h in history][-1] == "agreement_activated"
    amended = client.post(f"/api/agreements/{ref}/amend", headers=headers["county"],
                          json={"reason": "Add a column"})  # fmt: skip
    assert amended.status_code == 201 and amended.json()["version"] == 2
    assert client.get("/api/agreements/templates", headers=headers["fire"]).status_code == 200
    due = client.get("/api/agreements/review-due", params={"within": 400}, headers=headers["fire"])
    assert [a["reference"] for a in due.json()] == [ref]


def test_refusals_are_problem_documents_naming_the_field(client, sessions, world):
    headers = token(sessions, world.acute)
    created = client.post("/api/agreements", headers=headers, json={"title": "Blank"})
    ref = created.json()["reference"]
    refused = client.post(f"/api/agreements/{ref}/versions/1/submit", headers=headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["detail"].startswith("The agreement cannot be submitted yet: ")
    assert {"field": "parties", "message": "Choose at least one provider and one recipient"} in (
        body["errors"]
    )
    purposes = [{"code": "falls-referral", "description": "Refer a person at risk of falls."}]
    listed = client.patch(
        f"/api/agreements/{ref}/versions/1", headers=headers, json={"purposes": purposes}
    )
    assert listed.status_code == 200 and listed.json()["purposes"] == purposes
    twice = client.patch(
        f"/api/agreements/{ref}/versions/1",
        headers=headers,
        json={"purposes": [*purposes, {"code": "falls-referral", "description": "Again."}]},
    )
    problems = client.get(f"/api/agreements/{ref}/versions/1", headers=headers).json()["problems"]
    assert (
        twice.status_code == 200
        and {
            "field": "purposes",
            "message": "The purpose code falls-referral is listed twice",
        }
        in problems
    )
    changed = client.patch(
        f"/api/agreements/{ref}/versions/1",
        headers=headers,
        json={"parties": [{"partner": "no-such", "role": "provider"}]},
    )
    assert changed.status_code == 422
    assert "There is no partner with the key 'no-such'" in changed.json()["detail"]


def test_wrong_scope_or_role_is_403_and_others_drafts_are_404(client, sessions, world):
    read_only = token(sessions, world.acute, scopes=["agreements:read"])
    refused = client.post("/api/agreements", headers=read_only, json={"title": "X"})
    assert refused.status_code == 403
    assert "agreements:write" in refused.json()["detail"]
    viewer = token(sessions, world.county_viewer)
    refused = client.post("/api/agreements", headers=viewer, json={"title": "X"})
    assert refused.status_code == 403
    assert "not an IG lead" in refused.json()["detail"]
    ref = client.post("/api/agreements", headers=token(sessions, world.acute),
                      json={"title": "Mine"}).json()["reference"]  # fmt: skip
    as_fire = token(sessions, world.dual_as_fire)
    assert client.get(f"/api/agreements/{ref}", headers=as_fire).status_code == 404
    assert client.get("/api/agreements", headers=as_fire).json() == []
    wrong_scope = token(sessions, world.acute, scopes=["partners:read"])
    assert client.get("/api/agreements", headers=wrong_scope).status_code == 403

"""Partners, the charter and memberships: who may change what."""

from __future__ import annotations

from datetime import date

import pytest

from civicshare import db
from civicshare.audit import service as audit
from civicshare.partners import service as partners
from tests.conftest import sign_in

HOST = "worcestershire-cc"


@pytest.fixture
def host_admin(client, member):
    member("admin@county.example", {HOST: ["admin"]})
    return sign_in(client, "admin@county.example")


def test_partnership_admin_invites_and_a_partner_leaves_with_its_memberships(
    client, host_admin, member, sessions
):
    headers = {"x-csrf-token": host_admin}
    made = client.post(
        "/api/partners",
        json={"key": "mercia-water", "name": "Mercia Water", "type": "other"},
        headers=headers,
    )
    assert made.status_code == 201 and made.json()["status"] == "invited"
    member("ops@mercia-water.example", {"mercia-water": ["viewer"]})
    left = client.post(
        "/api/partners/mercia-water/status",
        json={"status": "left", "reason": "contract ended", "on": "2026-11-01"},
        headers=headers,
    ).json()
    assert left["status"] == "left" and left["left_on"] == "2026-11-01"
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, "ops@mercia-water.example")
        assert [m.active for m in person.memberships] == [False]
        (change,) = [
            r
            for r in audit.history(session, "partner", "mercia-water")
            if r.action == "partner_status_changed"
        ]
        assert change.reason == "contract ended"
        assert change.actor_label == "Admin (Worcestershire Cc)"
        assert change.details == {"from": "invited", "to": "left"}
    refused = client.post(
        "/api/partners/mercia-water/status",
        json={"status": "endorsed", "reason": "back again"},
        headers=headers,
    )
    assert refused.status_code == 409 and "has left" in refused.json()["detail"]


def test_a_partners_own_admin_edits_it_but_not_others(client, member):
    member("admin@fire.example", {"fire": ["admin"]})
    member("someone@police.example", {"police": ["viewer"]})
    csrf = sign_in(client, "admin@fire.example")
    ok = client.patch(
        "/api/partners/fire", json={"dpo_name": "R. Patel"}, headers={"x-csrf-token": csrf}
    )
    assert ok.status_code == 200 and ok.json()["dpo_name"] == "R. Patel"
    other = client.patch(
        "/api/partners/police", json={"dpo_name": "X"}, headers={"x-csrf-token": csrf}
    )
    assert other.status_code == 403 and "Police" in other.json()["detail"]
    invite = client.post(
        "/api/partners",
        json={"key": "new-one", "name": "New", "type": "other"},
        headers={"x-csrf-token": csrf},
    )
    assert invite.status_code == 403


def test_two_memberships_never_mix_permissions(client, member):
    # Admin at Redditch, viewer at Bromsgrove: acting for Bromsgrove, no admin rights anywhere.
    member("jo@shared.example", {"bromsgrove": ["viewer"], "redditch": ["admin"]})
    csrf = sign_in(client, "jo@shared.example", "bromsgrove")
    headers = {"x-csrf-token": csrf}
    assert client.get("/api/partners/redditch/members").status_code == 403
    assert (
        client.patch("/api/partners/redditch", json={"siro": "X"}, headers=headers).status_code
        == 403
    )
    assert (
        client.patch("/api/partners/bromsgrove", json={"siro": "X"}, headers=headers).status_code
        == 403
    )
    csrf = sign_in(client, "jo@shared.example", "redditch")
    headers = {"x-csrf-token": csrf}
    assert client.get("/api/partners/redditch/members").status_code == 200
    assert (
        client.patch("/api/partners/redditch", json={"siro": "X"}, headers=headers).status_code
        == 200
    )
    assert (
        client.patch("/api/partners/bromsgrove", json={"siro": "X"}, headers=headers).status_code
        == 403
    )


def test_new_charter_version_shows_who_has_not_re_endorsed(client, host_admin, member, sessions):
    member("ig@fire.example", {"fire": ["ig_lead"]})
    headers = {"x-csrf-token": host_admin}
    assert client.post(
        "/api/charter", json={"title": "Charter", "body": "We share carefully."}, headers=headers
    ).json() == {"version": 1}
    endorsement = {"signatory_name": "A. Chief", "signatory_role": "Chief Executive"}
    assert (
        client.post("/api/charter/1/endorsements", json=endorsement, headers=headers).status_code
        == 201
    )
    again = client.post("/api/charter/1/endorsements", json=endorsement, headers=headers)
    assert again.status_code == 409 and "already endorsed" in again.json()["detail"]
    client.post(
        "/api/charter",
        json={"title": "Charter", "body": "We share carefully, v2."},
        headers=headers,
    )
    states = {p["partner"]: p for p in client.get("/api/charter").json()["partners"]}
    assert states[HOST]["endorsed_current"] is False
    assert states[HOST]["latest_endorsed_version"] == 1
    assert states["fire"]["latest_endorsed_version"] is None
    page = client.get("/charter")
    assert "Not yet re-endorsed" in page.text and "Not endorsed" in page.text

    fire = sign_in(client, "ig@fire.example")
    response = client.post(
        "/charter/endorse",
        data={
            "signatory_name": "B. Chief",
            "signatory_role": "Chief Fire Officer",
            "csrf_token": fire,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    states = {p["partner"]: p for p in client.get("/api/charter").json()["partners"]}
    assert states["fire"]["endorsed_current"] is True
    with db.session_scope(sessions) as session:
        assert partners.get_by_key(session, "fire").status.value == "endorsed"


def test_endorsement_form_names_each_missing_field(client, member):
    member("ig@fire.example", {"fire": ["ig_lead"]})
    with db.session_scope(db.make_sessionmaker(client.app.state.engine)) as session:
        partners.publish_charter(
            session, title="C", body="Text", summary_of_changes="", on=date(2026, 1, 1)
        )
    csrf = sign_in(client, "ig@fire.example")
    page = client.post("/charter/endorse", data={"csrf_token": csrf})
    assert page.status_code == 400
    assert "Enter the name of the person who signed" in page.text
    assert 'href="#signatory_role"' in page.text


def test_members_are_added_by_the_partners_admin(client, member):
    member("admin@fire.example", {"fire": ["admin"]})
    csrf = sign_in(client, "admin@fire.example")
    added = client.post(
        "/api/partners/fire/members",
        json={
            "email": "New.Person@Fire.example",
            "display_name": "New Person",
            "roles": ["responder", "viewer"],
        },
        headers={"x-csrf-token": csrf},
    )
    assert added.status_code == 201
    assert added.json()["email"] == "new.person@fire.example"
    assert added.json()["roles"] == ["responder", "viewer"]
    unnamed = client.post(
        "/api/partners/fire/members",
        json={"email": "x@fire.example", "roles": ["viewer"]},
        headers={"x-csrf-token": csrf},
    )
    assert unnamed.status_code == 422 and "display_name" in unnamed.json()["detail"]

"""Separation of duties in the lifecycle: the IG group's endorsement is recorded by an IG lead who
neither drafted, submitted nor approved the version (four-eyes, the default; `relaxed` for a
small partnership); a party approves only for its own organisation; a version is activated only
with every party's approval and the endorsement on record."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from civicshare import db
from civicshare.accounts.service import actor_for
from civicshare.agreements import service
from civicshare.agreements.models import Status
from civicshare.app import create_app
from civicshare.config import Settings
from civicshare.partners import service as partners
from civicshare.partners.models import Role
from tests.agreements.conftest import TODAY, draft
from tests.agreements.test_api import _flow, token


def approved(session, world, drafter=None):
    """A discharge agreement drafted and submitted by `drafter` (the acute trust's IG lead),
    approved by the acute trust and the county: awaiting the IG group."""
    version = draft(session, drafter or world.acute)
    service.submit(session, drafter or world.acute, version, today=TODAY)
    service.approve(session, drafter or world.acute, version)
    service.approve(session, world.county, version)
    assert version.status == Status.approved
    return version


def endorse(session, actor, version, **options):
    return service.endorse(
        session,
        actor,
        version,
        meeting_date=TODAY,
        minute_reference="IGG/2026/11/4",
        today=TODAY,
        **options,
    )


def test_the_drafter_cannot_also_record_the_ig_groups_endorsement(sessions, world):
    with db.session_scope(sessions) as session:
        version = approved(session, world)
        with pytest.raises(service.SeparationOfDuties) as refused:
            endorse(session, world.acute, version)
        assert (refused.value.status, refused.value.field) == (403, "actor")
        assert refused.value.message == (
            f"Ana Acute, you drafted and submitted {version.reference} version 1 and approved "
            "it for Worcestershire Acute Hospitals NHS Trust, so you cannot also record the IG "
            "group's endorsement: another member of the IG group, an IG lead who neither "
            "drafted, submitted nor approved this version, records it (separation_of_duties = "
            '"four-eyes").'
        )
        assert version.status == Status.approved
        endorse(session, world.police, version)  # an IG lead who took no part
        assert version.status == Status.endorsed
        assert version.endorser.person.display_name == "Pat Police"


def test_a_partys_ig_lead_who_approved_cannot_endorse_as_the_ig_group(sessions, world):
    # The county's IG lead approved as the recipient; recording the IG group's endorsement
    # too (with a minute reference nobody else checks) would make the approval the whole review.
    with db.session_scope(sessions) as session:
        version = approved(session, world)
        with pytest.raises(service.SeparationOfDuties, match="you approved ISA-0001 version 1 "
                           "for Worcestershire County Council, so you cannot"):  # fmt: skip
            endorse(session, world.county, version)
        actions = [t.action for t in service.allowed_actions(world.county, version, TODAY)]
        assert "endorse" not in actions  # no button to a refusal
        assert "endorse" in [t.action for t in service.allowed_actions(world.fire, version)]


def test_one_person_acting_for_another_partner_is_still_the_same_pair_of_eyes(sessions, world):
    with db.session_scope(sessions) as session:
        version = approved(session, world, drafter=world.dual_as_acute)
        dee = partners.get_person_by_email(session, "dee@dual.example")
        as_police = actor_for(
            partners.add_membership(
                session, dee, partners.get_by_key(session, "west-mercia-police"), [Role.ig_lead]
            ),
            "session",
        )
        with pytest.raises(service.SeparationOfDuties, match="Dee Dual, you drafted"):
            endorse(session, as_police, version)


def test_the_host_admin_alone_cannot_take_a_version_into_force(sessions, world):
    # The host's admin and IG lead drafts for the county, submits, approves for the county, and
    # tries to record the endorsement and activate: the endorsement needs someone else.
    with db.session_scope(sessions) as session:
        host = partners.get_by_key(session, "worcestershire-cc")
        admin = actor_for(
            partners.add_membership(
                session,
                partners.create_person(session, email="priya@cc.example", display_name="Priya"),
                host,
                [Role.admin, Role.ig_lead],
            ),
            "session",
        )
        version = draft(session, admin)
        service.submit(session, admin, version, today=TODAY)
        service.approve(session, admin, version)
        service.approve(session, world.acute, version)
        with pytest.raises(service.SeparationOfDuties, match="Priya, you drafted and submitted"):
            endorse(session, admin, version)
        with pytest.raises(service.Conflict, match="only an agreement that is endorsed"):
            service.activate(session, admin, version, today=TODAY)


def test_relaxed_lets_a_small_partnership_endorse_its_own_version(sessions, world):
    with db.session_scope(sessions) as session:
        version = approved(session, world)
        endorse(session, world.acute, version, separation=service.RELAXED)
        assert version.status == Status.endorsed


def test_the_setting_decides_when_none_is_given(sessions, world, monkeypatch):
    monkeypatch.setenv("CIVICSHARE_SEPARATION_OF_DUTIES", "relaxed")
    with db.session_scope(sessions) as session:
        version = approved(session, world)
        assert "endorse" in [t.action for t in service.allowed_actions(world.acute, version)]
        endorse(session, world.acute, version)
        assert version.status == Status.endorsed


def test_the_setting_is_four_eyes_by_default_and_takes_only_its_two_values(settings):
    assert Settings().separation_of_duties == "four-eyes"
    assert Settings(separation_of_duties="relaxed").separation_of_duties == "relaxed"
    with pytest.raises(ValidationError):
        Settings(separation_of_duties="none")


def test_under_four_eyes_the_command_line_cannot_record_an_endorsement(sessions, world):
    with db.session_scope(sessions) as session:
        version = approved(session, world)
        with pytest.raises(service.SeparationOfDuties, match="signed in as themselves"):
            endorse(session, None, version)
        endorse(session, None, version, separation=service.RELAXED)
        assert version.status == Status.endorsed


def test_a_party_approves_only_for_its_own_organisation(sessions, world):
    with db.session_scope(sessions) as session:
        version = draft(session, world.acute)
        service.submit(session, world.acute, version, today=TODAY)
        with pytest.raises(service.NotAllowed) as refused:
            service.approve(session, world.fire, version)  # fire is no party
        assert (refused.value.status, refused.value.field) == (403, "partner")
        assert "only for their own organisation" in refused.value.message
        service.approve(session, world.county, version)
        # The county's approval counts for the county only: the acute trust is still awaited.
        assert set(version.current_approvals()) == {world.county.partner_id}
        assert version.status == Status.submitted
        with pytest.raises(service.NotAllowed, match="not from the command line"):
            service.approve(session, None, version)


def test_activation_needs_every_partys_approval_and_the_endorsement(sessions, world):
    with db.session_scope(sessions) as session:
        version = draft(session, world.acute)
        service.submit(session, world.acute, version, today=TODAY)
        service.approve(session, world.acute, version)
        version.status = Status.endorsed  # as if the status alone were to be trusted
        with pytest.raises(service.Conflict) as waiting:
            service.activate(session, world.acute, version, today=TODAY)
        assert (waiting.value.status, waiting.value.field) == (409, "approvals")
        assert waiting.value.message == (
            f"{version.reference} version 1 cannot be activated: it still needs the approval "
            "of Worcestershire County Council."
        )
        version.status = Status.submitted
        service.approve(session, world.county, version)
        version.status = Status.endorsed  # approved, but no endorsement on record
        with pytest.raises(service.Conflict) as unendorsed:
            service.activate(session, world.acute, version, today=TODAY)
        assert (unendorsed.value.status, unendorsed.value.field) == (409, "endorsement")
        assert "the IG group's endorsement (meeting date and minute reference) is not on" in (
            unendorsed.value.message
        )
        assert version.status == Status.endorsed and version.activated_at is None


def test_the_api_and_pages_follow_the_apps_setting(settings, engine, sessions, world):
    headers = {name: token(sessions, getattr(world, name)) for name in ("acute", "county", "fire")}
    meeting = {"meeting_date": date.today().isoformat(), "minute_reference": "IGG/1"}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ref = _flow(client, headers)
        base = f"/api/agreements/{ref}/versions/1"
        client.post(f"{base}/submit", headers=headers["acute"])
        client.post(f"{base}/approve", headers=headers["acute"])
        client.post(f"{base}/approve", headers=headers["county"])
        shown = client.get(base, headers=headers["county"]).json()
        assert "endorse" not in shown["allowed_actions"]
        refused = client.post(f"{base}/endorse", headers=headers["county"], json=meeting)
        assert refused.status_code == 403, refused.text
        assert "so you cannot also record the IG group's endorsement" in refused.text
    relaxed = settings.model_copy(update={"separation_of_duties": "relaxed"})
    with TestClient(create_app(relaxed), raise_server_exceptions=False) as client:
        shown = client.get(base, headers=headers["county"]).json()
        assert "endorse" in shown["allowed_actions"]
        endorsed = client.post(f"{base}/endorse", headers=headers["county"], json=meeting)
        assert endorsed.status_code == 200 and endorsed.json()["status"] == "endorsed"


def test_demo_style_walk_needs_no_relaxing(sessions, world):
    # agreements/demo.py picks, for the endorsement, an IG lead outside the agreement.
    from civicshare.agreements.demo import ig_group_member

    with db.session_scope(sessions) as session:
        version = approved(session, world)
        actors = {"worcs-acute": world.acute, "worcestershire-cc": world.county,
                  "hw-fire": world.fire, "west-mercia-police": world.police}  # fmt: skip
        chosen = ig_group_member(actors, version)
        assert chosen.partner_key == "hw-fire"  # the first partner outside the agreement
        endorse(session, chosen, version)
        service.activate(session, world.acute, version, today=TODAY)
        assert version.status == Status.active

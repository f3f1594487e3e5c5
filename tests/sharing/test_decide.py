"""decide(): allowed with the exact grant, or denied with the reason, on both backends."""

from __future__ import annotations

import dataclasses

import pytest

from civicshare import db
from civicshare.accounts.service import actor_for
from civicshare.agreements import service as agreements
from civicshare.partners import service as partners
from civicshare.partners.models import Membership, Role
from civicshare.sharing.service import ShareRequest, decide
from tests.agreements.conftest import TODAY, make_active

PURPOSE = "discharge-planning"  # one of the hospital discharge template's permitted purposes


def analyst_at(session, key: str):
    person = partners.get_person_by_email(
        session, f"analyst@{key}.example"
    ) or partners.create_person(session, email=f"analyst@{key}.example", display_name="Ann Analyst")
    membership = partners.add_membership(
        session, person, partners.get_by_key(session, key), [Role.analyst]
    )
    return actor_for(membership, "session")


def ask(actor, **changes) -> ShareRequest:
    return ShareRequest(
        **{"actor": actor, "purpose": PURPOSE, "provider": "worcs-acute",
           "dataset": "acute-admissions", **changes}
    )  # fmt: skip


def test_an_active_agreement_grants_exactly_its_items(sessions, world):
    with db.session_scope(sessions) as session:
        version = make_active(session, world)
        decision = decide(session, ask(analyst_at(session, "worcestershire-cc")), TODAY)
        assert decision.allowed, decision.reason
        assert decision.agreement == version.agreement.reference and decision.version == 1
        granted = {c.column: c.treatment.value for c in decision.grant.columns}
        assert "SPECIALTY" not in granted  # excluded in the agreement
        assert granted["NHS_NO"] == "identifiable"
        assert decision.grant.recipient == "worcestershire-cc"
        assert decision.grant.row_scope["min_age"] == 18


@pytest.mark.parametrize(
    ("change", "clause", "words"),
    [
        ({"columns": ("NHS_NO", "SPECIALTY")}, "data items", "does not include SPECIALTY"),
        ({"columns": ("NHS_NO", "MOTHERS_MAIDEN_NAME")}, "data items", "MOTHERS_MAIDEN_NAME"),
        ({"purpose": "   "}, "purpose", "State the purpose"),
        ({"purpose": "Plan care packages for people leaving hospital"}, "purpose", "permits"),
        ({"purpose": "reablement-planning"}, "purpose", "name one of its permitted purposes"),
        ({"dataset": "community-health"}, "no active agreement", "community-health"),
        ({"provider": "nowhere"}, "provider", "no partner"),
        ({"agreement": "ISA-9999"}, "no active agreement", "ISA-9999"),
        ({"columns": ("NHS_NO",), "group_by": ("DOB",)}, "aggregate", "Group by only"),
    ],
)
def test_requests_outside_the_grant_are_denied_with_the_reason(
    sessions, world, change, clause, words
):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        decision = decide(session, ask(analyst_at(session, "worcestershire-cc"), **change), TODAY)
        assert not decision.allowed and decision.grant is None
        assert decision.clause == clause
        assert words in decision.reason


def test_a_partner_that_is_not_a_recipient_gets_nothing(sessions, world):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        decision = decide(session, ask(analyst_at(session, "hw-fire")), TODAY)
        assert not decision.allowed and decision.clause == "no active agreement"


def test_roles_and_token_scopes_limit_who_receives(sessions, world):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        viewer = world.county_viewer
        assert decide(session, ask(viewer), TODAY).clause == "role"
        token = dataclasses.replace(
            analyst_at(session, "worcestershire-cc"),
            via="token",
            scopes=frozenset({"agreements:read"}),
        )
        assert decide(session, ask(token), TODAY).clause == "token scope"


def test_one_person_two_memberships_receives_only_as_the_chosen_one(sessions, world):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        person = partners.get_person_by_email(session, "dee@dual.example")
        partners.add_membership(
            session, person, partners.get_by_key(session, "worcestershire-cc"), [Role.viewer]
        )
        partners.add_membership(
            session, person, partners.get_by_key(session, "hw-fire"), [Role.analyst]
        )
        as_county = actor_for(
            next(m for m in person.memberships if m.partner.key == "worcestershire-cc"), "session"
        )
        as_fire = actor_for(
            next(m for m in person.memberships if m.partner.key == "hw-fire"), "session"
        )
        # A viewer at the recipient, an analyst elsewhere: neither membership may receive.
        assert decide(session, ask(as_county), TODAY).clause == "role"
        assert decide(session, ask(as_fire), TODAY).clause == "no active agreement"


@pytest.mark.parametrize("action", ["suspend", "revoke"])
def test_suspension_and_revocation_stop_the_very_next_request(sessions, world, action):
    with db.session_scope(sessions) as session:
        version = make_active(session, world)
        analyst = analyst_at(session, "worcestershire-cc")
        assert decide(session, ask(analyst), TODAY).allowed
        getattr(agreements, action)(
            session, world.acute, version, reason="data breach at recipient"
        )
        decision = decide(session, ask(analyst), TODAY)
        assert not decision.allowed and decision.clause == "no active agreement"


def test_a_suspended_partner_neither_provides_nor_receives(sessions, world):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        analyst = analyst_at(session, "worcestershire-cc")
        partners.set_status(
            session, partners.get_by_key(session, "worcs-acute"), "suspended", TODAY
        )
        decision = decide(session, ask(analyst), TODAY)
        assert decision.clause == "partner status" and "provider" in decision.reason


def test_expiry_by_date_takes_effect_without_anyone_acting(sessions, world):
    from datetime import timedelta

    with db.session_scope(sessions) as session:
        version = make_active(session, world)
        analyst = analyst_at(session, "worcestershire-cc")
        assert not decide(session, ask(analyst), version.review_date + timedelta(days=1)).allowed


def test_two_covering_agreements_must_be_named(sessions, world):
    with db.session_scope(sessions) as session:
        first = make_active(session, world)
        second = make_active(session, world)
        analyst = analyst_at(session, "worcestershire-cc")
        decision = decide(session, ask(analyst), TODAY)
        assert decision.clause == "ambiguous"
        named = decide(session, ask(analyst, agreement=second.agreement.reference), TODAY)
        assert named.allowed and named.agreement == second.agreement.reference
        assert first.agreement.reference != second.agreement.reference
        assert isinstance(session.get(Membership, analyst.membership_id), Membership)


def test_a_purpose_outside_the_agreement_is_refused_with_the_permitted_ones(sessions, world):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        analyst = analyst_at(session, "worcestershire-cc")
        marketing = "Sell patient list to a marketing company for profit"
        decision = decide(session, ask(analyst, purpose=marketing), TODAY)
        assert not decision.allowed and decision.clause == "purpose"
        assert decision.agreement is not None and decision.grant is None
        assert decision.reason == (
            f"{marketing!r} is not a purpose {decision.agreement} version 1 permits: name one "
            "of its permitted purposes: discharge-planning (Plan care and support for an adult "
            "due to leave hospital, before the day they go home); discharge-follow-up (Check "
            "that an adult discharged on pathway 1 to 3 received the support planned, within "
            "30 days of discharge)."
        )
        assert decide(session, ask(analyst, purpose="discharge-follow-up"), TODAY).allowed


def test_a_note_is_checked_for_identifiers_like_a_purpose(sessions, world):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        analyst = analyst_at(session, "worcestershire-cc")
        decision = decide(session, ask(analyst, note="Mrs Smith, 943 476 5919"), TODAY)
        assert decision.clause == "identifier in purpose"
        assert decision.reason.startswith("Notes must not contain identifiers")
        assert "5919" not in decision.reason
        assert decide(session, ask(analyst, note="This week's discharges"), TODAY).allowed

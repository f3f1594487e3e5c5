"""The lifecycle: who may take each step, in which state, and the record each step leaves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from civicshare import db
from civicshare.agreements import service
from civicshare.agreements.models import Status
from civicshare.audit.models import AuditRecord
from tests.agreements.conftest import TODAY, draft, make_active


def test_the_full_lifecycle_records_who_as_which_membership_and_why(sessions, world):
    with db.session_scope(sessions) as session:
        version = draft(session, world.acute)
        assert version.status == Status.draft
        service.submit(session, world.acute, version, today=TODAY)
        assert version.status == Status.submitted
        service.approve(session, world.acute, version, comment="Our DPO agrees")
        assert version.status == Status.submitted  # still waiting for the county
        service.approve(session, world.county, version)
        assert version.status == Status.approved
        service.endorse(session, world.fire, version, meeting_date=TODAY,
                        minute_reference="IGG/2026/11/4", today=TODAY)  # fmt: skip
        assert version.status == Status.endorsed
        service.activate(session, world.county, version, today=TODAY)
        assert version.status == Status.active
        assert service.active_version(session, version.reference, TODAY) is version
        reference = version.reference

    with db.session_scope(sessions) as session:
        entries = service.history(session, service.get(session, reference))
        actions = [e.action for e in entries]
        assert actions == [
            "agreement_drafted", "agreement_updated", "agreement_submitted",
            "agreement_approved", "agreement_approved", "agreement_endorsed",
            "agreement_activated",
        ]  # fmt: skip
        approved = [e for e in entries if e.action == "agreement_approved"]
        assert approved[0].membership_id == world.acute.membership_id
        assert approved[0].reason == "Our DPO agrees"
        assert approved[1].membership_id == world.county.membership_id
        assert approved[1].details["for_partner"] == "worcestershire-cc"
        endorsed = next(e for e in entries if e.action == "agreement_endorsed")
        assert endorsed.details["minute_reference"] == "IGG/2026/11/4"
        assert endorsed.actor_label == "Fay Fire (Hereford & Worcester Fire and Rescue Service)"


def test_submit_refuses_an_incomplete_draft_with_every_problem(sessions, world):
    with db.session_scope(sessions) as session:
        version = service.create_draft(session, world.acute, title="Blank")
        with pytest.raises(service.Invalid) as refused:
            service.submit(session, world.acute, version, today=TODAY)
        fields = {p.field for p in refused.value.problems}
        assert {"parties", "purpose", "data_items", "review_date"} <= fields
        assert version.status == Status.draft


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("activate", "is draft; only an agreement that is endorsed can be activated"),
        ("approve", "is draft; only an agreement that is awaiting approvals can be approved"),
        ("suspend", "is draft; only an agreement that is active can be suspended"),
    ],
)
def test_steps_out_of_order_are_refused(sessions, world, step, expected):
    with db.session_scope(sessions) as session:
        version = draft(session, world.acute)
        with pytest.raises(service.Conflict, match=expected):
            service.perform(session, world.acute, version, step, reason="because", today=TODAY)


def test_endorsement_waits_for_every_party_and_approvals_are_once_per_party(sessions, world):
    with db.session_scope(sessions) as session:
        version = draft(session, world.acute)
        service.submit(session, world.acute, version, today=TODAY)
        service.approve(session, world.acute, version)
        with pytest.raises(service.Conflict, match="already decided"):
            service.approve(session, world.dual_as_acute, version)
        with pytest.raises(service.Conflict, match="awaiting ig group can be endorsed"):
            service.endorse(session, world.county, version, meeting_date=TODAY,
                            minute_reference="M1", today=TODAY)  # fmt: skip


def test_only_a_partys_own_ig_lead_approves_for_that_party(sessions, world):
    with db.session_scope(sessions) as session:
        version = draft(session, world.acute)
        service.submit(session, world.acute, version, today=TODAY)
        with pytest.raises(service.NotAllowed, match="Fire and Rescue Service is not a party"):
            service.approve(session, world.fire, version)
        with pytest.raises(service.NotAllowed, match="you are not an IG lead"):
            service.approve(session, world.county_viewer, version)
        service.approve(session, world.county, version)
        assert set(version.current_approvals()) == {world.county.partner_id}


def test_two_memberships_act_separately(sessions, world):
    """Dee is IG lead for the acute trust and a viewer for fire. Acting for fire she can neither
    see the acute trust's draft nor approve it; acting for the acute trust she can."""
    with db.session_scope(sessions) as session:
        version = draft(session, world.dual_as_acute)
        reference = version.reference
        assert service.list_for(session, world.dual_as_fire) == []
        with pytest.raises(service.NotFound):
            service.get_for(session, world.dual_as_fire, reference)
        service.submit(session, world.dual_as_acute, version, today=TODAY)
        # Once submitted, fire's IG lead (on the IG group) sees it; Dee as a fire viewer does not.
        assert [a.reference for a, _ in service.list_for(session, world.fire)] == [reference]
        assert service.list_for(session, world.dual_as_fire) == []
        with pytest.raises(service.NotAllowed):
            service.approve(session, world.dual_as_fire, version)
        assert service.allowed_actions(world.dual_as_fire, version) == []
        service.approve(session, world.dual_as_acute, version)
        assert version.current_approvals()[world.acute.partner_id].membership_id == (
            world.dual_as_acute.membership_id
        )


def test_a_rejection_returns_to_draft_and_a_resubmission_needs_fresh_approvals(sessions, world):
    with db.session_scope(sessions) as session:
        version = draft(session, world.acute)
        service.submit(session, world.acute, version, today=TODAY)
        service.approve(session, world.acute, version)
        with pytest.raises(service.Invalid, match="Give the reason to reject"):
            service.reject(session, world.county, version, reason="")
        service.reject(session, world.county, version, reason="Retention is too long")
        assert version.status == Status.draft
        service.update_draft(session, world.acute, version, {"retention": "6 years"})
        service.submit(session, world.acute, version, today=TODAY)
        assert version.current_approvals() == {}
        assert version.submission_round == 2


def test_suspend_resume_and_revoke_need_a_reason(sessions, world):
    with db.session_scope(sessions) as session:
        version = make_active(session, world)
        with pytest.raises(service.Invalid, match="Give the reason to suspend"):
            service.suspend(session, world.county, version, reason=" ")
        service.suspend(session, world.county, version, reason="Breach under investigation")
        assert service.active_version(session, version.reference, TODAY) is None
        service.resume(session, world.acute, version, reason="Investigation closed", today=TODAY)
        service.revoke(session, world.acute, version, reason="Service decommissioned")
        assert version.status == Status.revoked
        assert version.status_reason == "Service decommissioned"
        with pytest.raises(service.NotAllowed):
            service.suspend(session, world.police, make_active(session, world), reason="x")


def test_activation_waits_for_the_start_date(sessions, world):
    with db.session_scope(sessions) as session:
        later = TODAY + timedelta(days=10)
        version = draft(
            session, world.acute, start_date=later, review_date=later + timedelta(days=300)
        )
        service.submit(session, world.acute, version, today=TODAY)
        service.approve(session, world.acute, version)
        service.approve(session, world.county, version)
        service.endorse(session, world.police, version, meeting_date=TODAY,
                        minute_reference="M2", today=TODAY)  # fmt: skip
        assert "activate" not in [
            t.action for t in service.allowed_actions(world.acute, version, TODAY)
        ]
        with pytest.raises(service.Conflict, match="activate it on or after that date"):
            service.activate(session, world.acute, version, today=TODAY)
        service.activate(session, world.acute, version, today=later)
        assert version.status == Status.active


def test_an_amendment_is_a_new_version_that_supersedes_the_old_when_active(sessions, world):
    with db.session_scope(sessions) as session:
        v1 = make_active(session, world)
        with pytest.raises(service.Invalid, match="Say what the amendment changes"):
            service.amend(session, world.acute, v1.agreement, reason="")
        v2 = service.amend(session, world.acute, v1.agreement, reason="Add readmission flag")
        assert (v2.number, v2.status, v2.amends_version_id) == (2, Status.draft, v1.id)
        assert [i.column for i in v2.data_items] == [i.column for i in v1.data_items]
        with pytest.raises(service.Conflict, match="already has version 2"):
            service.amend(session, world.acute, v1.agreement, reason="Again")
        with pytest.raises(service.Conflict, match="only a draft can be changed"):
            service.update_draft(session, world.acute, v1, {"retention": "1 year"})
        service.update_draft(session, world.acute, v2, {"retention": "6 years"})
        # The old version stays in force while the amendment goes through.
        assert service.active_version(session, v1.agreement, TODAY) is v1
        service.submit(session, world.acute, v2, today=TODAY)
        service.approve(session, world.acute, v2)
        service.approve(session, world.county, v2)
        service.endorse(
            session, world.police, v2, meeting_date=TODAY, minute_reference="M3", today=TODAY
        )
        service.activate(session, world.county, v2, today=TODAY)
        assert (v1.status, v2.status) == (Status.superseded, Status.active)
        assert v1.retention != v2.retention == "6 years"
        assert service.active_version(session, v1.agreement, TODAY) is v2
        actions = [e.action for e in service.history(session, v1.agreement)]
        assert "agreement_amended" in actions and "agreement_superseded" in actions


def test_expiry_at_the_end_date_or_a_missed_review(sessions, world):
    with db.session_scope(sessions) as session:
        ends = make_active(session, world, end_date=TODAY + timedelta(days=30))
        review = make_active(session, world, review_date=TODAY + timedelta(days=60))
        assert service.expire_due(session, TODAY + timedelta(days=30)) == []
        expired = service.expire_due(session, TODAY + timedelta(days=31))
        assert [(v.reference, r) for v, r in expired] == [
            (
                ends.reference,
                f"Its end date, {(TODAY + timedelta(days=30)).isoformat()}, has passed",
            )
        ]
        expired = service.expire_due(session, TODAY + timedelta(days=61))
        assert [v.reference for v, _ in expired] == [review.reference]
        assert "was missed" in review.status_reason
        assert service.active_versions(session, TODAY + timedelta(days=61)) == []
        record = session.query(AuditRecord).filter_by(action="agreement_expired").first()
        assert record.actor_label == "system" and record.membership_id is None


def test_review_due_and_the_active_grant_question(sessions, world):
    with db.session_scope(sessions) as session:
        soon = make_active(session, world, review_date=TODAY + timedelta(days=20))
        make_active(session, world, review_date=TODAY + timedelta(days=200))
        assert service.review_due(session, TODAY, 30) == [soon]
        assert len(service.review_due(session, TODAY, 365)) == 2
        covering = service.active_covering(
            session, world.acute.partner_id, "acute-admissions", world.county.partner_id, TODAY
        )
        assert soon in covering
        assert (
            service.active_covering(
                session, world.county.partner_id, "acute-admissions", world.acute.partner_id, TODAY
            )
            == []
        )
        assert (
            service.active_covering(
                session, world.acute.partner_id, "other-dataset", world.county.partner_id, TODAY
            )
            == []
        )


def test_the_register_lists_only_active_agreements_and_no_people(sessions, world):
    with db.session_scope(sessions) as session:
        active = make_active(session, world)
        draft(session, world.acute)
        entries = service.register_entries(session, TODAY)
        assert [e["reference"] for e in entries] == [active.reference]
        text = repr(entries)
        for name in ("Ana Acute", "Cal County", "Fay Fire", "Dee Dual"):
            assert name not in text
        assert entries[0]["providers"] == ["Worcestershire Acute Hospitals NHS Trust"]
        assert entries[0]["article9"] == "Health or social care – Article 9(2)(h)"


def test_every_draft_change_is_audited_with_the_fields_changed(sessions, world):
    with db.session_scope(sessions) as session:
        version = draft(session, world.acute)
        service.update_draft(
            session, world.acute, version, {"security": "Better"}, reason="DPO advice"
        )
        service.update_draft(session, world.acute, version, {"security": "Better"}, reason="no-op")
        entries = service.history(session, version.agreement)
        last = entries[-1]
        assert last.details == {"version": 1, "fields": ["security"]}
        assert last.reason == "DPO advice"
        with pytest.raises(service.NotAllowed):
            service.update_draft(session, world.fire, version, {"security": "x"})

"""The benefits figures on an empty store (SQLite and PostgreSQL): each figure counts exactly
the audit records it says, in the UTC month they were written; small counts are suppressed and
save no time; an admin's change of an assumption changes the hours saved and is audited."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.accounts.service import actor_for
from civicshare.audit import service as audit
from civicshare.audit.models import AuditRecord
from civicshare.core.identity import Actor, Role
from civicshare.partners.models import Person
from civicshare.rights.benefits import service


def actor(partner: str, *roles: Role) -> Actor:
    """An actor with no membership in the store: for checks that refuse before writing."""
    return Actor(1, "Sam Example", 1, 1, partner, partner.title(), frozenset(roles), "cli")


@pytest.fixture
def admin(settings, sessions, member) -> Actor:
    """An admin of the host partner, in the store."""
    person_id = member("admin@host.example", {settings.host_partner: ["admin"]})
    with db.session_scope(sessions) as session:
        return actor_for(session.get(Person, person_id).memberships[0], "cli")


def write(session, action: str, times: int = 1, entity=None, **facts) -> None:
    for _ in range(times):
        audit.record(session, None, action, "test", entity, **facts)


@contextmanager
def written_at(monkeypatch, moment):
    """Audit records written inside are stamped `moment` (the log refuses any later change)."""
    with monkeypatch.context() as patch:
        patch.setattr(audit, "utcnow", lambda: moment)
        yield


def test_each_figure_counts_its_own_records_in_the_month_written(sessions, monkeypatch):
    now, last = service.recent_months(2)
    with db.session_scope(sessions) as session, written_at(monkeypatch, last.start):
        write(session, "share_allowed", 3, outcome="allowed")  # the first moment of last month
    with db.session_scope(sessions) as session, written_at(monkeypatch, now.start):
        write(session, "share_allowed", 1, outcome="allowed")  # the first moment of this one
    with db.session_scope(sessions) as session:
        write(session, "share_allowed", 5, outcome="allowed")
        write(session, "share_denied", 3, outcome="denied")  # refused: not a delivery
        write(session, "incident_households_viewed", 2, "INC-1")
        write(session, "incident_exported", 1, "INC-1")
        write(session, "events.delivery_attempt", 1, 101, outcome="allowed")
        write(session, "events.delivery_attempt", 2, 102, outcome="denied")  # never delivered
        write(session, "events.delivery_attempt", 2, 103, outcome="allowed")  # replayed: once
        write(session, "events.notification_pulled", 1, 104)
        write(session, "discharge_list_viewed", 2)
        write(session, "works.clashes_notified", details={"count": 4, "clashes": []})
        write(session, "works.clashes_notified", details={"count": 3, "clashes": []})
        write(session, "person_index_read", 5)  # not a benefit
    with db.session_scope(sessions) as session:
        assert service.counts(session, now.start, now.end) == {
            "deliveries": 6,
            "incident_lists": 3,
            "notifications": 3,
            "counciltax_found": 0,
            "counciltax_confirmed": 0,
            "discharge_lists": 2,
            "works_clashes": 7,
        }
        assert service.counts(session, last.start, last.end) == {
            **dict.fromkeys(service.BY_NAME, 0), "deliveries": 3,
        }  # fmt: skip
        # Both months in one pass (as the report reads them): each record in its own month.
        both = service.monthly_counts(session, [now, last])
        assert both == {
            now.key: service.counts(session, now.start, now.end),
            last.key: service.counts(session, last.start, last.end),
        }


def test_months_are_utc_calendar_months_newest_first():
    from datetime import UTC, datetime

    months = service.recent_months(3, datetime(2026, 1, 15, 23, 30, tzinfo=UTC))
    assert [m.key for m in months] == ["2026-01", "2025-12", "2025-11"]
    assert months[1].start == datetime(2025, 12, 1, tzinfo=UTC)
    assert months[1].end == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(service.BenefitsError) as refused:
        service.recent_months(0)
    assert refused.value.field == "months"


def test_small_counts_are_suppressed_and_save_no_time(sessions):
    with db.session_scope(sessions) as session:
        write(session, "share_allowed", 12, outcome="allowed")
        write(session, "discharge_list_viewed", 3)
    with db.session_scope(sessions) as session:
        month = service.report(session, months=1).months[0]
    figures = {f.name: f for f in month.figures}
    # 12 is shown rounded to the nearest 5; 3 is hidden and counts for nothing.
    assert (figures["deliveries"].count, figures["deliveries"].hours_saved) == ("10", 3.3)
    assert (figures["discharge_lists"].count, figures["discharge_lists"].hours_saved) == ("*", None)
    assert (figures["works_clashes"].count, figures["works_clashes"].hours_saved) == ("0", 0.0)
    assert month.hours_saved == 3.3


def test_an_admins_assumption_changes_the_time_saved_and_is_audited(settings, sessions, admin):
    with db.session_scope(sessions) as session:
        write(session, "share_allowed", 10, outcome="allowed")
        before = service.report(session, months=1).months[0].hours_saved
        made = service.set_assumption(
            session, settings, admin, "deliveries", "30", "Measured over a week of requests."
        )
        assert (made.minutes, made.changed, made.updated_by) == (30, True, admin.label)
    with db.session_scope(sessions) as session:
        after = service.report(session, months=1)
        assert (before, after.months[0].hours_saved) == (3.3, 5.0)
        kept = {a.name: a for a in after.assumptions}["deliveries"]
        assert kept.basis == "Measured over a week of requests." and kept.default_minutes == 20
        record = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "benefits.assumption_set")
        ).one()
        assert (record.entity_id, record.actor_label) == ("deliveries", admin.label)
        assert record.details == {
            "from": 20, "to": 30, "basis": "Measured over a week of requests.",
        }  # fmt: skip
    with db.session_scope(sessions) as session:
        # Without a new basis the old one is kept.
        service.set_assumption(session, settings, admin, "deliveries", 25)
        assert service.assumptions(session)[0].basis == "Measured over a week of requests."


@pytest.mark.parametrize(
    ("name", "minutes", "basis", "field", "status"),
    [
        ("deliveries", "half an hour", "", "minutes", 422),
        ("deliveries", "-5", "", "minutes", 422),
        ("deliveries", "1441", "", "minutes", 422),
        ("no_such_figure", "5", "", "name", 404),
        ("deliveries", "5", "Checked for 943 476 5919 only", "basis", 422),
    ],
)
def test_a_bad_assumption_is_refused_naming_the_field(
    settings, sessions, admin, name, minutes, basis, field, status
):
    with db.session_scope(sessions) as session:
        with pytest.raises(service.BenefitsError) as refused:
            service.set_assumption(session, settings, admin, name, minutes, basis)
        assert (refused.value.field, refused.value.status) == (field, status)
        assert service.assumptions(session)[0].minutes == 20


@pytest.mark.parametrize(
    "who",
    [
        ("worcestershire-cc", Role.ig_lead),  # the host partner, but not an admin
        ("worcs-acute", Role.admin),  # an admin, of another partner
    ],
)
def test_only_the_host_partners_admins_change_assumptions(settings, sessions, who):
    with db.session_scope(sessions) as session, pytest.raises(service.BenefitsError) as refused:
        service.set_assumption(session, settings, actor(*who), "deliveries", 30)
    assert refused.value.status == 403


def test_responders_do_not_see_the_benefits():
    assert service.may_read(actor("hw-fire", Role.viewer))
    with pytest.raises(service.BenefitsError) as refused:
        service.require_reader(actor("hw-fire", Role.responder))
    assert refused.value.status == 403

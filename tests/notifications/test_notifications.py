"""Notifications: stored in-app for a membership or every member of a partner with a role,
e-mailed through a real SMTP server (aiosmtpd, started here) after the action commits, kept
when the send fails, shown with an unread count in the navigation and marked read."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.notifications import service
from civicshare.notifications.models import Notification
from civicshare.partners import service as partners
from tests.browser import free_port
from tests.conftest import sign_in
from tests.mailbox import with_smtp


def test_a_role_at_a_partner_is_notified_in_app_and_by_email(
    settings, sessions, member, smtp_server
):
    controller, inbox = smtp_server
    member("lead@county.example", {"county": ["ig_lead"]})
    member("analyst@county.example", {"county": ["analyst"]})
    member("lead@district.example", {"district": ["ig_lead"]})
    mail_settings = with_smtp(settings, controller.port)
    with db.session_scope(sessions) as session:
        made = service.notify(
            session, mail_settings, to_partner="county", role="ig_lead",
            subject="An agreement awaits your approval", body="ISA-0007 v2 was submitted.",
            link="/agreements/ISA-0007",
        )  # fmt: skip
        assert len(made) == 1
    assert service.wait_for_mail(10)
    assert [m["To"] for m in inbox.messages] == ["lead@county.example"]
    assert inbox.messages[0]["Subject"] == "An agreement awaits your approval"
    assert "/agreements/ISA-0007" in inbox.messages[0].get_payload()
    with db.session_scope(sessions) as session:
        stored = session.scalars(select(Notification)).all()
        assert [(n.membership.person.email, n.email_status) for n in stored] == [
            ("lead@county.example", service.SENT)
        ]


def test_a_rolled_back_action_emails_nobody(settings, sessions, member, smtp_server):
    controller, inbox = smtp_server
    member("lead@county.example", {"county": ["ig_lead"]})
    with pytest.raises(RuntimeError), db.session_scope(sessions) as session:
        service.notify(
            session, with_smtp(settings, controller.port), to_partner="county",
            subject="Never sent", body="", link="",
        )  # fmt: skip
        raise RuntimeError("the action failed")
    service.wait_for_mail(5)
    time.sleep(0.2)
    assert inbox.messages == []
    with db.session_scope(sessions) as session:
        assert session.scalars(select(Notification)).all() == []


def test_a_failed_send_keeps_the_notification_and_logs_no_address(
    settings, sessions, member, caplog
):
    member("lead@county.example", {"county": ["ig_lead"]})
    closed_port = free_port()  # nothing listens there
    caplog.set_level(logging.WARNING, logger="civicshare.notifications.service")
    with db.session_scope(sessions) as session:
        service.notify(
            session, with_smtp(settings, closed_port), to_partner="county",
            subject="Reminder", body="Due tomorrow", link="/enquiries",
        )  # fmt: skip
    assert service.wait_for_mail(20)
    with db.session_scope(sessions) as session:
        (stored,) = session.scalars(select(Notification)).all()
        assert stored.email_status == service.FAILED
        assert service.unread_count(session, stored.membership_id) == 1
    assert "not sent" in caplog.text
    assert "lead@county.example" not in caplog.text


def test_without_an_smtp_host_notifications_are_in_app_only(settings, sessions, member):
    member("lead@county.example", {"county": ["ig_lead"]})
    with db.session_scope(sessions) as session:
        (made,) = service.notify(
            session, settings, to_partner="county", subject="Hello", body="", link=""
        )
        assert made.email_status == service.OFF


def test_naming_nobody_or_both_is_refused(settings, sessions, member):
    member("lead@county.example", {"county": ["ig_lead"]})
    with db.session_scope(sessions) as session:
        membership = partners.get_person_by_email(session, "lead@county.example").memberships[0]
        with pytest.raises(service.NotificationError, match="either one membership"):
            service.notify(session, settings, subject="x", body="", link="")
        with pytest.raises(service.NotificationError, match="either one membership"):
            service.notify(
                session, settings, to_membership=membership, to_partner="county",
                subject="x", body="", link="",
            )  # fmt: skip


def test_the_page_lists_counts_and_marks_read_for_the_acting_membership_only(
    client, sessions, member
):
    member("dual@example.org", {"county": ["viewer"], "district": ["viewer"]})
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, "dual@example.org")
        county, district = person.memberships
        settings = client.app.state.settings
        service.notify(session, settings, to_membership=county, subject="For the county hat",
                       body="One", link="/enquiries")  # fmt: skip
        service.notify(session, settings, to_membership=county, subject="Second county one",
                       body="Two", link="")  # fmt: skip
        service.notify(session, settings, to_membership=district, subject="For the district hat",
                       body="Three", link="")  # fmt: skip
    csrf = sign_in(client, "dual@example.org", "county")
    page = client.get("/notifications")
    assert page.status_code == 200
    assert "For the county hat" in page.text and "For the district hat" not in page.text
    assert 'id="unread-count">2<' in page.text
    with db.session_scope(sessions) as session:
        mine = service.list_for(session, county_id := county.id)
        theirs = service.list_for(session, district.id)
    # Another hat's notification cannot be marked read from this one.
    refused = client.post(f"/notifications/{theirs[0].id}/read", data={"csrf_token": csrf})
    assert refused.status_code == 404
    done = client.post(
        f"/notifications/{mine[0].id}/read", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    assert 'id="unread-count">1<' in client.get("/notifications").text
    client.post("/notifications/read", data={"csrf_token": csrf})
    assert 'id="unread-count"' not in client.get("/notifications").text
    with db.session_scope(sessions) as session:
        assert service.unread_count(session, county_id) == 0
        assert service.unread_count(session, district.id) == 1

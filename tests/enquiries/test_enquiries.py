"""Members' enquiries (issue 21): routing by topic and district, hats kept apart through the
service, the pages and the API, transfers that keep their history, residents' details that
reach the team only with consent, reminders on a fixed clock, the retention purge with
evidence, the admin's CSV loads and the suppressed monthly counts. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.audit.models import AuditRecord
from civicshare.enquiries import service, upkeep
from civicshare.enquiries.errors import EnquiryError
from civicshare.enquiries.models import EnquiryTopic
from civicshare.incidents.geometry import Area
from civicshare.notifications.models import Notification
from civicshare.notifications.service import list_for as notifications_for
from civicshare.retention import service as retention
from tests.conftest import sign_in
from tests.enquiries.conftest import (
    BROMSGROVE_CASEWORK,
    BROMSGROVE_CLLR,
    CHILDREN_CASEWORK,
    COUNTY_CASEWORK,
    DUAL,
    REDDITCH,
    STREET,
    STREET_POINT,
    actor,
    token,
)

RESIDENT = service.Resident(name="Ada Quill", contact="07700 900123", address="1 Mill Lane")


def raise_one(session, settings, email, hat, topic, *, consent=False, resident=None, **where):
    where = where or {"postcode": STREET}
    return service.raise_enquiry(
        session,
        settings,
        actor(session, email, hat),
        topic=topic,
        summary=f"A resident asks about {topic} on their street",
        consent=consent,
        resident=resident,
        **where,
    )


def test_council_tax_goes_to_the_district_and_a_pothole_in_the_same_street_to_the_county(
    casework, sessions
):
    with db.session_scope(sessions) as session:
        tax = raise_one(session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "council-tax")
        pothole = raise_one(session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "highways")
        redditch = raise_one(
            session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "council-tax", postcode=REDDITCH
        )
        point = raise_one(
            session,
            casework,
            BROMSGROVE_CLLR,
            "bromsgrove-dc",
            "waste",
            easting=STREET_POINT[0],
            northing=STREET_POINT[1],
        )
        assert (tax.district, tax.routed_to.key, tax.team) == (
            "bromsgrove",
            "bromsgrove-dc",
            "Council tax",
        )
        assert (pothole.district, pothole.routed_to.key, pothole.team) == (
            "bromsgrove",
            "worcestershire-cc",
            "Highways",
        )
        assert redditch.routed_to.key == "redditch-bc"
        assert (point.district, point.routed_to.key) == ("bromsgrove", "bromsgrove-dc")
        assert tax.due_on == tax.raised_at.date() + timedelta(days=10)
        # The county's and the district's caseworkers were told, in-app.
        county = actor(session, COUNTY_CASEWORK, "worcestershire-cc")
        subjects = [n.subject for n in notifications_for(session, county.membership_id)]
        assert subjects == [f"Enquiry {pothole.reference} routed to you"]


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ({"postcode": "not a postcode"}, "postcode"),
        ({"postcode": "ZZ1 1ZZ"}, "postcode"),
        ({"postcode": ""}, "postcode"),
        ({"easting": 100.0, "northing": 100.0}, "easting"),
    ],
)
def test_a_location_that_is_not_in_the_partnership_is_refused_naming_the_field(
    casework, sessions, where, field
):
    with db.session_scope(sessions) as session, pytest.raises(EnquiryError) as refused:
        raise_one(session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "waste", **where)
    assert refused.value.field == field


def test_only_an_elected_member_raises_an_enquiry(casework, sessions):
    with db.session_scope(sessions) as session, pytest.raises(EnquiryError, match="not an elected"):
        raise_one(session, casework, COUNTY_CASEWORK, "worcestershire-cc", "waste")


def test_the_dual_hatted_councillor_sees_each_councils_enquiries_only_under_that_hat(
    casework, sessions, client
):
    with db.session_scope(sessions) as session:
        county_ref = raise_one(session, casework, DUAL, "worcestershire-cc", "highways").reference
        district_ref = raise_one(session, casework, DUAL, "bromsgrove-dc", "waste").reference
        as_county = actor(session, DUAL, "worcestershire-cc")
        as_district = actor(session, DUAL, "bromsgrove-dc")
        assert [e.reference for e in service.raised_by(session, as_county)] == [county_ref]
        assert [e.reference for e in service.raised_by(session, as_district)] == [district_ref]
        with pytest.raises(EnquiryError) as hidden:
            service.get_for(session, as_county, district_ref)
        assert hidden.value.status == 404
        with pytest.raises(EnquiryError):
            service.get_for(session, as_district, county_ref)
        # The audit log records which hat acted.
        raised = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "enquiry_raised")
        ).all()
        assert {(r.entity_id, r.membership_id) for r in raised} == {
            (county_ref, as_county.membership_id),
            (district_ref, as_district.membership_id),
        }

    # The API, with a token of each membership.
    for hat, mine, theirs in (
        ("worcestershire-cc", county_ref, district_ref),
        ("bromsgrove-dc", district_ref, county_ref),
    ):
        headers = token(sessions, DUAL, hat)
        listed = client.get("/api/enquiries", headers=headers)
        assert listed.status_code == 200
        assert [e["reference"] for e in listed.json()] == [mine]
        assert client.get(f"/api/enquiries/{mine}", headers=headers).status_code == 200
        assert client.get(f"/api/enquiries/{theirs}", headers=headers).status_code == 404

    # The pages, signed in and acting for each council in turn.
    for hat, mine, theirs, council in (
        ("worcestershire-cc", county_ref, district_ref, "Worcestershire County Council"),
        ("bromsgrove-dc", district_ref, county_ref, "Bromsgrove District Council"),
    ):
        sign_in(client, DUAL, hat)
        page = client.get("/enquiries")
        assert page.status_code == 200
        assert mine in page.text and theirs not in page.text
        assert f"You are acting as a councillor for {council}." in page.text
        assert client.get(f"/enquiries/{mine}").status_code == 200
        assert client.get(f"/enquiries/{theirs}").status_code == 404


def test_the_api_raises_an_enquiry_and_answers_with_its_reference_and_partner(
    casework, sessions, client
):
    headers = token(sessions, BROMSGROVE_CLLR, "bromsgrove-dc")
    body = {
        "topic": "council-tax",
        "summary": "Single person discount since her son left",
        "postcode": "b618da",
        "consent": True,
        "resident": {"name": "Ada Quill", "contact": "07700 900123"},
    }
    made = client.post("/api/enquiries", json=body, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["reference"] == "ENQ-0001"
    assert made.json()["routed_to"] == "bromsgrove-dc"
    assert made.json()["postcode"] == STREET
    assert made.json()["resident"]["name"] == "Ada Quill"  # the councillor sees their own
    unknown = client.post("/api/enquiries", json={**body, "topic": "parking"}, headers=headers)
    assert unknown.status_code == 400 and unknown.json()["field"] == "topic"
    read_only = token(sessions, BROMSGROVE_CLLR, "bromsgrove-dc", scopes=("enquiries:read",))
    assert client.post("/api/enquiries", json=body, headers=read_only).status_code == 403


def test_a_transfer_keeps_the_history_and_moves_who_may_see_it(casework, sessions):
    with db.session_scope(sessions) as session:
        enquiry = raise_one(session, casework, DUAL, "worcestershire-cc", "adult-social-care")
        reference = enquiry.reference
        county = actor(session, COUNTY_CASEWORK, "worcestershire-cc")
        assert [e.reference for e in service.queue_for(session, county)] == [reference]
        service.transfer(
            session,
            casework,
            county,
            enquiry,
            to_partner="worcs-children-first",
            team="Children's services front door",
            reason="The resident is 16: children's services lead on this",
        )
    with db.session_scope(sessions) as session:
        county = actor(session, COUNTY_CASEWORK, "worcestershire-cc")
        children = actor(session, CHILDREN_CASEWORK, "worcs-children-first")
        assert service.queue_for(session, county) == []
        with pytest.raises(EnquiryError):
            service.get_for(session, county, reference)
        enquiry = service.get_for(session, children, reference)
        history = service.events(session, enquiry)
        assert [e.action for e in history] == ["raised", "transferred"]
        assert history[1].details == {
            "before": {"partner": "worcestershire-cc", "team": "Adult social care front door"},
            "after": {"partner": "worcs-children-first", "team": "Children's services front door"},
        }
        assert history[1].membership_id == county.membership_id
        # The children's trust answers within its own service level (5 days).
        assert enquiry.due_on == date.today() + timedelta(days=5)
        service.answer(session, casework, children, enquiry, "A social worker will call on Monday")
        councillor = actor(session, DUAL, "worcestershire-cc")
        seen = service.get_for(session, councillor, reference)
        assert (seen.status.value, seen.answer) == (
            "answered",
            "A social worker will call on Monday",
        )
        subjects = [n.subject for n in notifications_for(session, councillor.membership_id)]
        assert f"Enquiry {reference} answered" in subjects
        assert any("transferred to Worcestershire Children First" in s for s in subjects)


def test_without_consent_no_resident_detail_reaches_the_team(casework, sessions, client):
    with db.session_scope(sessions) as session:
        withheld = raise_one(
            session,
            casework,
            BROMSGROVE_CLLR,
            "bromsgrove-dc",
            "housing",
            consent=False,
            resident=RESIDENT,
        ).reference
        shared = raise_one(
            session,
            casework,
            BROMSGROVE_CLLR,
            "bromsgrove-dc",
            "housing",
            consent=True,
            resident=RESIDENT,
        ).reference
        stored = service.get_enquiry(session, withheld)
        # Sealed at rest: the name is not in the stored bytes.
        assert b"Ada Quill" not in base64.b64decode(stored.resident_sealed)
        team = actor(session, BROMSGROVE_CASEWORK, "bromsgrove-dc")
        assert service.resident_for(casework, team, stored) is None
        assert (
            service.resident_for(casework, team, service.get_enquiry(session, shared)) == RESIDENT
        )
        assert (
            service.resident_for(casework, actor(session, BROMSGROVE_CLLR, "bromsgrove-dc"), stored)
            == RESIDENT
        )
        notices = session.scalars(select(Notification)).all()
        assert notices and not any("Ada" in n.subject + n.body for n in notices)

    headers = token(sessions, BROMSGROVE_CASEWORK, "bromsgrove-dc")
    by_api = {e["reference"]: e for e in client.get("/api/enquiries", headers=headers).json()}
    assert by_api[withheld]["resident"] is None
    assert by_api[shared]["resident"]["name"] == "Ada Quill"
    assert "Ada Quill" not in client.get(f"/api/enquiries/{withheld}", headers=headers).text

    sign_in(client, BROMSGROVE_CASEWORK, "bromsgrove-dc")
    page = client.get(f"/enquiries/{withheld}")
    assert page.status_code == 200
    assert "Ada Quill" not in page.text and "07700 900123" not in page.text
    assert "The resident did not consent" in page.text
    assert "Ada Quill" in client.get(f"/enquiries/{shared}").text


def test_ask_for_more_then_reply_then_answer_on_the_pages(casework, sessions, client):
    with db.session_scope(sessions) as session:
        reference = raise_one(
            session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "waste"
        ).reference
    csrf = sign_in(client, BROMSGROVE_CASEWORK, "bromsgrove-dc")
    short = client.post(f"/enquiries/{reference}/answer", data={"answer": "ok", "csrf_token": csrf})
    assert short.status_code == 400 and 'href="#answer"' in short.text
    asked = client.post(
        f"/enquiries/{reference}/ask",
        data={"question": "Which collection day was missed?", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    csrf = sign_in(client, BROMSGROVE_CLLR, "bromsgrove-dc")
    page = client.get(f"/enquiries/{reference}")
    assert "The team needs more information" in page.text
    client.post(f"/enquiries/{reference}/reply", data={"reply": "Tuesday", "csrf_token": csrf})
    csrf = sign_in(client, BROMSGROVE_CASEWORK, "bromsgrove-dc")
    client.post(
        f"/enquiries/{reference}/answer",
        data={"answer": "The crew will return on Thursday", "csrf_token": csrf},
    )
    with db.session_scope(sessions) as session:
        enquiry = service.get_enquiry(session, reference)
        assert enquiry.status.value == "answered"
        assert [e.action for e in service.events(session, enquiry)] == [
            "raised",
            "asked_for_more",
            "replied",
            "answered",
        ]


def test_reminders_go_once_before_and_once_after_the_due_date(casework, sessions):
    raised_at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    with db.session_scope(sessions) as session:
        enquiry = service.raise_enquiry(
            session,
            casework,
            actor(session, BROMSGROVE_CLLR, "bromsgrove-dc"),
            topic="planning",
            summary="An extension built past the agreed line",
            postcode=STREET,
            consent=False,
            now=raised_at,
        )
        reference, due = enquiry.reference, enquiry.due_on
    assert due == date(2026, 3, 12)
    for today, before, after in (
        (date(2026, 3, 9), [], []),  # three days before: too early
        (date(2026, 3, 10), [reference], []),
        (date(2026, 3, 11), [], []),  # already reminded
        (date(2026, 3, 12), [], []),  # due today: not yet late
        (date(2026, 3, 13), [], [reference]),
        (date(2026, 3, 20), [], []),
    ):
        with db.session_scope(sessions) as session:
            done = upkeep.remind(session, casework, today)
        assert (done.before, done.after) == (before, after), today
    with db.session_scope(sessions) as session:
        team = actor(session, BROMSGROVE_CASEWORK, "bromsgrove-dc")
        councillor = actor(session, BROMSGROVE_CLLR, "bromsgrove-dc")
        assert [n.subject for n in notifications_for(session, team.membership_id)] == [
            f"Enquiry {reference} is overdue (due 12 March 2026)",
            f"Enquiry {reference} is due on 12 March 2026",
            f"Enquiry {reference} routed to you",
        ]
        assert [n.subject for n in notifications_for(session, councillor.membership_id)] == [
            f"Enquiry {reference} is overdue (due 12 March 2026)"
        ]


def test_the_scheduled_reminders_send_each_once(casework, sessions):
    """The gateway's reminders schedule (``reminders_interval_minutes``) sends what is due."""
    from civicshare.app import send_reminders

    with db.session_scope(sessions) as session:
        month_ago = datetime.now(UTC) - timedelta(days=30)
        enquiry = raise_one(session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "planning",
                            postcode=STREET, now=month_ago)  # fmt: skip
        reference = enquiry.reference
    overdue = f"Enquiry {reference} is overdue"

    def told() -> int:
        with db.session_scope(sessions) as session:
            councillor = actor(session, BROMSGROVE_CLLR, "bromsgrove-dc")
            subjects = [n.subject for n in notifications_for(session, councillor.membership_id)]
        return sum(subject.startswith(overdue) for subject in subjects)

    assert told() == 0
    send_reminders(sessions, casework)
    assert told() == 1
    send_reminders(sessions, casework)
    assert told() == 1


def test_retention_purges_resident_details_with_evidence(casework, sessions):
    with db.session_scope(sessions) as session:
        enquiry = raise_one(
            session,
            casework,
            BROMSGROVE_CLLR,
            "bromsgrove-dc",
            "housing",
            consent=True,
            resident=RESIDENT,
        )
        service.answer(
            session,
            casework,
            actor(session, BROMSGROVE_CASEWORK, "bromsgrove-dc"),
            enquiry,
            "Placed on the housing register in band B",
        )
        reference = enquiry.reference
        sealed = base64.b64decode(enquiry.resident_sealed)
    due = date.today() + timedelta(days=upkeep.RESIDENT_RETENTION_DAYS)
    with db.session_scope(sessions) as session:
        assert (
            retention.run(session, casework, today=due - timedelta(days=1)).resident_details == []
        )
        dry = retention.run(session, casework, today=due, dry_run=True)
        assert [p.reference for p in dry.resident_details] == [reference]
    with db.session_scope(sessions) as session:
        assert service.get_enquiry(session, reference).resident_sealed is not None
        report = retention.run(session, casework, today=due)
    assert report.counts()["resident_details"] == 1 and report.errors == []
    with db.session_scope(sessions) as session:
        enquiry = service.get_enquiry(session, reference)
        assert enquiry.resident_sealed is None and enquiry.resident_key is None
        assert enquiry.resident_purged_at is not None
        assert enquiry.answer == "Placed on the housing register in band B"  # the case stays
        councillor = actor(session, BROMSGROVE_CLLR, "bromsgrove-dc")
        assert service.resident_for(casework, councillor, enquiry) is None
        (record,) = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "enquiry_resident_details_purged")
        ).all()
        import hashlib

        assert record.details["sealed_sha256"] == hashlib.sha256(sealed).hexdigest()
        assert record.details["bytes"] == len(sealed)
        assert record.details["due_on"] == due.isoformat()
        assert service.events(session, enquiry)[-1].action == "resident_details_purged"
        # A second run finds nothing more to do.
    with db.session_scope(sessions) as session:
        assert retention.run(session, casework, today=due).resident_details == []


def test_a_bad_routing_row_refuses_the_whole_file_naming_row_and_field(casework, sessions):
    text = (
        "topic,district,partner,team\nwaste,bromsgrove,worcestershire-cc,Waste\n"
        "waste,redditch,nobody,Waste\n"
    )
    with db.session_scope(sessions) as session:
        before = [(r.topic.key, r.district, r.partner.key) for r in service.routes(session)]
        rows = service.read_csv(text, ("topic", "district", "partner", "team"))
        with pytest.raises(EnquiryError, match=r"^Row 3, partner: 'nobody' is not a partner"):
            service.load_routes(session, rows)
    with db.session_scope(sessions) as session:
        after = [(r.topic.key, r.district, r.partner.key) for r in service.routes(session)]
    assert after == before  # the good first row was not stored either
    with db.session_scope(sessions) as session, pytest.raises(EnquiryError, match="Row 2, key"):
        service.load_topics(session, [{"key": "Parking!", "name": "Parking"}])
    with db.session_scope(sessions) as session:
        loaded = service.load_topics(session, [{"key": "parking", "name": "Parking"}])
        assert (loaded.added, loaded.changed) == (1, 0)
        assert session.scalars(select(EnquiryTopic).where(EnquiryTopic.key == "parking")).one()


def test_monthly_counts_are_suppressed(casework, sessions):
    with db.session_scope(sessions) as session:
        for _ in range(9):
            raise_one(session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "waste")
        raise_one(session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "highways")
        rows = upkeep.monthly_counts(session)
    counts = {(r.topic, r.partner, r.time_to_answer): r.count for r in rows}
    assert counts == {
        ("Waste and recycling", "Bromsgrove District Council", "not answered"): "10",
        ("Highways (roads and pavements)", "Worcestershire County Council", "not answered"): "*",
    }


def test_what_other_services_know_here_lists_open_incidents_within_100_m(
    casework, sessions, monkeypatch
):
    from civicshare.incidents import service as incidents

    x, y = STREET_POINT
    fire = SimpleNamespace(
        reference="INC-0001",
        title="House fire, Mill Lane",
        status=SimpleNamespace(value="open"),
        area=Area.circle(x + 150, y, 60),
    )
    far = SimpleNamespace(
        reference="INC-0002",
        title="Flood, Red Row",
        status=SimpleNamespace(value="open"),
        area=Area.circle(x + 500, y, 60),
    )
    closed = SimpleNamespace(
        reference="INC-0003",
        title="Gas leak",
        status=SimpleNamespace(value="closed"),
        area=Area.circle(x, y, 50),
    )
    monkeypatch.setattr(incidents, "list_for", lambda session, actor: [fire, far, closed])
    monkeypatch.setattr(incidents, "area_of", lambda incident: incident.area)
    with db.session_scope(sessions) as session:
        enquiry = raise_one(
            session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "waste", easting=x, northing=y
        )
        known = service.known_here(
            session, casework, actor(session, BROMSGROVE_CLLR, "bromsgrove-dc"), enquiry
        )
    assert [(k.reference, k.distance_m) for k in known] == [("INC-0001", 90)]


def test_planned_road_works_within_100_m_are_known_here(casework, sessions, monkeypatch):
    """As the public roadworks map shows them: near, not over, nearest first."""
    from datetime import date, timedelta

    from civicshare.works import engine, files
    from civicshare.works import service as works

    x, y = STREET_POINT
    soon, over = date.today() + timedelta(days=3), date.today() - timedelta(days=1)

    def row(reference, dx, end):
        return {
            "work_reference_number": reference, "promoter": "Mercia Water", "usrn": 1,
            "street_name": "Mill Lane", "works_category": "minor", "activity_type": "Leak repair",
            "traffic_management_type": "give_and_take",
            "proposed_start_date": over - timedelta(days=5), "proposed_end_date": end,
            "works_location_wkt": f"POINT ({x + dx} {y})",
            "excavation": "yes", "traffic_sensitive": "no",
        }  # fmt: skip

    read = files.works_from_rows(
        [row("MW-NEAR", 60, soon), row("MW-FAR", 140, soon), row("MW-OVER", 20, over)]
    )
    promoters = {w.work_reference_number: "mercia-water" for w in read.works}
    programme = works.Programme(
        engine.coordinate(read.works), promoters, {"mercia-water": "Mercia Water"}, []
    )
    monkeypatch.setattr(works, "public_programme", lambda session, settings: programme)
    with db.session_scope(sessions) as session:
        enquiry = raise_one(
            session, casework, BROMSGROVE_CLLR, "bromsgrove-dc", "waste", easting=x, northing=y
        )
        known = service.known_here(
            session, casework, actor(session, BROMSGROVE_CLLR, "bromsgrove-dc"), enquiry
        )
    assert [(k.service, k.reference, k.distance_m) for k in known] == [("works", "MW-NEAR", 60)]
    assert "Leak repair on Mill Lane by Mercia Water" in known[0].title


def test_the_members_enquiries_agreement_template_states_basis_consent_and_retention():
    from civicshare.agreements import library

    template = library.get("members-enquiries")
    assert template.fields["article6"] == "e"
    assert "consent" in template.fields["necessity"]
    assert "12 months" in template.fields["retention"]
    assert upkeep.RESIDENT_RETENTION_DAYS == 365


def test_the_teams_email_carries_no_resident_detail(casework, sessions):
    from aiosmtpd.controller import Controller

    from civicshare.notifications import service as notifications
    from tests.browser import free_port
    from tests.mailbox import Inbox

    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        mailing = casework.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": server.port})
        with db.session_scope(sessions) as session:
            reference = raise_one(
                session,
                mailing,
                BROMSGROVE_CLLR,
                "bromsgrove-dc",
                "housing",
                consent=False,
                resident=RESIDENT,
            ).reference
        assert notifications.wait_for_mail(10)
    finally:
        server.stop()
    (mail,) = inbox.messages
    assert mail["To"] == BROMSGROVE_CASEWORK
    assert mail["Subject"] == f"Enquiry {reference} routed to you"
    text = mail.as_string()
    assert f"/enquiries/{reference}" in text
    for detail in ("Ada Quill", "07700 900123", "1 Mill Lane"):
        assert detail not in text


def test_nul_characters_and_odd_references_are_refused_before_the_store(casework, sessions):
    with db.session_scope(sessions) as session:
        councillor = actor(session, BROMSGROVE_CLLR, "bromsgrove-dc")
        with pytest.raises(EnquiryError) as refused:
            service.raise_enquiry(
                session,
                casework,
                councillor,
                topic="waste\x00",
                summary="Bins missed again",
                postcode=STREET,
                consent=False,
            )
        assert refused.value.field == "topic"
        with pytest.raises(EnquiryError) as refused:
            service.raise_enquiry(
                session,
                casework,
                councillor,
                topic="waste",
                summary="Bins missed\x00 again",
                postcode=STREET,
                consent=False,
            )
        assert refused.value.field == "summary"
        with pytest.raises(EnquiryError) as missing:
            service.get_for(session, councillor, "ENQ-\x00")
        assert missing.value.status == 404

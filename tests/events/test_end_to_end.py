"""End to end: death registrations in the synthetic county reach exactly the partners that hold
the person and have an agreement, through real local webhook receivers that verify every
signature; a receiver that is down gets its notifications once it is back; a replayed delivery
is not applied twice. Then the publishing rules: bad rows named by row and field with nothing
stored, an entry published again unchanged is not a new event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from civicshare import db
from civicshare.agreements import service as agreements
from civicshare.datasets import service as datasets
from civicshare.db import utcnow
from civicshare.events import files, inbox, outbox, service
from civicshare.events import keys as event_keys
from civicshare.events.models import (
    DeliveryAttempt,
    DeliveryStatus,
    EventNotification,
    LifeEvent,
    MatchStatus,
)
from civicshare.events.receiver import ReceiverServer
from civicshare.synthetic import registrations
from tests.events.conftest import ADMIN, REGISTRAR, acting

PROVIDER = "worcestershire-cc"
NOT_A_PARTY = "mercia-water"  # holds residents (its priority services register), no agreement


def agreement_recipients(session) -> set[str]:
    for version in agreements.active_versions(session):
        if service.PURPOSE in version.purpose_codes():
            return {p.partner.key for p in version.parties if p.role.receives}
    raise AssertionError("the demo has no active death notification agreement")


def held_sources(session) -> set[str]:
    """The datasets the gateway holds ("partner/dataset"): council tax and the electoral
    register, without dates of birth, included (the person index attaches them by household)."""
    return {
        f"{row.partner_key}/{row.dataset.name}"
        for row in datasets.list_datasets(session)
        if row.current_version is not None
    }


@pytest.fixture(scope="module")
def deaths(county):
    """Four living residents who each hold records with a party and with Mercia Water."""
    where = county.data_dir / "synthetic"
    candidates = registrations.living_residents(where, 200, seed=3)
    truth = registrations.holders(where, {p["person_id"] for p in candidates})
    chosen = [
        p
        for p in candidates
        if NOT_A_PARTY in truth.get(p["person_id"], {})
        and "hw-icb" in truth.get(p["person_id"], {})
    ][:4]
    assert len(chosen) == 4
    body, entries = registrations.death_registrations(where, chosen, first_entry=910_001)
    return body, entries, truth


def test_deaths_reach_exactly_the_partners_that_hold_the_person(county, county_sessions, deaths):
    body, entries, truth = deaths
    receivers: dict[str, ReceiverServer] = {}
    with db.session_scope(county_sessions) as session:
        parties = agreement_recipients(session)
        held = held_sources(session)
        for partner in sorted(parties | {NOT_A_PARTY}):
            if partner == PROVIDER:
                continue
            receiver = ReceiverServer({}, window_seconds=300).start()
            _, key = event_keys.set_endpoint(session, county, None, partner, receiver.url)
            receiver.receiver.keys[key[0]] = key[1].encode()
            receivers[partner] = receiver
        published = service.publish(
            session, county, acting(session, REGISTRAR), body, file_name="deaths.csv", via="cli"
        )
        assert {e.reference for e in published.events} == set(entries)
        assert [e.status for e in published.events] == [MatchStatus.matched] * len(entries)
        # Some of these people have records the index is unsure of: those partners wait.
        waiting_review = [e for e in published.events if e.awaiting_review]
        assert waiting_review
        before_review = sum(len(e.notifications) for e in published.events)
        assert registrations.review_by_truth(
            session,
            county,
            {e.person_key for e in waiting_review},
            entries,
            acting(session, ADMIN),
        )
    try:
        down = receivers["hw-icb"]
        down.stop()  # the ICB's receiver is down when the worker first runs
        now = utcnow()
        with db.session_scope(county_sessions) as session:
            first = outbox.deliver_due(session, county, now)
        # What the reviewer's decisions release depends on whose records were uncertain (a
        # non-party's accepted record releases nothing); the count must match what was made,
        # and the exact recipients are checked against the truth below.
        assert first.failed >= 1 and first.delivered >= 1
        with db.session_scope(county_sessions) as session:
            made = session.scalar(select(func.count()).select_from(EventNotification))
            assert made == before_review + first.released
        assert down.applied == []
        with db.session_scope(county_sessions) as session:
            waiting = session.scalars(
                select(EventNotification).where(EventNotification.recipient == "hw-icb")
            ).all()
            assert waiting and all(n.status == DeliveryStatus.pending for n in waiting)
            # Only the first of the ICB's line was tried: the rest wait behind it, in order.
            assert sorted(n.attempts for n in waiting) == [0] * (len(waiting) - 1) + [1]
            # Released by the first pass's re-check after `now`: sent by the next pass.
            pending = session.scalar(
                select(func.count()).where(EventNotification.status == DeliveryStatus.pending)
            )
            assert pending >= len(waiting)
        down.start()  # back on the same port
        with db.session_scope(county_sessions) as session:
            second = outbox.deliver_due(session, county, now + timedelta(hours=2))
        assert second.delivered == pending and second.failed == 0

        # Exactly the partners that hold each person (truth), are parties, and whose dataset
        # the gateway holds (council tax and electors included): each told once, of its own
        # records only.
        told: dict[str, set[str]] = {}
        for partner, receiver in receivers.items():
            assert receiver.refused == [], partner  # every signature verified
            for payload in receiver.applied:
                told.setdefault(payload["event"]["reference"], set()).add(partner)
                assert payload["recipient"] == partner
                assert set(payload) == {
                    "delivery_id", "type", "provider", "recipient", "sequence", "agreement",
                    "event", "records", "published_at",
                }  # fmt: skip
                assert set(payload["event"]) == {"reference", "date_of_death"}
                person = entries[payload["event"]["reference"]]
                for record in payload["records"]:
                    assert record["dataset"] in truth[person][partner]
        assert receivers[NOT_A_PARTY].applied == []
        missing = {}
        for reference, person in entries.items():
            expected = {
                partner
                for partner, names in truth[person].items()
                if partner in parties
                and partner != PROVIDER
                and any(
                    f"{partner}/{name}" in held for name in names if name != "death-registrations"
                )
            }
            told_here = told.get(reference, set())
            assert told_here <= expected, reference  # never a partner that does not hold them
            if expected - told_here:
                missing[reference] = sorted(expected - told_here)
        # Per recipient, applied in sequence order.
        sequences = [p["sequence"] for p in receivers["hw-icb"].applied]
        assert sequences == sorted(sequences)

        # An admin's replay of a delivered notification: sent again with the same delivery
        # id, which the receiver refuses to apply twice.
        with db.session_scope(county_sessions) as session:
            admin = acting(session, ADMIN)
            target = session.scalars(
                select(EventNotification).where(EventNotification.recipient == "hw-icb")
            ).first()
            before = len(down.applied)
            inbox.replay(session, county, admin, target.id)
            attempts = session.scalar(
                select(func.count()).where(DeliveryAttempt.notification_id == target.id)
            )
        assert len(down.applied) == before
        assert down.refused == ["replay"]
        assert attempts == 3  # down, delivered, replayed
    finally:
        for receiver in receivers.values():
            receiver.stop()
    # Every partner that holds the person is told: records beyond the death's direct links
    # (a fire visit linked to the person's GP record, not to the death) went to the reviewer
    # and were told on acceptance.
    assert missing == {}


def test_bad_rows_are_named_by_row_and_field_and_nothing_is_stored(county, county_sessions):
    header = ",".join(registrations.COLUMNS)
    good = "D920001,Ann,SMITH,,Female,3 March 1940,1 April 2026,home,1 High St,WR1 2AB,,03/04/2026"
    bad_date = "D920002,Bob,JONES,,Male,3 March 1941,31 February 2026,home,,WR1 2AB,,"
    no_surname = "D920003,Cy,,,Male,4 March 1942,2 April 2026,home,,WR1 2AB,,"
    data = "\n".join([header, good, bad_date, no_surname, good.replace("Ann", "Anne")]) + "\n"
    with db.session_scope(county_sessions) as session:
        before = datasets.current_snapshot(session, PROVIDER, "death-registrations").version
        events_before = session.scalar(select(func.count()).select_from(LifeEvent))
        with pytest.raises(files.RegistrationFileError) as refused:
            service.publish(session, county, acting(session, REGISTRAR), data.encode())
    problems = refused.value.problems
    assert "row 2, date_of_death: is not a date in the format %d %B %Y" in problems
    assert "row 3, deceased_surname: is required but blank" in problems
    assert "row 4, entry_number: repeats the entry of row 1" in problems
    assert "SMITH" not in str(refused.value) and "Bob" not in str(refused.value)
    with db.session_scope(county_sessions) as session:
        after = datasets.current_snapshot(session, PROVIDER, "death-registrations").version
        assert after == before
        assert session.scalar(select(func.count()).select_from(LifeEvent)) == events_before


def test_an_entry_published_again_unchanged_is_not_a_new_event(county, county_sessions, deaths):
    body, entries, _ = deaths
    with db.session_scope(county_sessions) as session:
        actor = acting(session, REGISTRAR)
        service.publish(session, county, actor, body)  # a no-op when the first test ran
        again = service.publish(session, county, actor, body)
        assert again.events == [] and again.unchanged == len(entries)
        # The same entry with another date of death is refused: published entries do not change.
        lines = body.decode().splitlines()
        changed = lines[1].replace("1 April 2026", "2 April 2026")
        with pytest.raises(files.RegistrationFileError) as refused:
            service.publish(session, county, actor, (lines[0] + "\n" + changed + "\n").encode())
        assert "row 1, date_of_death: entry" in str(refused.value)

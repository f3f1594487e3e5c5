"""The outbox on SQLite and PostgreSQL, with the clock injected: per-recipient order, back-off
with full jitter, dead letters that no longer hold the line, replay, key rotation, secrets
encrypted at rest, and every attempt audited."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from civicshare import db
from civicshare.audit.models import AuditRecord
from civicshare.events import inbox, keys, outbox
from civicshare.events.models import (
    DeliveryStatus,
    EventKey,
    EventNotification,
    EventType,
    KeyKind,
    LifeEvent,
    MatchStatus,
)
from civicshare.events.receiver import Receiver, ReceiverServer, sign

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def closed_port() -> socket.socket:
    """A port bound but not listening: connections are refused, and no other test (another
    worker) can be given it until the socket is closed."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    return holder


@pytest.fixture
def quick(settings):
    return settings.model_copy(
        update={
            "events_max_attempts": 3,
            "events_retry_base_seconds": 2,
            "events_timeout_seconds": 2,
        }
    )


def outbox_rows(session, recipients: dict[str, int]) -> None:
    """One event per sequence number, told to each recipient `count` times in order."""
    for recipient, count in recipients.items():
        for sequence in range(1, count + 1):
            event = LifeEvent(
                reference=f"D{recipient[:3]}{sequence}",
                event_type=EventType.death,
                provider="worcestershire-cc",
                dataset="death-registrations",
                snapshot_version=1,
                status=MatchStatus.matched,
            )
            session.add(event)
            session.add(
                EventNotification(
                    event=event,
                    recipient=recipient,
                    sequence=sequence,
                    delivery_id=f"{recipient}-{sequence}",
                    agreement="ISA-0001",
                    payload={"delivery_id": f"{recipient}-{sequence}", "sequence": sequence},
                    next_attempt_at=NOW,
                )
            )


def statuses(session, recipient):
    rows = session.scalars(
        select(EventNotification)
        .where(EventNotification.recipient == recipient)
        .order_by(EventNotification.sequence)
    ).all()
    return [(n.status.value, n.attempts) for n in rows]


def test_order_back_off_dead_letters_and_replay(quick, sessions):
    up = ReceiverServer({}).start()
    holder = closed_port()  # nothing listens here
    down_port = holder.getsockname()[1]
    try:
        with db.session_scope(sessions) as session:
            _, key = keys.set_endpoint(session, quick, None, "hw-icb", up.url)
            up.receiver.keys[key[0]] = key[1]
            keys.set_endpoint(session, quick, None, "worcs-acute", f"http://127.0.0.1:{down_port}/")
            outbox_rows(session, {"hw-icb": 3, "worcs-acute": 2})
        with db.session_scope(sessions) as session:
            tick = outbox.deliver_due(session, quick, NOW, rng=lambda: 1.0, release_held=False)
            assert (tick.delivered, tick.failed) == (3, 1)
            assert [p["sequence"] for p in up.applied] == [1, 2, 3]
            # The acute trust's second waits behind its first, which waits out its back-off.
            assert statuses(session, "worcs-acute") == [("pending", 1), ("pending", 0)]
            first = session.scalars(
                select(EventNotification).where(EventNotification.delivery_id == "worcs-acute-1")
            ).one()
            assert first.next_attempt_at.replace(tzinfo=UTC) == NOW + timedelta(seconds=2)
            assert "ConnectError" in first.last_error
        with db.session_scope(sessions) as session:
            early = outbox.deliver_due(
                session, quick, NOW + timedelta(seconds=1), release_held=False
            )
            assert early.attempted == 0
        with db.session_scope(sessions) as session:
            # Full jitter: the back-off is the random fraction of 2 x 2^(attempt-1) seconds.
            outbox.deliver_due(
                session, quick, NOW + timedelta(seconds=2), rng=lambda: 0.25, release_held=False
            )
            first = session.get(EventNotification, first.id)
            expected = NOW + timedelta(seconds=2) + timedelta(seconds=0.25 * 4)
            assert first.next_attempt_at.replace(tzinfo=UTC) == expected
        with db.session_scope(sessions) as session:
            third = outbox.deliver_due(session, quick, NOW + timedelta(hours=1), release_held=False)
            assert third.dead == 1  # the third attempt was the last
        with db.session_scope(sessions) as session:
            # The dead letter no longer holds the line: the second is tried.
            outbox.deliver_due(session, quick, NOW + timedelta(hours=2), release_held=False)
            assert statuses(session, "worcs-acute") == [("dead", 3), ("pending", 1)]
            attempts = session.scalar(
                select(func.count())
                .select_from(AuditRecord)
                .where(AuditRecord.action == "events.delivery_attempt")
            )
            assert attempts == 3 + 4  # every attempt audited
        # The trust's receiver comes up; an operator replays the dead letter.
        holder.close()
        late = ReceiverServer({}, port=down_port).start()
        try:
            with db.session_scope(sessions) as session:
                for kid, secret in keys.active_keys(session, quick, "worcs-acute", KeyKind.webhook):
                    late.receiver.keys[kid] = secret
                row = inbox.replay(session, quick, None, first.id)
                assert row.status == DeliveryStatus.delivered and row.attempts == 4
                again = inbox.replay(session, quick, None, first.id)
                assert again.status == DeliveryStatus.delivered
            assert [p["delivery_id"] for p in late.applied] == ["worcs-acute-1"]
            assert late.refused == ["replay"]  # the second replay: not applied twice
        finally:
            late.stop()
    finally:
        holder.close()
        up.stop()


def test_a_rotated_key_signs_beside_the_old_one_until_it_retires(settings, sessions):
    body = b'{"delivery_id": "d-9"}'
    with db.session_scope(sessions) as session:
        old_id, old_secret = keys.rotate(
            session, settings, None, "hw-icb", KeyKind.webhook, now=NOW
        )
        new_id, new_secret = keys.rotate(
            session, settings, None, "hw-icb", KeyKind.webhook, overlap=timedelta(hours=24), now=NOW
        )
        during = keys.active_keys(
            session, settings, "hw-icb", KeyKind.webhook, NOW + timedelta(hours=1)
        )
        after = keys.active_keys(
            session, settings, "hw-icb", KeyKind.webhook, NOW + timedelta(hours=25)
        )
        stored = session.scalars(select(EventKey.secret_encrypted)).all()
    assert [kid for kid, _ in during] == [new_id, old_id]
    assert [kid for kid, _ in after] == [new_id]
    assert all(old_secret not in s and new_secret not in s for s in stored)  # encrypted at rest
    old_receiver = Receiver({old_id: old_secret})
    now = NOW.timestamp()
    assert old_receiver.verify(sign(body, "d-9", during, timestamp=int(now)), body, now=now)
    headers = sign(body, "d-10", after, timestamp=int(now))
    with pytest.raises(Exception, match="no key this receiver holds"):
        old_receiver.verify(headers, body, now=now)
    assert Receiver({new_id: new_secret}).verify(headers, body, now=now)


def test_a_webhook_must_be_https_except_to_this_machine(settings, sessions):
    with db.session_scope(sessions) as session:
        with pytest.raises(keys.EndpointError, match="https"):
            keys.set_endpoint(session, settings, None, "hw-icb", "http://partner.example/hook")
        row, made = keys.set_endpoint(
            session, settings, None, "hw-icb", "https://partner.example/h"
        )
        assert row.url == "https://partner.example/h" and made[0].startswith("k_")
        _, again = keys.set_endpoint(session, settings, None, "hw-icb", "https://partner.example/2")
        assert again is None  # the key stays; only the first endpoint makes one


def test_the_server_delivers_on_its_own_when_the_setting_says(settings, sessions):
    import time

    from fastapi.testclient import TestClient

    from civicshare.app import create_app

    serving = settings.model_copy(update={"events_deliver_seconds": 0.2})
    with ReceiverServer({}) as receiver:
        with db.session_scope(sessions) as session:
            _, key = keys.set_endpoint(session, serving, None, "hw-icb", receiver.url)
            receiver.receiver.keys[key[0]] = key[1]
            outbox_rows(session, {"hw-icb": 2})
        with TestClient(create_app(serving)):
            deadline = time.monotonic() + 20
            while len(receiver.applied) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
    assert [p["sequence"] for p in receiver.applied] == [1, 2]

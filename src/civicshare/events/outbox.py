"""The delivery worker: the outbox's due notifications POSTed to each recipient's webhook.

Notifications are written in the same transaction as their event (service.publish); this
worker runs after commit (`civicshare events deliver [--loop]`, or the server's background
thread). Per recipient it sends in sequence order and stops at the first failure, so a later
notification never overtakes an earlier one that is still being retried. A failure is retried
after an exponential back-off with full jitter (a random delay between 0 and
min(max, base x 2^(attempt-1))); after the last attempt the notification is dead-lettered,
leaves the line (later ones go on) and waits for an admin's replay. Recipients are sent to in
parallel; the store is written from the calling thread only. Every attempt is a stored row and
an audit record (no payload in it).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx2
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.db import transaction_lock, utcnow
from civicshare.events import keys as event_keys
from civicshare.events.models import DeliveryAttempt, DeliveryStatus, EventNotification, KeyKind
from civicshare.events.receiver import sign

BATCH_PER_RECIPIENT = 500
# The advisory lock's first key ("outb"): one deliverer at a time across processes.
DELIVERER_LOCK_SPACE = 0x6F757462
MAX_THREADS = 8


@dataclass
class Tick:
    """What one pass of the worker did."""

    attempted: int = 0
    delivered: int = 0
    failed: int = 0  # will be retried
    dead: int = 0
    released: int = 0  # notifications made for events a review decision released
    busy: bool = False  # another process was delivering: this pass did nothing
    waiting: dict[str, int] = field(default_factory=dict)  # recipient -> pending left


@dataclass
class _Sent:
    notification_id: int
    status_code: int | None
    error: str | None
    duration_ms: float
    key_ids: str
    at: datetime

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def body_of(notification: EventNotification) -> bytes:
    """The exact bytes sent: the stored payload, compact and in key order."""
    return json.dumps(notification.payload, sort_keys=True, separators=(",", ":")).encode()


def back_off(settings: Settings, attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th failure: full jitter over the exponential."""
    ceiling = min(
        settings.events_retry_max_seconds, settings.events_retry_base_seconds * 2 ** (attempts - 1)
    )
    return rng() * ceiling


def _post(client, url: str, notification_id: int, body: bytes, delivery_id: str, signing) -> _Sent:
    started = time.perf_counter()
    at = utcnow()
    headers = sign(body, delivery_id, signing)
    key_ids = ",".join(kid for kid, _ in signing)
    try:
        response = client.post(url, content=body, headers=headers)
        code, error = response.status_code, None
        if not 200 <= code < 300:
            error = f"HTTP {code}"
    except httpx2.HTTPError as failure:
        code, error = None, f"{type(failure).__name__}: {failure}"[:500]
    return _Sent(notification_id, code, error, (time.perf_counter() - started) * 1000, key_ids, at)


def _send_line(settings: Settings, url: str, line: list[tuple[int, bytes, str]], signing):
    """POST one recipient's due notifications in order, stopping at the first failure."""
    results = []
    with httpx2.Client(timeout=settings.events_timeout_seconds, follow_redirects=False) as client:
        for notification_id, body, delivery_id in line:
            sent = _post(client, url, notification_id, body, delivery_id, signing)
            results.append(sent)
            if not sent.ok:
                break
    return results


def due_lines(session: Session, now: datetime) -> dict[str, list[EventNotification]]:
    """Per recipient with a webhook: its pending notifications in sequence order, when the first
    is due (a recipient whose first is waiting out its back-off has none due)."""
    urls = event_keys.endpoints(session)
    if not urls:
        return {}
    rows = session.scalars(
        select(EventNotification)
        .where(
            EventNotification.status == DeliveryStatus.pending,
            EventNotification.recipient.in_(list(urls)),
        )
        .order_by(EventNotification.recipient, EventNotification.sequence)
    ).all()
    lines: dict[str, list[EventNotification]] = {}
    for row in rows:
        lines.setdefault(row.recipient, []).append(row)
    return {
        recipient: line[:BATCH_PER_RECIPIENT]
        for recipient, line in lines.items()
        if _as_utc(line[0].next_attempt_at) <= now
    }


def deliver_due(
    session: Session,
    settings: Settings,
    now: datetime | None = None,
    *,
    rng: Callable[[], float] = random.random,
    release_held: bool = True,
) -> Tick:
    """One pass: release held events whose review was decided, then send what is due. The
    caller commits."""
    tick = Tick()
    if not transaction_lock(session, settings.data_dir, DELIVERER_LOCK_SPACE, 0, wait=False):
        tick.busy = True  # two deliverers would send a line twice, or out of order
        return tick
    if release_held:
        from civicshare.events import service

        tick.released = service.recheck_held(session, settings)
    now = now or utcnow()
    lines = due_lines(session, now)
    if not lines:
        return tick
    urls = event_keys.endpoints(session)
    work = []
    for recipient, line in lines.items():
        signing = event_keys.active_keys(session, settings, recipient, KeyKind.webhook, now)
        if not signing:
            continue  # an endpoint without a key cannot be signed for: left pending
        work.append(
            (recipient, urls[recipient], [(n.id, body_of(n), n.delivery_id) for n in line], signing)
        )
    by_id = {n.id: n for line in lines.values() for n in line}
    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, max(1, len(work)))) as pool:
        outcomes = list(pool.map(lambda job: _send_line(settings, job[1], job[2], job[3]), work))
    entries = []
    for sent_line in outcomes:
        for sent in sent_line:
            notification = by_id[sent.notification_id]
            _record(session, settings, notification, sent, tick, rng, now, entries, replay=False)
    audit.append_many(session, entries)
    session.flush()
    for recipient, line in lines.items():
        left = sum(1 for n in line if n.status == DeliveryStatus.pending)
        if left:
            tick.waiting[recipient] = left
    return tick


def _record(
    session, settings, notification, sent: _Sent, tick, rng, now, entries, *, replay, actor=None
):
    """Store one attempt, move the notification on, and queue its audit record."""
    session.add(
        DeliveryAttempt(
            notification_id=notification.id,
            attempted_at=sent.at,
            status_code=sent.status_code,
            error=sent.error,
            duration_ms=round(sent.duration_ms, 3),
            key_ids=sent.key_ids,
            replay=replay,
        )
    )
    notification.attempts += 1
    tick.attempted += 1
    if sent.ok:
        notification.status = DeliveryStatus.delivered
        notification.delivered_at = sent.at
        notification.last_error = None
        tick.delivered += 1
        outcome = "delivered"
    else:
        notification.last_error = sent.error
        if replay or notification.attempts >= settings.events_max_attempts:
            # A replay is one try: a failure leaves it on the dead-letter list.
            notification.status = DeliveryStatus.dead
            tick.dead += 1
            outcome = "dead"
        else:
            delay = back_off(settings, notification.attempts, rng)
            notification.next_attempt_at = now + timedelta(seconds=delay)
            tick.failed += 1
            outcome = "retry"
    entries.append(
        audit.Entry(
            actor,
            "events.delivery_attempt",
            "event_notification",
            notification.id,
            {
                "reason": f"Delivery {notification.attempts} to {notification.recipient}: "
                f"{sent.status_code or sent.error}",
                "outcome": "allowed" if sent.ok else "denied",
                "details": {
                    "delivery_id": notification.delivery_id,
                    "recipient": notification.recipient,
                    "sequence": notification.sequence,
                    "status_code": sent.status_code,
                    "error": sent.error,
                    "duration_ms": round(sent.duration_ms, 1),
                    "keys": sent.key_ids,
                    "next": outcome,
                    "replay": replay,
                },
            },
        )
    )


def replay(
    session: Session, settings: Settings, notification: EventNotification, actor=None
) -> Tick | None:
    """Send a dead-lettered (or delivered) notification again now, once, with its own delivery
    id (the receiver refuses to apply it twice). Back on the dead-letter list if it fails;
    None when the recipient has no webhook (it is put back for pulling)."""
    url = event_keys.endpoints(session).get(notification.recipient)
    if url is None:
        notification.status = DeliveryStatus.pending
        return None
    now = utcnow()
    signing = event_keys.active_keys(session, settings, notification.recipient, KeyKind.webhook)
    sent = _send_line(
        settings, url, [(notification.id, body_of(notification), notification.delivery_id)], signing
    )[0]
    entries: list = []
    tick = Tick()
    _record(
        session, settings, notification, sent, tick, random.random, now, entries,
        replay=True, actor=actor,
    )  # fmt: skip
    audit.append_many(session, entries)
    session.flush()
    return tick


def tick(sessions, settings: Settings) -> Tick:
    """One pass in its own unit of work (the server's schedule, `events deliver`)."""
    from civicshare import db

    with db.session_scope(sessions) as session:
        return deliver_due(session, settings)


async def every(sessions, settings: Settings, interval_seconds: float) -> None:
    """Deliver every `interval_seconds` in a worker thread, until cancelled (the server, when
    events_deliver_seconds is set)."""
    import functools
    import logging

    from civicshare.core.schedule import repeat

    work = functools.partial(tick, sessions, settings)
    await repeat("life event delivery", interval_seconds, work, logging.getLogger(__name__))

"""Notifications for other domains: `notify()` stores an in-app notification for each recipient
membership and, when `smtp_host` is set, e-mails it to the person after the caller's unit of work
commits.

How a send behaves (docs/notifications.md):

* the notification is stored in the caller's transaction; the e-mail is queued on the session and
  sent only after that transaction commits (a rolled-back action e-mails nobody);
* sending runs in a background thread, so a slow or absent SMTP server never holds up the
  person whose action caused it; `wait_for_mail()` waits for the queue (the CLI and tests);
* a failed send is logged with the notification's id and the error's type, never the address,
  and recorded on the notification as `email_status = "failed"`; the notification stays in-app.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.core.identity import Role
from civicshare.db import utcnow
from civicshare.notifications.models import Notification
from civicshare.partners import service as partners
from civicshare.partners.models import Membership, Partner

log = logging.getLogger(__name__)

OUTBOX = "notifications.outbox"
SENT = "sent"
FAILED = "failed"
OFF = "off"
NO_ADDRESS = "no-address"
QUEUED = "queued"

# Threads sending e-mail, so a command can wait for them before it exits.
_senders: set[threading.Thread] = set()
_senders_lock = threading.Lock()


class NotificationError(DomainError):
    """A notification that cannot be addressed or found."""


@dataclass(frozen=True)
class Mail:
    notification_id: int
    to: str
    subject: str
    body: str


# -- who receives -----------------------------------------------------------------------------


def recipients(
    session: Session,
    *,
    to_membership: Membership | int | None = None,
    to_partner: Partner | str | None = None,
    role: Role | str | None = None,
) -> list[Membership]:
    """One membership, or every active member of a partner (with `role`, when given)."""
    if (to_membership is None) == (to_partner is None):
        raise NotificationError("Name either one membership or one partner to notify.", "to")
    if to_membership is not None:
        membership = (
            session.get(Membership, to_membership)
            if isinstance(to_membership, int)
            else to_membership
        )
        if membership is None:
            raise NotificationError(f"There is no membership {to_membership}.", "to_membership")
        return [membership] if membership.active else []
    partner = partners.require(session, to_partner) if isinstance(to_partner, str) else to_partner
    if role is not None:
        return partners.members_with_role(session, partner.id, Role(role))
    return [m for m in partners.memberships_of_partner(session, partner.id) if m.active]


# -- notify -----------------------------------------------------------------------------------


def notify(
    session: Session,
    settings: Settings,
    *,
    to_membership: Membership | int | None = None,
    to_partner: Partner | str | None = None,
    role: Role | str | None = None,
    subject: str,
    body: str,
    link: str,
) -> list[Notification]:
    """Store a notification for each recipient (see `recipients`) in the caller's unit of work;
    e-mail each after it commits when `settings.smtp_host` is set. Returns the notifications."""
    subject = " ".join(subject.split())[:200]
    made = []
    for membership in recipients(
        session, to_membership=to_membership, to_partner=to_partner, role=role
    ):
        notification = Notification(
            membership_id=membership.id,
            subject=subject,
            body=body,
            link=link,
            created_at=utcnow(),
            email_status=OFF,
        )
        session.add(notification)
        made.append((notification, membership.person))
    if not made:
        return []
    session.flush()
    if settings.smtp_host:
        outbox = _outbox(session, settings)
        for notification, person in made:
            if not person.active or not person.email:
                notification.email_status = NO_ADDRESS
                continue
            notification.email_status = QUEUED
            outbox.append(Mail(notification.id, person.email, subject, _mail_body(body, link)))
    return [notification for notification, _ in made]


def _mail_body(body: str, link: str) -> str:
    return f"{body}\n\n{link}\n" if link else f"{body}\n"


def _outbox(session: Session, settings: Settings) -> list[Mail]:
    """The session's queue of e-mails, sent when it commits and dropped when it rolls back."""
    if OUTBOX not in session.info:
        session.info[OUTBOX] = (settings, session.get_bind(), [])
    return session.info[OUTBOX][2]


@event.listens_for(Session, "after_commit")
def _send_committed(session: Session) -> None:
    queued = session.info.pop(OUTBOX, None)
    if queued is not None and queued[2]:
        _start_sending(*queued)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: nothing commits
        session.info.pop(OUTBOX, None)


def _start_sending(settings: Settings, engine, mails: list[Mail]) -> None:
    thread = threading.Thread(
        target=_send_and_record, args=(settings, engine, mails), name="notifications-mail"
    )
    thread.daemon = True
    with _senders_lock:
        _senders.add(thread)
    thread.start()


def _send_and_record(settings: Settings, engine, mails: list[Mail]) -> None:
    try:
        outcomes = send_mail(settings, mails)
        with Session(engine) as session:
            for status in (SENT, FAILED):
                ids = [i for i, outcome in outcomes.items() if outcome == status]
                if ids:
                    session.execute(
                        update(Notification)
                        .where(Notification.id.in_(ids))
                        .values(email_status=status)
                    )
            session.commit()
    except Exception as error:  # noqa: BLE001  (a background thread: log, never raise)
        log.warning("recording notification e-mails failed (%s)", type(error).__name__)
    finally:
        with _senders_lock:
            _senders.discard(threading.current_thread())


def send_mail(settings: Settings, mails: Iterable[Mail]) -> dict[int, str]:
    """Send each mail through the SMTP server in `settings` on one connection; the outcome
    (SENT or FAILED) by notification id. Failures are logged without the address."""
    mails = list(mails)
    outcomes: dict[int, str] = {}
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            for mail in mails:
                message = EmailMessage()
                message["From"] = settings.smtp_from
                message["To"] = mail.to
                message["Subject"] = mail.subject
                message.set_content(mail.body)
                try:
                    smtp.send_message(message)
                    outcomes[mail.notification_id] = SENT
                except smtplib.SMTPException as error:
                    outcomes[mail.notification_id] = FAILED
                    log.warning(
                        "notification %s: e-mail not sent (%s)",
                        mail.notification_id,
                        type(error).__name__,
                    )
    except (OSError, smtplib.SMTPException) as error:
        for mail in mails:
            if mail.notification_id not in outcomes:
                outcomes[mail.notification_id] = FAILED
        log.warning(
            "notifications %s: e-mail not sent, SMTP server unavailable (%s)",
            ",".join(str(m.notification_id) for m in mails),
            type(error).__name__,
        )
    return outcomes


def wait_for_mail(timeout: float = 30.0) -> bool:
    """Wait until every e-mail queued so far has been tried; False if some are still going."""
    with _senders_lock:
        pending = list(_senders)
    deadline = datetime.now().timestamp() + timeout
    for thread in pending:
        thread.join(max(0.0, deadline - datetime.now().timestamp()))
    return not any(thread.is_alive() for thread in pending)


# -- reading and marking read -----------------------------------------------------------------


def list_for(session: Session, membership_id: int, limit: int = 100) -> list[Notification]:
    """The membership's notifications, newest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.membership_id == membership_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def unread_count(session: Session, membership_id: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.membership_id == membership_id, Notification.read_at.is_(None))
    )


def mark_read(session: Session, membership_id: int, notification_id: int | None = None) -> int:
    """Mark one notification (or, with no id, all) of the membership read; how many changed.
    Another membership's notification is refused as not found."""
    query = update(Notification).where(
        Notification.membership_id == membership_id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        found = session.get(Notification, notification_id)
        if found is None or found.membership_id != membership_id:
            raise NotificationError(f"You have no notification {notification_id}.", status=404)
        query = query.where(Notification.id == notification_id)
    return session.execute(query.values(read_at=utcnow())).rowcount

"""What runs on a schedule or for the partnership, not for one enquiry: reminders before and
after the due date, the retention purge of residents' details, and the monthly counts."""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.config import Settings
from civicshare.core.identity import Role
from civicshare.db import utcnow
from civicshare.enquiries import service
from civicshare.enquiries.models import Enquiry, EnquiryStatus
from civicshare.linkage.report import suppress
from civicshare.notifications import service as notifications

REMIND_BEFORE_DAYS = 2
# The members' enquiries agreement (agreements/library/, `members-enquiries`): a resident's
# details are deleted this many days after the enquiry was answered (or raised, if never).
RESIDENT_RETENTION_DAYS = 365
RULE = "resident_details_days"


# -- reminders --------------------------------------------------------------------------------


@dataclass
class Reminded:
    before: list[str] = field(default_factory=list)  # due soon: the team was reminded
    after: list[str] = field(default_factory=list)  # overdue: the team and the councillor


def remind(session: Session, settings: Settings, today: date | None = None) -> Reminded:
    """Remind once each: the team REMIND_BEFORE_DAYS before the due date, and the team and the
    councillor the day after it, of enquiries still with the team. Safe to run as often as
    wanted (each reminder is recorded on the enquiry and not sent again)."""
    today = today or utcnow().date()
    now = utcnow()
    done = Reminded()
    waiting = session.scalars(
        select(Enquiry).where(Enquiry.status == EnquiryStatus.with_team).order_by(Enquiry.id)
    ).all()
    for enquiry in waiting:
        due = f"{enquiry.due_on:%-d %B %Y}"
        if enquiry.due_on < today and enquiry.reminded_after_at is None:
            enquiry.reminded_after_at = now
            subject = f"Enquiry {enquiry.reference} is overdue (due {due})"
            _remind_team(session, settings, enquiry, subject)
            notifications.notify(
                session, settings, to_membership=enquiry.membership_id, subject=subject,
                body=f"{enquiry.topic.name}: {enquiry.routed_to.name} ({enquiry.team}) has "
                "been reminded.",
                link=f"/enquiries/{enquiry.reference}",
            )  # fmt: skip
            service.log_event(session, enquiry, None, "reminded", subject, when="after")
            done.after.append(enquiry.reference)
        elif (
            today <= enquiry.due_on <= today + timedelta(days=REMIND_BEFORE_DAYS)
            and enquiry.reminded_before_at is None
        ):
            enquiry.reminded_before_at = now
            subject = f"Enquiry {enquiry.reference} is due on {due}"
            _remind_team(session, settings, enquiry, subject)
            service.log_event(session, enquiry, None, "reminded", subject, when="before")
            done.before.append(enquiry.reference)
    return done


def _remind_team(session, settings, enquiry: Enquiry, subject: str) -> None:
    notifications.notify(
        session, settings, to_partner=enquiry.routed_to, role=Role.caseworker, subject=subject,
        body=f"{enquiry.topic.name} in {enquiry.district}, for {enquiry.team}.",
        link=f"/enquiries/{enquiry.reference}",
    )  # fmt: skip


# -- retention: residents' details ------------------------------------------------------------


@dataclass(frozen=True)
class PurgedDetails:
    """Evidence of one purge: what was deleted (its SHA-256 and size), under which rule."""

    reference: str
    due_on: date
    sealed_sha256: str
    bytes: int


def _aware(moment: datetime) -> datetime:
    """SQLite hands stored times back without their zone (all are UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _kept_from(enquiry: Enquiry) -> datetime:
    return _aware(enquiry.answered_at or enquiry.raised_at)


def purge_resident_details(
    session: Session, today: date | None = None, dry_run: bool = False
) -> list[PurgedDetails]:
    """Delete the sealed details (ciphertext and its data key) of enquiries past
    RESIDENT_RETENTION_DAYS, with evidence: an audit record and an entry in the enquiry's
    history, each with the SHA-256 and size of what was deleted. The enquiry itself stays
    (its topic, location, history and answer hold no resident details). Does not commit."""
    today = today or utcnow().date()
    kept = timedelta(days=RESIDENT_RETENTION_DAYS)
    found = session.scalars(
        select(Enquiry).where(Enquiry.resident_sealed.is_not(None)).order_by(Enquiry.id)
    ).all()
    purged = []
    for enquiry in found:
        due_on = _kept_from(enquiry).date() + kept
        if due_on > today:
            continue
        raw = base64.b64decode(enquiry.resident_sealed)
        evidence = PurgedDetails(
            enquiry.reference, due_on, hashlib.sha256(raw).hexdigest(), len(raw)
        )
        purged.append(evidence)
        if dry_run:
            continue
        enquiry.resident_sealed = None
        enquiry.resident_key = None
        enquiry.resident_purged_at = utcnow()
        facts = {"rule": RULE, "days": RESIDENT_RETENTION_DAYS, "due_on": due_on.isoformat(),
                 "sealed_sha256": evidence.sealed_sha256, "bytes": evidence.bytes}  # fmt: skip
        service.log_event(session, enquiry, None, "resident_details_purged",
                          "The resident's details were deleted (retention period).",
                          **facts)  # fmt: skip
        service.audit_enquiry(session, None, "enquiry_resident_details_purged", enquiry, **facts)
    return purged


# -- the monthly counts, for the partnership's benefits page ----------------------------------

ANSWER_BANDS = ("within 5 days", "6 to 10 days", "11 to 20 days", "over 20 days", "not answered")


def answer_band(enquiry: Enquiry) -> str:
    if enquiry.answered_at is None:
        return ANSWER_BANDS[-1]
    days = (_aware(enquiry.answered_at) - _aware(enquiry.raised_at)).days
    for limit, band in zip((5, 10, 20), ANSWER_BANDS, strict=False):
        if days <= limit:
            return band
    return ANSWER_BANDS[3]


@dataclass(frozen=True)
class MonthlyCount:
    month: str  # YYYY-MM the enquiry was raised
    topic: str
    partner: str  # the partner it is routed to
    time_to_answer: str  # one of ANSWER_BANDS
    count: str  # suppressed: 1-7 as "*", others to the nearest 5


def monthly_counts(session: Session) -> list[MonthlyCount]:
    """Enquiries by month raised, topic, partner answering and time to answer, each count
    suppressed (the partnership's small-number rule, which a reader cannot switch off)."""
    tally: Counter[tuple[str, str, str, str]] = Counter()
    for enquiry in session.scalars(select(Enquiry)):
        key = (f"{enquiry.raised_at:%Y-%m}", enquiry.topic.name, enquiry.routed_to.name,
               answer_band(enquiry))  # fmt: skip
        tally[key] += 1
    return [
        MonthlyCount(*key, suppress(n))
        for key, n in sorted(tally.items(), key=lambda item: (item[0][0], *item[0][1:]))
    ]

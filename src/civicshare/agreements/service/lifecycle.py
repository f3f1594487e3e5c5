"""Lifecycle steps: submit, withdraw, approve, reject, endorse, activate, suspend, resume,
revoke and expire, and `perform` to run one by name."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements.models import AgreementApproval, AgreementVersion, Decision
from civicshare.agreements.service.errors import Conflict, Invalid, NotAllowed, NotFound
from civicshare.agreements.service.permissions import duty_refusal, refuse_who, who_ok
from civicshare.agreements.service.queries import in_force
from civicshare.agreements.service.transitions import ENTITY, LIVE, TRANSITIONS, S, Transition
from civicshare.agreements.validation import Problem, validate
from civicshare.audit import service as audit
from civicshare.db import utcnow


def check_step(
    session: Session,
    actor: Actor | None,
    version: AgreementVersion,
    action: str,
    reason: str,
    separation: str | None = None,
) -> Transition:
    """The step's transition if this actor may take it on this version now; else the refusal:
    the wrong state (409), the wrong person (403), separation of duties (403), no reason."""
    transition = TRANSITIONS[action]
    if version.status not in transition.from_states:
        allowed = ", ".join(sorted(s.label.lower() for s in transition.from_states))
        raise Conflict(
            f"{version.reference} version {version.number} is {version.status.label.lower()}; "
            f"only an agreement that is {allowed} can be {_past(action)}."
        )
    if not who_ok(actor, version, transition.who):
        raise refuse_who(actor, version, transition)
    refusal = duty_refusal(actor, version, action, separation)
    if refusal is not None:
        raise refusal
    if transition.needs_reason and not reason.strip():
        raise Invalid(
            [Problem("reason", f"Give the reason to {action} the agreement")],
            f"Give the reason to {action} the agreement.",
        )
    return transition


def _past(action: str) -> str:
    return {
        "submit": "submitted",
        "withdraw": "withdrawn",
        "approve": "approved",
        "reject": "returned",
        "endorse": "endorsed",
        "activate": "activated",
        "suspend": "suspended",
        "resume": "resumed",
        "revoke": "revoked",
        "expire": "expired",
        "supersede": "superseded",
    }[action]


def _record(session, actor, version, transition, reason, **details) -> None:
    audit.record(
        session,
        actor,
        transition.audit_action,
        ENTITY,
        version.reference,
        reason=reason,
        details={"version": version.number, "status": version.status.value, **details},
    )


def submit(
    session: Session,
    actor: Actor | None,
    version: AgreementVersion,
    *,
    reason: str = "",
    today: date | None = None,
) -> AgreementVersion:
    transition = check_step(session, actor, version, "submit", reason)
    problems = validate(version, today)
    if problems:
        raise Invalid(problems)
    version.status = S.submitted
    version.submitted_at = utcnow()
    version.submitted_by_membership_id = actor.membership_id if actor else None
    version.submission_round += 1
    _record(session, actor, version, transition, reason, round=version.submission_round)
    return version


def withdraw(
    session: Session, actor: Actor | None, version: AgreementVersion, *, reason: str
) -> AgreementVersion:
    transition = check_step(session, actor, version, "withdraw", reason)
    version.status = S.withdrawn
    version.status_reason = reason.strip()
    version.ended_at = utcnow()
    _record(session, actor, version, transition, reason)
    return version


def _decide(
    session: Session,
    actor: Actor,
    version: AgreementVersion,
    decision: Decision,
    comment: str,
) -> AgreementApproval:
    if actor is None:
        raise NotAllowed("An approval is made by a party's IG lead, not from the command line.")
    if actor.partner_id in version.current_approvals():
        raise Conflict(
            f"{actor.partner_name} has already decided on {version.reference} version "
            f"{version.number}."
        )
    approval = AgreementApproval(
        submission_round=version.submission_round,
        partner_id=actor.partner_id,
        membership_id=actor.membership_id,
        decision=decision,
        comment=comment.strip(),
        at=utcnow(),
    )
    version.approvals.append(approval)
    session.flush()
    return approval


def approve(
    session: Session, actor: Actor, version: AgreementVersion, *, comment: str = ""
) -> AgreementVersion:
    """The acting IG lead approves for their own partner only."""
    transition = check_step(session, actor, version, "approve", comment)
    _decide(session, actor, version, Decision.approve, comment)
    decided = version.current_approvals()
    waiting = [p for p in version.parties if p.partner_id not in decided]
    if not waiting:
        version.status = S.approved
    _record(
        session,
        actor,
        version,
        transition,
        comment,
        for_partner=actor.partner_key,
        waiting_for=[p.partner.key for p in waiting],
    )
    return version


def reject(
    session: Session, actor: Actor, version: AgreementVersion, *, reason: str
) -> AgreementVersion:
    """A party's IG lead returns the version to draft with the changes they need."""
    transition = check_step(session, actor, version, "reject", reason)
    _decide(session, actor, version, Decision.reject, reason)
    version.status = S.draft
    _record(session, actor, version, transition, reason, for_partner=actor.partner_key)
    return version


def endorse(
    session: Session,
    actor: Actor | None,
    version: AgreementVersion,
    *,
    meeting_date: date,
    minute_reference: str,
    reason: str = "",
    today: date | None = None,
    separation: str | None = None,
) -> AgreementVersion:
    """A member of the IG group (an IG lead) records that the IG group endorsed this version at
    a meeting; under four-eyes separation of duties, one who neither drafted, submitted nor
    approved it."""
    today = today or date.today()
    transition = check_step(session, actor, version, "endorse", reason, separation)
    problems = []
    if meeting_date is None or meeting_date > today:
        problems.append(
            Problem("meeting_date", "Give the date of the IG group meeting, not in the future")
        )
    if not (minute_reference or "").strip():
        problems.append(Problem("minute_reference", "Give the minute reference of the decision"))
    if problems:
        raise Invalid(problems, "; ".join(p.message for p in problems) + ".")
    version.status = S.endorsed
    version.endorsed_by_membership_id = actor.membership_id if actor else None
    version.endorsement_meeting_date = meeting_date
    version.endorsement_minute_ref = minute_reference.strip()
    _record(
        session,
        actor,
        version,
        transition,
        reason,
        meeting_date=meeting_date.isoformat(),
        minute_reference=version.endorsement_minute_ref,
    )
    return version


def activate(
    session: Session,
    actor: Actor | None,
    version: AgreementVersion,
    *,
    reason: str = "",
    today: date | None = None,
) -> AgreementVersion:
    """Put an endorsed version in force; an amendment supersedes the version it replaces."""
    today = today or date.today()
    transition = check_step(session, actor, version, "activate", reason)
    _check_approved_and_endorsed(version)
    _check_dpo_contacts(version)
    if version.start_date and version.start_date > today:
        raise Conflict(
            f"{version.reference} starts on {version.start_date:%-d %B %Y}; activate it on or "
            "after that date."
        )
    for other in version.agreement.versions:
        if other is not version and other.status in LIVE:
            step = TRANSITIONS["supersede"]
            other.status = S.superseded
            other.ended_at = utcnow()
            other.status_reason = f"Replaced by version {version.number}"
            _record(session, actor, other, step, other.status_reason, by_version=version.number)
    version.status = S.active
    version.activated_at = utcnow()
    _record(session, actor, version, transition, reason)
    return version


def _check_approved_and_endorsed(version: AgreementVersion) -> None:
    """A version goes into force only with every party's approval in its current round and
    the IG group's endorsement on record, whatever its status says."""
    named = f"{version.reference} version {version.number}"
    approvals = version.current_approvals()
    waiting = [
        p.partner.name
        for p in version.parties
        if p.partner_id not in approvals or approvals[p.partner_id].decision != Decision.approve
    ]
    if waiting or not version.parties:
        raise Conflict(
            f"{named} cannot be activated: it still needs the approval of "
            f"{' and '.join(waiting) or 'its parties'}.",
            field="approvals",
        )
    if not version.endorsement_meeting_date or not version.endorsement_minute_ref.strip():
        raise Conflict(
            f"{named} cannot be activated: the IG group's endorsement (meeting date and minute "
            "reference) is not on record.",
            field="endorsement",
        )


# The data protection officer's contact each party must have on record before activation: the
# public register names it for residents who want to ask about their data.
DPO_FIELDS = (
    ("dpo_name", "data protection officer"),
    ("dpo_email", "data protection officer's e-mail"),
)


def _check_dpo_contacts(version: AgreementVersion) -> None:
    named = f"{version.reference} version {version.number}"
    for party in version.parties:
        for field, words in DPO_FIELDS:
            if not (getattr(party.partner, field) or "").strip():
                raise Conflict(
                    f"{named} cannot be activated: {party.partner.name} has no {words} on "
                    f"record (field {field}); its admin sets it on the partner's page, with "
                    f"PATCH /api/partners/{party.partner.key} or `civicshare partners dpo`.",
                    field=field,
                )


def _simple(session, actor, version, action, status, reason) -> AgreementVersion:
    transition = check_step(session, actor, version, action, reason)
    version.status = status
    version.status_reason = reason.strip()
    if status in (S.revoked, S.expired):
        version.ended_at = utcnow()
    _record(session, actor, version, transition, reason)
    return version


def suspend(session, actor, version, *, reason: str) -> AgreementVersion:
    return _simple(session, actor, version, "suspend", S.suspended, reason)


def resume(session, actor, version, *, reason: str, today: date | None = None) -> AgreementVersion:
    today = today or date.today()
    if not in_force(version, today) and version.status == S.suspended:
        raise Conflict(
            f"{version.reference} has passed its end or review date; amend it to renew it."
        )
    return _simple(session, actor, version, "resume", S.active, reason)


def revoke(session, actor, version, *, reason: str) -> AgreementVersion:
    return _simple(session, actor, version, "revoke", S.revoked, reason)


def expire_due(session: Session, today: date | None = None) -> list[tuple[AgreementVersion, str]]:
    """Mark expired every version in force whose end date has passed or whose review date was
    missed. Returns each with the reason."""
    today = today or date.today()
    expired = []
    versions = session.scalars(
        select(AgreementVersion).where(AgreementVersion.status.in_(list(LIVE)))
    ).all()
    for version in versions:
        if version.end_date and version.end_date < today:
            reason = f"Its end date, {version.end_date.isoformat()}, has passed"
        elif version.review_date and version.review_date < today:
            reason = f"Its review date, {version.review_date.isoformat()}, was missed"
        else:
            continue
        _simple(session, None, version, "expire", S.expired, reason)
        expired.append((version, reason))
    return expired


def perform(
    session: Session,
    actor: Actor | None,
    version: AgreementVersion,
    action: str,
    *,
    reason: str = "",
    today: date | None = None,
    separation: str | None = None,
    **extra: Any,
) -> AgreementVersion:
    """One entry point for the adapters: run the named step. `separation` is the app's
    separation_of_duties setting (default: the settings in force)."""
    if action == "submit":
        return submit(session, actor, version, reason=reason, today=today)
    if action == "withdraw":
        return withdraw(session, actor, version, reason=reason)
    if action == "approve":
        return approve(session, actor, version, comment=reason)
    if action == "reject":
        return reject(session, actor, version, reason=reason)
    if action == "endorse":
        return endorse(
            session,
            actor,
            version,
            meeting_date=extra.get("meeting_date"),
            minute_reference=extra.get("minute_reference", ""),
            reason=reason,
            today=today,
            separation=separation,
        )
    if action == "activate":
        return activate(session, actor, version, reason=reason, today=today)
    if action == "suspend":
        return suspend(session, actor, version, reason=reason)
    if action == "resume":
        return resume(session, actor, version, reason=reason, today=today)
    if action == "revoke":
        return revoke(session, actor, version, reason=reason)
    raise NotFound(f"There is no step called {action}.")

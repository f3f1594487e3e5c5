"""Agreements: drafting, the lifecycle, amendments, expiry and the questions other domains ask.

Every change is recorded in the audit log in the caller's unit of work, naming the person, the
membership they acted as, and why. Nothing here knows about HTTP."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from civicshare.accounts.service import Actor
from civicshare.agreements.models import (
    DPIA_CRITERIA,
    SCHEDULE1,
    Agreement,
    AgreementApproval,
    AgreementDataItem,
    AgreementParty,
    AgreementVersion,
    Article6,
    Article9,
    ControllerArrangement,
    Decision,
    Frequency,
    Generalisation,
    PartyRole,
    SpecialCategory,
    Status,
    Treatment,
)
from civicshare.agreements.validation import Problem, dpia_result, validate
from civicshare.audit import service as audit
from civicshare.core.errors import DomainError
from civicshare.db import utcnow
from civicshare.partners import service as partners
from civicshare.partners.models import Partner, PartnerStatus, Role

ENTITY = "agreement"


# -- errors, each an HTTP status for the adapters -------------------------------------------


class AgreementError(DomainError):
    """An agreement request refused, with the reason."""


class NotFound(AgreementError):
    status = 404


class NotAllowed(AgreementError):
    status = 403


class Conflict(AgreementError):
    status = 409


class Invalid(AgreementError):
    """The version breaks one or more rules; `problems` names each field and message."""

    status = 422

    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        self.problems = problems
        super().__init__(
            message
            or "The agreement cannot be submitted yet: "
            + "; ".join(p.message.rstrip(".") for p in problems)
            + "."
        )


# -- the lifecycle, as one table ------------------------------------------------------------

# Who may take a step:
#   editor          an IG lead of the drafting partner or of a party, while the version is a draft
#   party_ig_lead   an IG lead acting for a party to this version
#   ig_group        an IG lead of any partner, recording the IG group's decision
#   system          the gateway itself (expiry, superseding)


@dataclass(frozen=True)
class Transition:
    action: str
    from_states: frozenset[Status]
    to: Status | None  # None: the step decides (an approval may or may not complete the round)
    who: str
    needs_reason: bool
    audit_action: str
    button: str


def _t(action, sources, to, who, needs_reason, audit_action, button) -> Transition:
    return Transition(action, frozenset(sources), to, who, needs_reason, audit_action, button)


S = Status
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in [
        _t("submit", [S.draft], S.submitted, "editor", False, "agreement_submitted", "Submit"),
        _t(
            "withdraw",
            [S.draft, S.submitted],
            S.withdrawn,
            "editor",
            True,
            "agreement_withdrawn",
            "Withdraw",
        ),  # fmt: skip
        _t(
            "approve", [S.submitted], None, "party_ig_lead", False, "agreement_approved", "Approve"
        ),  # fmt: skip
        _t(
            "reject",
            [S.submitted],
            S.draft,
            "party_ig_lead",
            True,
            "agreement_rejected",
            "Return to draft",
        ),  # fmt: skip
        _t(
            "endorse",
            [S.approved],
            S.endorsed,
            "ig_group",
            False,
            "agreement_endorsed",
            "Record IG group endorsement",
        ),  # fmt: skip
        _t(
            "activate",
            [S.endorsed],
            S.active,
            "party_ig_lead",
            False,
            "agreement_activated",
            "Activate",
        ),  # fmt: skip
        _t(
            "suspend",
            [S.active],
            S.suspended,
            "party_ig_lead",
            True,
            "agreement_suspended",
            "Suspend",
        ),  # fmt: skip
        _t(
            "resume", [S.suspended], S.active, "party_ig_lead", True, "agreement_resumed", "Resume"
        ),  # fmt: skip
        _t(
            "revoke",
            [S.approved, S.endorsed, S.active, S.suspended],
            S.revoked,
            "party_ig_lead",
            True,
            "agreement_revoked",
            "Revoke",
        ),  # fmt: skip
        _t(
            "expire",
            [S.active, S.suspended],
            S.expired,
            "system",
            True,
            "agreement_expired",
            "Expire",
        ),  # fmt: skip
        _t(
            "supersede",
            [S.active, S.suspended],
            S.superseded,
            "system",
            False,
            "agreement_superseded",
            "Supersede",
        ),  # fmt: skip
    ]
}
# Versions that may still be in force or become so; an amendment can start from these.
AMENDABLE = frozenset({S.active, S.suspended, S.expired})
LIVE = frozenset({S.active, S.suspended})
PENDING = frozenset({S.draft, S.submitted, S.approved, S.endorsed})


# -- reading --------------------------------------------------------------------------------


def get(session: Session, reference: str) -> Agreement:
    agreement = session.scalars(
        select(Agreement).where(Agreement.reference == reference.strip().upper())
    ).one_or_none()
    if agreement is None:
        raise NotFound(f"There is no agreement {reference}.")
    return agreement


def version_of(agreement: Agreement, number: int) -> AgreementVersion:
    for version in agreement.versions:
        if version.number == number:
            return version
    raise NotFound(f"{agreement.reference} has no version {number}.")


def headline(agreement: Agreement) -> AgreementVersion:
    """The version that says what the agreement is now: the one in force if any, else the
    newest that is not a withdrawn draft, else the newest."""
    for version in reversed(agreement.versions):
        if version.status in LIVE:
            return version
    for version in reversed(agreement.versions):
        if version.status != S.withdrawn:
            return version
    return agreement.versions[-1]


def pending_amendment(agreement: Agreement) -> AgreementVersion | None:
    """A newer version in preparation, while an older one is in force."""
    live = headline(agreement)
    latest = agreement.versions[-1]
    return latest if latest is not live and latest.status in PENDING else None


def _party_ids(agreement: Agreement) -> set[int]:
    return {p.partner_id for v in agreement.versions for p in v.parties}


def may_view(actor: Actor, agreement: Agreement) -> bool:
    """Parties and the drafting partner see their agreements; IG leads, who sit on the IG group,
    see every agreement once it has been submitted. Only the acting membership counts."""
    if actor.partner_id == agreement.drafted_by_partner_id or actor.partner_id in _party_ids(
        agreement
    ):
        return True
    submitted = any(v.submission_round > 0 for v in agreement.versions)
    return submitted and actor.has_role(Role.ig_lead)


def may_view_version(actor: Actor, version: AgreementVersion) -> bool:
    if not may_view(actor, version.agreement):
        return False
    mine = actor.partner_id == version.agreement.drafted_by_partner_id or version.party(
        actor.partner_id
    )
    # The IG group sees versions that reached it, not other partners' drafts.
    return bool(mine) or version.submission_round > 0


def get_for(session: Session, actor: Actor, reference: str) -> Agreement:
    agreement = get(session, reference)
    if not may_view(actor, agreement):
        # Not 403: whether an agreement exists is itself not for everyone.
        raise NotFound(f"There is no agreement {reference} that {actor.partner_name} can see.")
    return agreement


def version_for(session: Session, actor: Actor, reference: str, number: int) -> AgreementVersion:
    version = version_of(get_for(session, actor, reference), number)
    if not may_view_version(actor, version):
        raise NotFound(f"{reference} has no version {number} that {actor.partner_name} can see.")
    return version


def list_for(
    session: Session, actor: Actor, status: Status | str | None = None
) -> list[tuple[Agreement, AgreementVersion]]:
    agreements = session.scalars(
        select(Agreement)
        .options(selectinload(Agreement.versions).selectinload(AgreementVersion.parties))
        .order_by(Agreement.reference)
    ).all()
    rows = []
    for agreement in agreements:
        if not may_view(actor, agreement):
            continue
        shown = headline(agreement)
        if not may_view_version(actor, shown):
            continue
        if status and shown.status != Status(status):
            continue
        rows.append((agreement, shown))
    return rows


def list_all(session: Session, status: Status | str | None = None) -> list[AgreementVersion]:
    """Every agreement's headline version (for operators at the command line)."""
    shown = [headline(a) for a in session.scalars(select(Agreement).order_by(Agreement.reference))]
    return [v for v in shown if status is None or v.status == Status(status)]


def active_version(
    session: Session, agreement: Agreement | str, today: date | None = None
) -> AgreementVersion | None:
    """The version of an agreement in force today, or None. `decide()` asks this."""
    today = today or date.today()
    if isinstance(agreement, str):
        agreement = get(session, agreement)
    for version in agreement.versions:
        if version.status == S.active and _in_force(version, today):
            return version
    return None


def _in_force(version: AgreementVersion, today: date) -> bool:
    return (
        (version.start_date is None or version.start_date <= today)
        and (version.end_date is None or today <= version.end_date)
        and (version.review_date is None or today <= version.review_date)
    )


def active_versions(session: Session, today: date | None = None) -> list[AgreementVersion]:
    today = today or date.today()
    versions = session.scalars(
        select(AgreementVersion)
        .join(Agreement)
        .where(AgreementVersion.status == S.active)
        .order_by(Agreement.reference)
    ).all()
    return [v for v in versions if _in_force(v, today)]


def active_covering(
    session: Session,
    provider_partner_id: int,
    dataset: str,
    recipient_partner_id: int,
    today: date | None = None,
) -> list[AgreementVersion]:
    """Active versions under which `provider` may share columns of `dataset` with `recipient`.
    The caller reads the grant (items, treatments, row scope) from each version."""
    return [
        version
        for version in active_versions(session, today)
        if covers(version, provider_partner_id, dataset, recipient_partner_id)
    ]


def covers(
    version: AgreementVersion, provider_partner_id: int, dataset: str, recipient_partner_id: int
) -> bool:
    """Whether this version names `provider` as providing and `recipient` as receiving, and
    shares an item of `dataset` from that provider."""
    provider = version.party(provider_partner_id)
    recipient = version.party(recipient_partner_id)
    if not (provider and provider.role.provides and recipient and recipient.role.receives):
        return False
    return any(
        item.provider_partner_id == provider_partner_id and item.dataset == dataset
        for item in version.shared_items
    )


def review_due(
    session: Session, today: date | None = None, within_days: int = 90
) -> list[AgreementVersion]:
    """Versions in force (or suspended) whose review date falls within `within_days` or has
    passed, soonest first."""
    today = today or date.today()
    horizon = today + timedelta(days=within_days)
    versions = session.scalars(
        select(AgreementVersion).where(
            AgreementVersion.status.in_(list(LIVE)),
            AgreementVersion.review_date.is_not(None),
            AgreementVersion.review_date <= horizon,
        )
    ).all()
    return sorted(versions, key=lambda v: (v.review_date, v.agreement.reference))


def history(session: Session, agreement: Agreement):
    return audit.history(session, ENTITY, agreement.reference)


# -- permissions ----------------------------------------------------------------------------


def _is_party_ig_lead(actor: Actor, version: AgreementVersion) -> bool:
    return actor.has_role(Role.ig_lead) and version.party(actor.partner_id) is not None


def may_edit(actor: Actor, version: AgreementVersion) -> bool:
    return (
        version.status == S.draft
        and actor.has_role(Role.ig_lead)
        and (
            actor.partner_id == version.agreement.drafted_by_partner_id
            or version.party(actor.partner_id) is not None
        )
    )


def _who_ok(actor: Actor | None, version: AgreementVersion, who: str) -> bool:
    if who == "system":
        return actor is None
    if actor is None:
        return True  # an operator at the server's command line
    if who == "editor":
        return may_edit(actor, version) or (
            version.status != S.draft
            and actor.has_role(Role.ig_lead)
            and actor.partner_id == version.agreement.drafted_by_partner_id
        )
    if who == "party_ig_lead":
        return _is_party_ig_lead(actor, version)
    if who == "ig_group":
        return actor.has_role(Role.ig_lead)
    raise ValueError(who)


def _refuse_who(actor: Actor, version: AgreementVersion, transition: Transition) -> NotAllowed:
    if not actor.has_role(Role.ig_lead):
        return NotAllowed(
            f"Acting for {actor.partner_name}, you are not an IG lead; only IG leads can "
            f"{transition.action} agreements."
        )
    if transition.who == "party_ig_lead":
        return NotAllowed(
            f"{actor.partner_name} is not a party to {version.reference}; only the IG lead of a "
            f"party can {transition.action} it."
        )
    return NotAllowed(
        f"Only the IG lead of the drafting partner or of a party can {transition.action} "
        f"{version.reference}."
    )


def allowed_actions(
    actor: Actor, version: AgreementVersion, today: date | None = None
) -> list[Transition]:
    """The steps this actor may take on this version now (for buttons)."""
    today = today or date.today()
    allowed = []
    for transition in TRANSITIONS.values():
        if transition.who == "system" or version.status not in transition.from_states:
            continue
        if not _who_ok(actor, version, transition.who):
            continue
        if transition.action in ("approve", "reject") and (
            actor.partner_id in version.current_approvals()
        ):
            continue
        if transition.action == "activate" and version.start_date and version.start_date > today:
            continue
        allowed.append(transition)
    return allowed


def may_amend(actor: Actor, version: AgreementVersion) -> bool:
    agreement = version.agreement
    return (
        version is agreement.versions[-1]
        and version.status in AMENDABLE
        and _is_party_ig_lead(actor, version)
    )


# -- drafting -------------------------------------------------------------------------------

SCALAR_FIELDS = (
    "title",
    "purpose",
    "necessity",
    "benefits",
    "data_subjects",
    "controller_arrangement",
    "joint_arrangement",
    "article6",
    "article9",
    "schedule1",
    "appropriate_policy_document",
    "article10_schedule1",
    "dpa_part3",
    "law_enforcement_purpose",
    "statutory_powers",
    "row_scope",
    "frequency",
    "retention",
    "deletion_method",
    "security",
    "rights_handling",
    "dpia_answers",
    "dpia_outcome",
    "dpia_completed_on",
    "start_date",
    "end_date",
    "review_date",
    "emergency",
    "emergency_trigger",
)
EDITABLE = (*SCALAR_FIELDS, "parties", "data_items")
ENUM_FIELDS = {
    "controller_arrangement": ControllerArrangement,
    "article6": Article6,
    "article9": Article9,
    "frequency": Frequency,
}
DATE_FIELDS = ("dpia_completed_on", "start_date", "end_date", "review_date")
TEXT_FIELDS = (
    "title",
    "purpose",
    "necessity",
    "benefits",
    "data_subjects",
    "joint_arrangement",
    "law_enforcement_purpose",
    "retention",
    "deletion_method",
    "security",
    "rights_handling",
    "dpia_outcome",
    "emergency_trigger",
)


def _coerce(field: str, value: Any) -> Any:
    if field in ENUM_FIELDS:
        return None if value in (None, "") else ENUM_FIELDS[field](value)
    if field in DATE_FIELDS:
        if value in (None, ""):
            return None
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if field in TEXT_FIELDS:
        return (value or "").strip()
    if field in ("schedule1", "article10_schedule1"):
        codes = [str(c).strip() for c in (value or []) if str(c).strip()]
        unknown = [c for c in codes if c not in SCHEDULE1]
        if unknown:
            raise Invalid(
                [Problem(field, f"Unknown Schedule 1 condition {', '.join(unknown)}")],
                f"Unknown Schedule 1 condition {', '.join(unknown)}; "
                f"known paragraphs are {', '.join(SCHEDULE1)}.",
            )
        return sorted(set(codes), key=int)
    if field == "statutory_powers":
        return [str(p).strip() for p in (value or []) if str(p).strip()]
    if field in ("appropriate_policy_document", "dpa_part3", "emergency"):
        return bool(value)
    if field == "dpia_answers":
        return {k: (None if v is None else bool(v)) for k, v in (value or {}).items()
                if k in DPIA_CRITERIA}  # fmt: skip
    if field == "row_scope":
        scope = dict(value or {})
        return {
            "recipient_district_only": bool(scope.get("recipient_district_only")),
            "min_age": None if scope.get("min_age") in (None, "") else int(scope["min_age"]),
            "max_age": None if scope.get("max_age") in (None, "") else int(scope["max_age"]),
            "description": str(scope.get("description") or "").strip(),
        }
    return value


def _partner(session: Session, key: str) -> Partner:
    partner = partners.get_by_key(session, key)
    if partner is None:
        raise Invalid(
            [Problem("parties", f"There is no partner with the key {key!r}")],
            f"There is no partner with the key {key!r}.",
        )
    return partner


def _no_title() -> Invalid:
    return Invalid([Problem("title", "Give the agreement a title")], "Give the agreement a title.")


def _next_reference(session: Session) -> str:
    number = (session.scalar(select(func.count(Agreement.id))) or 0) + 1
    while session.scalar(select(Agreement.id).where(Agreement.reference == f"ISA-{number:04d}")):
        number += 1
    return f"ISA-{number:04d}"


def create_draft(
    session: Session,
    actor: Actor,
    *,
    title: str,
    template_key: str | None = None,
    reason: str = "",
) -> AgreementVersion:
    """A new agreement with version 1 as a draft, optionally filled from a template."""
    if not actor.has_role(Role.ig_lead):
        raise NotAllowed(
            f"Acting for {actor.partner_name}, you are not an IG lead; only IG leads draft "
            "agreements."
        )
    if not title.strip():
        raise _no_title()
    agreement = Agreement(
        reference=_next_reference(session),
        drafted_by_partner_id=actor.partner_id,
        template_key=template_key,
    )
    version = AgreementVersion(
        agreement=agreement, number=1, status=S.draft, title=title.strip(), row_scope={}
    )
    session.add_all([agreement, version])
    session.flush()
    if template_key:
        from civicshare.agreements import library

        library.apply(session, version, library.get(template_key), actor)
    _refresh_dpia(version)
    session.flush()
    audit.record(
        session,
        actor,
        "agreement_drafted",
        ENTITY,
        agreement.reference,
        reason=reason,
        details={"version": 1, "title": version.title, "template": template_key},
    )
    return version


def _refresh_dpia(version: AgreementVersion) -> None:
    required, reasons = dpia_result(version.dpia_answers or {})
    version.dpia_required = required
    version.dpia_reasons = reasons


def update_draft(
    session: Session,
    actor: Actor | None,
    version: AgreementVersion,
    changes: Mapping[str, Any],
    *,
    reason: str = "",
) -> AgreementVersion:
    """Change fields of a draft. `parties` is a list of {"partner": key, "role": ...};
    `data_items` a list of {"provider": key, "dataset", "column", "treatment", ...}: each
    replaces the whole list."""
    if actor is not None and not may_edit(actor, version):
        if version.status != S.draft:
            raise Conflict(
                f"{version.reference} version {version.number} is {version.status.label.lower()}"
                "; only a draft can be changed. Amend it to make a new version."
            )
        raise NotAllowed(
            f"Acting for {actor.partner_name}, you cannot change {version.reference}: only IG "
            "leads of the drafting partner or of a party can."
        )
    if version.status != S.draft:
        raise Conflict(f"{version.reference} version {version.number} is not a draft.")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise Invalid(
            [Problem(unknown[0], f"Unknown field {unknown[0]}")],
            f"Unknown field {', '.join(unknown)}.",
        )
    changed: list[str] = []
    for field in SCALAR_FIELDS:
        if field not in changes:
            continue
        try:
            value = _coerce(field, changes[field])
        except (ValueError, TypeError) as error:
            if isinstance(error, Invalid):
                raise
            raise Invalid(
                [Problem(field, f"{field} is not valid: {error}")],
                f"The field {field} is not valid: {error}.",
            ) from None
        if field == "title" and not value:
            raise _no_title()
        if getattr(version, field) != value:
            setattr(version, field, value)
            changed.append(field)
    if "parties" in changes:
        set_parties(session, version, changes["parties"])
        changed.append("parties")
    if "data_items" in changes:
        set_data_items(session, version, changes["data_items"])
        changed.append("data_items")
    _refresh_dpia(version)
    session.flush()
    if changed:
        audit.record(
            session,
            actor,
            "agreement_updated",
            ENTITY,
            version.reference,
            reason=reason,
            details={"version": version.number, "fields": changed},
        )
    return version


def set_parties(session: Session, version: AgreementVersion, parties: Iterable[Mapping]) -> None:
    wanted: dict[int, PartyRole] = {}
    for entry in parties:
        partner = _partner(session, entry["partner"])
        if partner.status in (PartnerStatus.left, PartnerStatus.suspended):
            raise Invalid(
                [Problem("parties", f"{partner.name} is {partner.status.value}")],
                f"{partner.name} is {partner.status.value} and cannot be a party.",
            )
        wanted[partner.id] = PartyRole(entry["role"])
    existing = {p.partner_id: p for p in version.parties}
    for partner_id, party in existing.items():
        if partner_id not in wanted:
            version.parties.remove(party)
    for partner_id, role in wanted.items():
        if partner_id in existing:
            existing[partner_id].role = role
        else:
            version.parties.append(AgreementParty(partner_id=partner_id, role=role))
    session.flush()
    for party in version.parties:
        session.refresh(party, ["partner"])


def _item(session: Session, entry: Mapping) -> AgreementDataItem:
    def enum_or_none(cls, value):
        return None if value in (None, "") else cls(value)

    try:
        return AgreementDataItem(
            provider_partner_id=_partner(session, entry["provider"]).id,
            dataset=str(entry["dataset"]).strip(),
            column=str(entry["column"]).strip(),
            description=str(entry.get("description") or "").strip(),
            treatment=Treatment(entry.get("treatment") or "identifiable"),
            generalisation=enum_or_none(Generalisation, entry.get("generalisation")),
            special_category=enum_or_none(SpecialCategory, entry.get("special_category")),
            criminal_offence=bool(entry.get("criminal_offence")),
            personal=bool(entry.get("personal", True)),
        )
    except (KeyError, ValueError) as error:
        if isinstance(error, Invalid):
            raise
        raise Invalid(
            [Problem("data_items", f"A data item is not valid: {error}")],
            f"A data item is not valid: {error}.",
        ) from None


def set_data_items(session: Session, version: AgreementVersion, items: Iterable[Mapping]) -> None:
    new = [_item(session, entry) for entry in items]
    for entry in new:
        if not entry.dataset or not entry.column:
            raise Invalid(
                [Problem("data_items", "Each data item needs a dataset and a column")],
                "Each data item needs a dataset and a column.",
            )
    version.data_items.clear()
    session.flush()
    version.data_items.extend(new)
    session.flush()
    for item in version.data_items:
        session.refresh(item, ["provider"])


def add_data_item(
    session: Session, actor: Actor | None, version: AgreementVersion, entry: Mapping
) -> AgreementDataItem:
    items = [item_dict(i) for i in version.data_items] + [dict(entry)]
    update_draft(session, actor, version, {"data_items": items}, reason="data item added")
    return version.data_items[-1]


def remove_data_item(
    session: Session, actor: Actor | None, version: AgreementVersion, item_id: int
) -> None:
    items = [item_dict(i) for i in version.data_items if i.id != item_id]
    if len(items) == len(version.data_items):
        raise NotFound(f"{version.reference} version {version.number} has no such data item.")
    update_draft(session, actor, version, {"data_items": items}, reason="data item removed")


def item_dict(item: AgreementDataItem) -> dict[str, Any]:
    return {
        "provider": item.provider.key,
        "dataset": item.dataset,
        "column": item.column,
        "description": item.description,
        "treatment": item.treatment.value,
        "generalisation": item.generalisation.value if item.generalisation else None,
        "special_category": item.special_category.value if item.special_category else None,
        "criminal_offence": item.criminal_offence,
        "personal": item.personal,
    }


# -- lifecycle steps ------------------------------------------------------------------------


def _step(
    session: Session,
    actor: Actor | None,
    version: AgreementVersion,
    action: str,
    reason: str,
) -> Transition:
    transition = TRANSITIONS[action]
    if version.status not in transition.from_states:
        allowed = ", ".join(sorted(s.label.lower() for s in transition.from_states))
        raise Conflict(
            f"{version.reference} version {version.number} is {version.status.label.lower()}; "
            f"only an agreement that is {allowed} can be {_past(action)}."
        )
    if not _who_ok(actor, version, transition.who):
        raise _refuse_who(actor, version, transition)
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
    transition = _step(session, actor, version, "submit", reason)
    problems = validate(version, today)
    if problems:
        raise Invalid(problems)
    version.status = S.submitted
    version.submitted_at = utcnow()
    version.submission_round += 1
    _record(session, actor, version, transition, reason, round=version.submission_round)
    return version


def withdraw(
    session: Session, actor: Actor | None, version: AgreementVersion, *, reason: str
) -> AgreementVersion:
    transition = _step(session, actor, version, "withdraw", reason)
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
    transition = _step(session, actor, version, "approve", comment)
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
    transition = _step(session, actor, version, "reject", reason)
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
) -> AgreementVersion:
    """An IG lead records that the IG group endorsed this version at a meeting."""
    today = today or date.today()
    transition = _step(session, actor, version, "endorse", reason)
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
    transition = _step(session, actor, version, "activate", reason)
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


def _simple(session, actor, version, action, status, reason) -> AgreementVersion:
    transition = _step(session, actor, version, action, reason)
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
    if not _in_force(version, today) and version.status == S.suspended:
        raise Conflict(
            f"{version.reference} has passed its end or review date; amend it to renew it."
        )
    return _simple(session, actor, version, "resume", S.active, reason)


def revoke(session, actor, version, *, reason: str) -> AgreementVersion:
    return _simple(session, actor, version, "revoke", S.revoked, reason)


def amend(
    session: Session, actor: Actor | None, agreement: Agreement, *, reason: str
) -> AgreementVersion:
    """A new draft version copied from the newest one; the old one stays in force until the
    amendment is activated."""
    latest = agreement.versions[-1]
    if latest.status in PENDING:
        raise Conflict(
            f"{agreement.reference} already has version {latest.number} "
            f"({latest.status.label.lower()}); finish or withdraw it first."
        )
    if latest.status not in AMENDABLE:
        raise Conflict(
            f"{agreement.reference} version {latest.number} is {latest.status.label.lower()}; "
            "only an active, suspended or expired agreement can be amended."
        )
    if actor is not None and not _is_party_ig_lead(actor, latest):
        raise NotAllowed(
            f"Only the IG lead of a party can amend {agreement.reference}; acting for "
            f"{actor.partner_name}, you cannot."
        )
    if not reason.strip():
        raise Invalid(
            [Problem("reason", "Say what the amendment changes and why")],
            "Say what the amendment changes and why.",
        )
    new = AgreementVersion(
        agreement=agreement,
        number=latest.number + 1,
        status=S.draft,
        amends_version_id=latest.id,
        change_summary=reason.strip(),
    )
    for field in SCALAR_FIELDS:
        setattr(new, field, copy.deepcopy(getattr(latest, field)))
    new.dpia_required, new.dpia_reasons = latest.dpia_required, list(latest.dpia_reasons)
    new.parties = [AgreementParty(partner_id=p.partner_id, role=p.role) for p in latest.parties]
    session.add(new)
    session.flush()
    new.data_items = [_item(session, item_dict(i)) for i in latest.data_items]
    session.flush()
    session.refresh(agreement, ["versions"])
    audit.record(
        session,
        actor,
        "agreement_amended",
        ENTITY,
        agreement.reference,
        reason=reason,
        details={"version": new.number, "amends": latest.number},
    )
    return new


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
    **extra: Any,
) -> AgreementVersion:
    """One entry point for the adapters: run the named step."""
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


# -- the public register and the record of processing --------------------------------------


def _categories(version: AgreementVersion) -> list[str]:
    """Data categories without personal data: datasets and what kind of items they share."""
    by_dataset: dict[tuple[str, str], list] = {}
    for item in version.shared_items:
        by_dataset.setdefault((item.provider.name, item.dataset), []).append(item)
    out = []
    for (provider, dataset), items in by_dataset.items():
        kinds = sorted({i.treatment.label.lower() for i in items})
        special = sorted({i.special_category.label for i in items if i.special_category})
        extra = f"; special category: {', '.join(special)}" if special else ""
        criminal = "; criminal offence data" if any(i.criminal_offence for i in items) else ""
        shown = ", ".join(kinds)
        out.append(f"{provider} – {dataset}: {len(items)} items ({shown}){extra}{criminal}")
    return out


def register_entries(session: Session, today: date | None = None) -> list[dict[str, Any]]:
    """The public transparency register: active agreements, organisations only, no people."""
    entries = []
    for version in active_versions(session, today):
        entries.append(
            {
                "reference": version.reference,
                "version": version.number,
                "title": version.title,
                "purpose": version.purpose,
                "benefits": version.benefits,
                "providers": [p.partner.name for p in version.providers],
                "recipients": [p.partner.name for p in version.recipients],
                "controllers": version.controller_arrangement.label
                if version.controller_arrangement
                else "",
                "article6": version.article6.label if version.article6 else "No personal data",
                "article9": version.article9.label if version.article9 else "",
                "schedule1": [SCHEDULE1[c][1] for c in version.schedule1],
                "article10": [SCHEDULE1[c][1] for c in version.article10_schedule1],
                "dpa_part3": version.dpa_part3,
                "statutory_powers": list(version.statutory_powers),
                "data_categories": _categories(version),
                "data_subjects": version.data_subjects,
                "frequency": version.frequency.label if version.frequency else "",
                "retention": version.retention,
                "emergency": version.emergency,
                "start_date": version.start_date,
                "end_date": version.end_date,
                "review_date": version.review_date,
                "dpia_required": version.dpia_required,
            }
        )
    return entries


ROPA_COLUMNS = [
    "Controller",
    "ODS code",
    "ICO registration",
    "Data protection officer",
    "Agreement",
    "Version",
    "Status",
    "Title",
    "Purposes of processing",
    "Role in the sharing",
    "Controller arrangement",
    "Categories of data subjects",
    "Categories of personal data",
    "Special category data",
    "Criminal offence data",
    "Recipients",
    "Sources",
    "Article 6 basis",
    "Article 9 condition",
    "Schedule 1 conditions",
    "Article 10 conditions",
    "DPA 2018 Part 3",
    "Statutory powers",
    "Transfers outside the UK",
    "Retention",
    "Deletion",
    "Security measures",
    "Data subjects' rights",
    "DPIA",
    "Start date",
    "End date",
    "Review date",
]


def ropa_rows(
    session: Session, partner_id: int | None = None, viewer: Actor | None = None
) -> list[dict[str, Any]]:
    """Article 30 record of processing: one row per controller per agreement in force or
    suspended; `partner_id` limits it to one controller's own record, `viewer` to the
    agreements that actor may see."""
    versions = session.scalars(
        select(AgreementVersion)
        .join(Agreement)
        .where(AgreementVersion.status.in_(list(LIVE)))
        .order_by(Agreement.reference)
    ).all()
    rows = []
    for version in versions:
        if viewer is not None and not may_view(viewer, version.agreement):
            continue
        for party in version.parties:
            if partner_id is not None and party.partner_id != partner_id:
                continue
            partner = party.partner
            rows.append(
                {
                    "Controller": partner.name,
                    "ODS code": partner.ods_code or "",
                    "ICO registration": partner.ico_registration or "",
                    "Data protection officer": partner.dpo_name or "",
                    "Agreement": version.reference,
                    "Version": version.number,
                    "Status": version.status.label,
                    "Title": version.title,
                    "Purposes of processing": version.purpose,
                    "Role in the sharing": party.role.label,
                    "Controller arrangement": version.controller_arrangement.label
                    if version.controller_arrangement
                    else "",
                    "Categories of data subjects": version.data_subjects,
                    "Categories of personal data": "; ".join(_categories(version)),
                    "Special category data": ", ".join(
                        sorted(
                            {
                                i.special_category.label
                                for i in version.shared_items
                                if i.special_category
                            }
                        )  # fmt: skip
                    ),
                    "Criminal offence data": "Yes"
                    if any(i.criminal_offence for i in version.shared_items)
                    else "No",
                    "Recipients": ", ".join(
                        p.partner.name for p in version.recipients if p is not party
                    )
                    if party.role.provides
                    else "",
                    "Sources": ", ".join(
                        p.partner.name for p in version.providers if p is not party
                    )
                    if party.role.receives
                    else "",
                    "Article 6 basis": version.article6.label if version.article6 else "",
                    "Article 9 condition": version.article9.label if version.article9 else "",
                    "Schedule 1 conditions": "; ".join(SCHEDULE1[c][1] for c in version.schedule1),
                    "Article 10 conditions": "; ".join(
                        SCHEDULE1[c][1] for c in version.article10_schedule1
                    ),
                    "DPA 2018 Part 3": "Yes" if version.dpa_part3 else "No",
                    "Statutory powers": "; ".join(version.statutory_powers),
                    "Transfers outside the UK": "None",
                    "Retention": version.retention,
                    "Deletion": version.deletion_method,
                    "Security measures": version.security,
                    "Data subjects' rights": version.rights_handling,
                    "DPIA": dpia_summary(version),
                    "Start date": version.start_date.isoformat() if version.start_date else "",
                    "End date": version.end_date.isoformat() if version.end_date else "",
                    "Review date": version.review_date.isoformat() if version.review_date else "",
                }
            )
    return rows


def dpia_summary(version: AgreementVersion) -> str:
    if version.dpia_required is None:
        return "Screening not finished"
    if not version.dpia_required:
        return "Not required (screening found no high-risk criterion)"
    outcome = version.dpia_outcome or "outcome not yet recorded"
    return f"Required ({'; '.join(version.dpia_reasons)}): {outcome}"

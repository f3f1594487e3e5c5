"""Drafting: create and change drafts, their parties and data items, and amend."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements.models import (
    DPIA_CRITERIA,
    SCHEDULE1,
    Agreement,
    AgreementDataItem,
    AgreementParty,
    AgreementVersion,
    Article6,
    Article9,
    ControllerArrangement,
    Frequency,
    Generalisation,
    PartyRole,
    SpecialCategory,
    Treatment,
)
from civicshare.agreements.service.errors import Conflict, Invalid, NotAllowed, NotFound
from civicshare.agreements.service.permissions import is_party_ig_lead, may_edit
from civicshare.agreements.service.transitions import AMENDABLE, ENTITY, PENDING, S
from civicshare.agreements.validation import Problem, dpia_result
from civicshare.audit import service as audit
from civicshare.dataplane.grant import ConditionOp
from civicshare.partners import service as partners
from civicshare.partners.models import Partner, PartnerStatus, Role

SCALAR_FIELDS = (
    "title",
    "purpose",
    "purposes",
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


def coerce_field(field: str, value: Any) -> Any:
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
    if field == "purposes":
        return coerce_purposes(value)
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
            "conditions": coerce_conditions(scope.get("conditions")),
        }
    return value


CONDITION_OPS = {op.value for op in ConditionOp}


def coerce_conditions(value: Any) -> list[dict[str, Any]]:
    """Row conditions as stored: {provider, dataset, column, op, values | low, high}, names
    trimmed. Whether each fits the dataset's contract is validation's to say."""
    conditions = []
    for entry in value or []:
        if not isinstance(entry, Mapping) or entry.get("op") not in CONDITION_OPS:
            shown = entry.get("op") if isinstance(entry, Mapping) else entry
            raise Invalid(
                [Problem("row_scope", f"A row condition has an unknown operation: {shown!r}")],
                f"A row condition's op must be one of {', '.join(sorted(CONDITION_OPS))}.",
            )
        condition = {
            key: str(entry.get(key) or "").strip() for key in ("provider", "dataset", "column")
        }
        condition["op"] = ConditionOp(entry["op"]).value
        if entry["op"] in (ConditionOp.equals, ConditionOp.one_of):
            condition["values"] = list(entry.get("values") or [])
        elif entry["op"] == ConditionOp.between:
            condition["low"], condition["high"] = entry.get("low"), entry.get("high")
        conditions.append(condition)
    return conditions


def coerce_purposes(value: Any) -> list[dict[str, str]]:
    """Permitted purposes as [{"code", "description"}], from such dicts or from lines
    "code: description" (how the page's text box and the templates write them). Codes are
    checked by validation (lowercase words joined by hyphens, each listed once)."""
    if isinstance(value, str):
        value = value.splitlines()
    purposes = []
    for entry in value or []:
        if isinstance(entry, Mapping):
            code, description = entry.get("code"), entry.get("description")
        else:
            code, _, description = str(entry).partition(":")
        code, description = str(code or "").strip(), str(description or "").strip()
        if code or description:
            purposes.append({"code": code, "description": description})
    return purposes


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
        agreement=agreement,
        number=1,
        status=S.draft,
        title=title.strip(),
        row_scope={},
        drafted_by_membership_id=actor.membership_id,
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
            value = coerce_field(field, changes[field])
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
    if actor is not None and not is_party_ig_lead(actor, latest):
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
        drafted_by_membership_id=actor.membership_id if actor else None,
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

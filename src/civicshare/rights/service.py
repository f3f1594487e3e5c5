"""Residents' rights: objections and the national data opt-out that decide() honours, and the
public register in plain English.

Objections are recorded per person (a person index key: the IG lead identifies the person by a
record their own organisation holds, or by the key subject access found) and per permitted
purpose (an agreement's purpose code). The national data opt-out is a per-person flag read from
the health feed (a dataset with a `national_data_opt_out` column) by `refresh_national_opt_outs`.
`withheld_for` tells decide() whose rows a grant must not deliver; the data plane drops them and
counts them, and the audit log keeps the counts, never who.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements import service as agreements
from civicshare.agreements.conditions import columns_of, plain_name
from civicshare.agreements.models import SCHEDULE1, AgreementVersion, Treatment
from civicshare.agreements.policy import condition_words, scope_limits
from civicshare.audit import service as audit
from civicshare.core.errors import DomainError
from civicshare.dataplane.grant import Withheld
from civicshare.db import utcnow
from civicshare.linkage.models import IndexedRecord, IndexedSource, PersonKey
from civicshare.partners import service as partners
from civicshare.partners.models import Partner, PartnerType, Role
from civicshare.rights.models import NationalOptOut, Objection


class RightsError(DomainError):
    """An objection or opt-out request that cannot be carried out, said plainly."""

    status = 422


# -- whose rows a share withholds (read by decide()) -----------------------------------------

OBJECTION = "objection"
NATIONAL_OPT_OUT = "national data opt-out"
# The opt-out covers confidential patient information: data from these providers.
HEALTH_PROVIDERS = (PartnerType.nhs_trust, PartnerType.icb)
# An agreement marks a planning or research purpose, where the opt-out applies, by saying so in
# the purpose's sentence (the library's templates do: "(planning: the national data opt-out
# applies)"); see docs/decisions/0029.
OPT_OUT_PHRASE = "national data opt-out applies"
OPT_OUT_COLUMN = "national_data_opt_out"


def opt_out_applies(purpose: dict[str, str]) -> bool:
    """Whether a permitted purpose is a planning or research use the opt-out applies to."""
    return OPT_OUT_PHRASE in str(purpose.get("description", "")).lower()


def current_keys(session: Session, keys: set[str]) -> set[str]:
    """Person keys as they are now: followed through the merges the person index made since
    they were recorded (a few queries, whatever the number of keys)."""
    current, pending = set(), set(keys)
    for _ in range(32):  # a merge chain is short; the bound only guards against a cycle
        if not pending:
            break
        merged = dict(
            session.execute(
                select(PersonKey.key, PersonKey.merged_into).where(
                    PersonKey.key.in_(sorted(pending)), PersonKey.merged_into.is_not(None)
                )
            ).all()
        )
        current |= pending - set(merged)
        pending = set(merged.values()) - current
    return current | pending


def current_key(session: Session, key: str) -> str:
    return next(iter(current_keys(session, {key})))


def _held_in(session: Session, source: str, keys: set[str]) -> tuple[str, ...]:
    """Those of `keys` the person index holds a record of in `source` (partner/dataset)."""
    if not keys:
        return ()
    found = session.scalars(
        select(IndexedRecord.person_key)
        .where(IndexedRecord.source == source, IndexedRecord.person_key.in_(sorted(keys)))
        .distinct()
    )
    return tuple(sorted(found))


@dataclass(frozen=True)
class Refusals:
    """Who refused what, as recorded: the person keys objecting to each purpose (objections
    standing) and those with the national data opt-out. Keys as recorded, before the merges
    the person index made since (withheld_for follows them)."""

    objecting: Mapping[str, frozenset[str]]  # by purpose code
    opted_out: frozenset[str]


def refusals(session: Session) -> Refusals:
    """The refusals as the store holds them now (two queries)."""
    objecting: dict[str, set[str]] = {}
    for purpose, key in session.execute(
        select(Objection.purpose, Objection.person_key).where(Objection.withdrawn_at.is_(None))
    ):
        objecting.setdefault(purpose, set()).add(key)
    return Refusals(
        MappingProxyType({purpose: frozenset(keys) for purpose, keys in objecting.items()}),
        frozenset(session.scalars(select(NationalOptOut.person_key))),
    )


def withheld_for(
    session: Session,
    version: AgreementVersion,
    provider: Partner,
    dataset: str,
    purpose: str,
    refused: Refusals | None = None,
) -> tuple[Withheld, ...]:
    """The people whose rows of `provider`'s `dataset` must not leave under `purpose` of this
    agreement version: those objecting to the purpose, and for a planning or research purpose
    on health data, those with the national data opt-out. Only people the person index holds
    in this dataset are named (the data plane matches rows by the index). `refused`: what
    `refusals()` read, if the caller holds it (else only what this needs is read here)."""
    source = f"{provider.key}/{dataset}"
    if refused is not None:
        recorded = set(refused.objecting.get(purpose, ()))
    else:
        recorded = set(
            session.scalars(
                select(Objection.person_key).where(
                    Objection.purpose == purpose, Objection.withdrawn_at.is_(None)
                )
            )
        )
    objecting = current_keys(session, recorded)
    withheld = []
    held = _held_in(session, source, objecting)
    if held:
        withheld.append(Withheld(OBJECTION, held))
    described = next((p for p in version.purposes or [] if p.get("code") == purpose), {})
    if provider.type in HEALTH_PROVIDERS and opt_out_applies(described):
        recorded = (
            set(refused.opted_out)
            if refused is not None
            else set(session.scalars(select(NationalOptOut.person_key)))
        )
        opted_out = current_keys(session, recorded)
        held = _held_in(session, source, opted_out)
        if held:
            withheld.append(Withheld(NATIONAL_OPT_OUT, held))
    return tuple(withheld)


# -- objections ----------------------------------------------------------------------------


def _require_ig_lead(actor: Actor | None, doing: str) -> None:
    """Objections are recorded by an IG lead (or the operator at the server: actor None)."""
    if actor is not None and not actor.has_role(Role.ig_lead):
        raise RightsError(f"Only an IG lead may {doing}.", field="actor", status=403)


def known_purposes(session: Session, today: date | None = None) -> dict[str, str]:
    """Every purpose code the agreements in force permit, with its sentence."""
    found: dict[str, str] = {}
    for version in agreements.active_versions(session, today):
        for purpose in version.purposes or []:
            found.setdefault(purpose["code"], purpose["description"])
    return found


def identify(
    session: Session,
    *,
    person_key: str | None = None,
    source: str | None = None,
    record_id: str | None = None,
) -> str:
    """The person's key in the person index: given as it is, or found from a record a partner
    holds (`source` as partner/dataset and the record's id in that dataset)."""
    if person_key:
        key = person_key.strip()
        if session.get(PersonKey, key) is None:
            raise RightsError(
                f"person_key {key!r} is not a key of the person index.", field="person_key"
            )
        return current_key(session, key)
    if not source or not record_id:
        raise RightsError(
            "Identify the person: give a person key, or a source (partner/dataset) and the id "
            "of the person's record in it.",
            field="source" if not source else "record_id",
        )
    found = session.scalar(
        select(IndexedRecord.person_key).where(
            IndexedRecord.source == source.strip(), IndexedRecord.record_id == record_id.strip()
        )
    )
    if found is None:
        raise RightsError(
            f"The person index holds no record {record_id.strip()!r} of {source.strip()}: "
            "check the record id, or run the person index after the dataset's last push.",
            field="record_id",
        )
    return current_key(session, found)


def record_objection(
    session: Session,
    actor: Actor | None,
    *,
    purpose: str,
    reason: str,
    person_key: str | None = None,
    source: str | None = None,
    record_id: str | None = None,
    via: str = "api",
) -> Objection:
    """Record that a person objects to the use of their records for `purpose`. The audit
    log names the objection and the purpose, never the person."""
    _require_ig_lead(actor, "record an objection")
    purposes = known_purposes(session)
    code = purpose.strip()
    if code not in purposes:
        listed = ", ".join(sorted(purposes)) or "none: no agreement is in force"
        raise RightsError(
            f"purpose {code!r} is not a purpose of any agreement in force; the purposes are: "
            f"{listed}.",
            field="purpose",
        )
    if not reason.strip():
        raise RightsError("Say what the person objected to and how they asked.", field="reason")
    key = identify(session, person_key=person_key, source=source, record_id=record_id)
    standing = session.scalar(
        select(Objection).where(
            Objection.person_key == key,
            Objection.purpose == code,
            Objection.withdrawn_at.is_(None),
        )
    )
    if standing is not None:
        return standing
    objection = Objection(
        person_key=key,
        purpose=code,
        reason=reason.strip(),
        recorded_by=actor.membership_id if actor else None,
    )
    session.add(objection)
    session.flush()
    audit.record(
        session,
        actor,
        "objection_recorded",
        "objection",
        objection.id,
        purpose=code,
        details={"via": via},
    )
    return objection


def withdraw_objection(
    session: Session, actor: Actor | None, objection_id: int, *, reason: str, via: str = "api"
) -> Objection:
    """The person withdrew their objection: their rows may flow under the purpose again."""
    _require_ig_lead(actor, "withdraw an objection")
    objection = session.get(Objection, objection_id)
    if objection is None:
        raise RightsError(f"There is no objection {objection_id}.", field="id", status=404)
    if objection.withdrawn_at is not None:
        raise RightsError(f"Objection {objection_id} is already withdrawn.", status=409)
    if not reason.strip():
        raise RightsError("Say why the objection is withdrawn.", field="reason")
    objection.withdrawn_at = utcnow()
    objection.withdrawn_by = actor.membership_id if actor else None
    audit.record(
        session,
        actor,
        "objection_withdrawn",
        "objection",
        objection.id,
        reason=reason.strip(),
        purpose=objection.purpose,
        details={"via": via},
    )
    return objection


def objections(session: Session, *, include_withdrawn: bool = False) -> list[Objection]:
    query = select(Objection).order_by(Objection.id.desc())
    if not include_withdrawn:
        query = query.where(Objection.withdrawn_at.is_(None))
    return list(session.scalars(query))


# -- the national data opt-out ---------------------------------------------------------------


@dataclass(frozen=True)
class OptOutRefresh:
    source: str
    snapshot_version: int
    records: int
    opted_out: int  # people, once each


def _feed_plan(session: Session, settings):
    from civicshare.linkage.person_index.sources import person_sources

    for plan in person_sources(session, settings):
        partner = partners.get_by_key(session, plan.snapshot.partner_key)
        names = {c.name for c in plan.snapshot.contract.columns}
        if partner is not None and partner.type in HEALTH_PROVIDERS and OPT_OUT_COLUMN in names:
            return plan
    raise RightsError(
        f"No health dataset with a {OPT_OUT_COLUMN} column has been pushed: push the GP "
        "registrations first.",
        field="dataset",
    )


def refresh_national_opt_outs(
    session: Session, settings, actor: Actor | None, *, via: str = "cli"
) -> OptOutRefresh:
    """Replace the opt-out flags with what the health feed's current snapshot says, person
    by person through the person index (which must have linked that snapshot). The read is
    audited; only the count of people is kept in the log."""
    from civicshare.linkage.person_index.sources import read_source

    _require_ig_lead(actor, "refresh the national data opt-out")
    plan = _feed_plan(session, settings)
    indexed = session.get(IndexedSource, plan.source)
    if indexed is None or indexed.snapshot_version != plan.snapshot.version:
        raise RightsError(
            f"The person index has not linked {plan.source} version {plan.snapshot.version} "
            "yet: run `civicshare index run` first, then refresh the opt-outs.",
            field="dataset",
        )
    plan = dataclasses.replace(plan, columns={"opt_out": (OPT_OUT_COLUMN,)})
    table = read_source(
        session,
        settings,
        plan,
        actor=actor,
        action="opt_outs_read",
        purpose="national-data-opt-out",
        details={"via": via},
    )
    ids = [str(v) for v in table.column(plan.record_id).to_pylist()]
    flags = table.column(OPT_OUT_COLUMN).to_pylist()
    opted = {record for record, flag in zip(ids, flags, strict=True) if _truthy(flag)}
    keys = set()
    if opted:
        rows = session.execute(
            select(IndexedRecord.record_id, IndexedRecord.person_key).where(
                IndexedRecord.source == plan.source
            )
        )
        keys = {person for record, person in rows if record in opted}
    session.execute(delete(NationalOptOut))
    session.add_all(
        NationalOptOut(person_key=k, source=plan.source, snapshot_version=plan.snapshot.version)
        for k in sorted(keys)
    )
    audit.record(
        session,
        actor,
        "opt_outs_refreshed",
        "dataset",
        plan.source,
        dataset=plan.source,
        row_count=len(keys),
        details={"via": via, "snapshot": plan.snapshot.version, "records": len(ids)},
    )
    return OptOutRefresh(plan.source, plan.snapshot.version, len(ids), len(keys))


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "y", "yes")


def opt_out_count(session: Session) -> int:
    return len(session.scalars(select(NationalOptOut.person_key)).all())


# -- the public register in plain English ----------------------------------------------------

TREATMENT_WORDS = {
    Treatment.identifiable: "shared as is",
    Treatment.pseudonymised: "pseudonymised",
    Treatment.generalised: "generalised",
    Treatment.excluded: "withheld",
}
# What each treatment means, for residents.
TREATMENT_MEANING = {
    Treatment.identifiable: "The item is shared as the organisation holds it.",
    Treatment.pseudonymised: "The item is replaced by a code that means nothing outside this "
    "agreement, so records about the same person can be put together without saying who.",
    Treatment.generalised: "Only a less precise form is shared.",
    Treatment.excluded: "The item is not shared at all.",
}
# The person index key is not a column of any contract: it is the gateway's own.
PERSON_KEY_NAME = "A code for the person, made by the partnership's person index"


def _item(item, columns) -> dict[str, Any]:
    provider, dataset = item.provider.key, item.dataset
    name = (
        PERSON_KEY_NAME
        if item.column == "person_key"
        else plain_name(columns, provider, dataset, item.column)
    )
    detail = ""
    if item.treatment == Treatment.generalised and item.generalisation:
        detail = item.generalisation.label
    return {
        "name": name,
        "column": item.column,
        "treatment": TREATMENT_WORDS[item.treatment],
        "detail": detail,
        "special_category": item.special_category.label if item.special_category else "",
        "criminal_offence": bool(item.criminal_offence),
    }


def _datasets(session: Session, version: AgreementVersion) -> list[dict[str, Any]]:
    from civicshare.datasets import service as datasets

    columns = columns_of(version)
    conditions = (version.row_scope or {}).get("conditions") or []
    limits = scope_limits(version)
    grouped: dict[tuple[str, str], list] = {}
    for item in version.data_items:
        grouped.setdefault((item.provider.key, item.dataset), []).append(item)
    out = []
    for (provider, dataset), items in grouped.items():
        held = datasets.get_dataset(session, provider, dataset)
        rows = [
            condition_words(c, plain_name(columns, provider, dataset, str(c.get("column"))))
            for c in conditions
            if c.get("provider") == provider and c.get("dataset") == dataset
        ]
        out.append(
            {
                "provider": items[0].provider.name,
                "provider_key": provider,
                "dataset": dataset,
                "title": held.title if held is not None and held.title else dataset,
                "items": [_item(i, columns) for i in items],
                "rows": [*rows, *limits],
            }
        )
    return out


def dpo_contact(partner: Partner) -> dict[str, str]:
    return {
        "partner": partner.name,
        "partner_key": partner.key,
        "name": partner.dpo_name or "",
        "email": partner.dpo_email or "",
        "address": partner.dpo_address or "",
    }


def _lawful_basis(version: AgreementVersion) -> dict[str, Any]:
    return {
        "article6": version.article6.label if version.article6 else "No personal data",
        "article9": version.article9.label if version.article9 else "",
        "schedule1": [SCHEDULE1[c][1] for c in version.schedule1],
        "article10": [SCHEDULE1[c][1] for c in version.article10_schedule1],
        "law_enforcement": bool(version.dpa_part3),
        "statutory_powers": list(version.statutory_powers),
    }


def register_entry(session: Session, version: AgreementVersion) -> dict[str, Any]:
    """One agreement in force, in plain words: every data item by its plain name with its
    treatment, which records, why and under which law, how long, and whom to ask."""
    reference = version.reference
    return {
        "reference": reference,
        "version": version.number,
        "title": version.title,
        "purpose": version.purpose,
        "purposes": [
            {
                "code": p["code"],
                "description": p["description"],
                "national_data_opt_out": opt_out_applies(p),
            }
            for p in version.purposes or []
        ],
        "benefits": version.benefits,
        "data_subjects": version.data_subjects,
        "providers": [p.partner.name for p in version.providers],
        "recipients": [p.partner.name for p in version.recipients],
        "datasets": _datasets(session, version),
        "lawful_basis": _lawful_basis(version),
        "frequency": version.frequency.label if version.frequency else "",
        "retention": version.retention,
        "deletion": version.deletion_method,
        "rights": version.rights_handling,
        "in_force_from": version.start_date.isoformat() if version.start_date else None,
        "ends": version.end_date.isoformat() if version.end_date else None,
        "review_by": version.review_date.isoformat() if version.review_date else None,
        "contacts": [dpo_contact(p.partner) for p in version.parties],
        "links": {
            "page": f"/register/agreements/{reference}",
            "document": f"/register/agreements/{reference}/document",
            "document_pdf": f"/register/agreements/{reference}/document.pdf",
            "charter": "/register/charter",
        },
    }


def register(session: Session, today: date | None = None) -> list[dict[str, Any]]:
    """Every agreement in force, in plain words (public: organisations only, no people)."""
    return [register_entry(session, v) for v in agreements.active_versions(session, today)]


def public_version(session: Session, reference: str, today: date | None = None):
    """The version of `reference` in force today; drafts and ended agreements are not public."""
    for version in agreements.active_versions(session, today):
        if version.reference == reference:
            return version
    raise RightsError(
        f"No agreement {reference!r} is in force: the register lists only agreements in force.",
        field="reference",
        status=404,
    )


REGISTER_CSV_COLUMNS = (
    ("reference", "Agreement"),
    ("title", "Title"),
    ("provider", "Shared by"),
    ("dataset", "Dataset"),
    ("item", "Data item"),
    ("column", "Column"),
    ("treatment", "How it is treated"),
    ("detail", "Generalised to"),
    ("special_category", "Special category"),
    ("records", "Which records"),
    ("recipients", "Shared with"),
    ("purposes", "Purposes"),
    ("lawful_basis", "Lawful basis"),
    ("retention", "Kept for"),
    ("contacts", "Data protection officers"),
)


def register_rows(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The register as one row per data item of every agreement in force (for CSV)."""
    rows = []
    for entry in entries:
        contacts = "; ".join(
            f"{c['partner']}: {c['name']} <{c['email']}>" for c in entry["contacts"]
        )
        for dataset in entry["datasets"]:
            for item in dataset["items"]:
                rows.append(
                    {
                        "reference": entry["reference"],
                        "title": entry["title"],
                        "provider": dataset["provider"],
                        "dataset": dataset["title"],
                        "item": item["name"],
                        "column": item["column"],
                        "treatment": item["treatment"],
                        "detail": item["detail"],
                        "special_category": item["special_category"],
                        "records": "; ".join(dataset["rows"]) or "Every record",
                        "recipients": ", ".join(entry["recipients"]),
                        "purposes": "; ".join(p["description"] for p in entry["purposes"]),
                        "lawful_basis": entry["lawful_basis"]["article6"],
                        "retention": entry["retention"],
                        "contacts": contacts,
                    }
                )
    return rows


def register_csv(entries: list[dict[str, Any]]) -> str:
    from civicshare import csvsafe

    return csvsafe.rows_text(
        ([row[key] for key, _ in REGISTER_CSV_COLUMNS] for row in register_rows(entries)),
        [label for _, label in REGISTER_CSV_COLUMNS],
    )


def partner_uses(session: Session, key: str, today: date | None = None) -> dict[str, Any]:
    """How a partner uses residents' information: the agreements in force it provides to or
    receives under, what goes each way, and its data protection officer."""
    partner = partners.require(session, key, field="partner")
    gives, gets = [], []
    for version in agreements.active_versions(session, today):
        roles = {p.partner_id: p.role for p in version.parties}
        role = roles.get(partner.id)
        if role is None:
            continue
        entry = register_entry(session, version)
        if role.provides:
            gives.append(entry)
        if role.receives:
            gets.append(entry)
    return {"partner": dpo_contact(partner), "type": partner.type.label, "gives": gives,
            "gets": gets}  # fmt: skip

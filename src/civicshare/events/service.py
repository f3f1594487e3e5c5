"""Life events through the gateway: a registration published once reaches every partner that
holds the person and has an agreement to be told. Three kinds (`KINDS`), each with its own
registration dataset, purpose and actions, on the same path: deaths (the deceased is matched),
births (the mother is matched; the child is not in any partner's records yet) and changes of
address (the resident is matched at the previous address; the new address reaches only
partners whose agreement grants it).

Publishing (`publish`): the registration service's file (or JSON rows) is checked against its
registration dataset's contract, every problem named by row and field, nothing stored on error.
New entries join the entries already published as the dataset's next snapshot
(`datasets.service.push`; an entry published again unchanged is recognised, not repeated), the
person index links them (`linkage.person_index.run.run`), and each new event is matched.

Matching (`linkage.person_index.confidence`): an event is `matched` when strong links (model
probability at events_match_probability or above, or a reviewer's acceptance) reach other
partners' records and no review is open on them; `held` while a review is open (weaker links
are put to a reviewer), re-checked on every delivery pass; `unmatched` when nobody holds them.

Telling (`notify`): each partner reached, other than through the registration dataset itself,
whose service membership `sharing.service.decide` lets read the registration dataset for the
kind's purpose (death-notification, ...), gets one notification: one read per recipient and
dataset per batch through `sharing.delivery.share` (audited, with a receipt), the payload
built from the granted columns of the event's row only, plus the recipient's own record
references. Notifications are written in the same transaction as the event;
`outbox.deliver_due` sends them after commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements import service as agreements
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.db import utcnow
from civicshare.events import files
from civicshare.events.models import (
    DeliveryStatus,
    EventNotification,
    EventType,
    LifeEvent,
    MatchStatus,
)
from civicshare.partners import service as partners
from civicshare.partners.models import Role

PURPOSE = "death-notification"
BIRTH_PURPOSE = "birth-notification"
MOVE_PURPOSE = "change-of-address-notification"
SERVICE_EMAIL = "life-events@civicshare.invalid"
SERVICE_NAME = "Life event notifications (the gateway)"
DATE_OF_DEATH = "date_of_death"
# What a recipient does on a death, by the dataset its record is in (prefix before the district).
ACTIONS = {
    "council-tax": "Close the account or remove the single person discount",
    "housing-tenancies": "End the tenancy",
    "electoral-register": "Remove from the electoral register",
    "gp-registrations": "Deduct from the GP list",
    "over-65-register": "Remove from the over-65 register",
    "asc-clients": "Close the care package",
    "asc-care-packages": "Close the care package",
    "acute-admissions": "Cancel appointments and correspondence",
    "community-health": "Close community referrals and cancel visits",
    "home-fire-safety-visits": "Stop home fire safety visits",
    "priority-services-register": "Remove from the priority services register",
    "vulnerability-markers": "Review the vulnerability marker",
    "child-protection": "Tell the allocated social worker",
    "blue-badges": "Cancel the blue badge",
}
# On a death, a council tax account whose contract names the other liable persons: the action
# by whether the deceased was the only one (`files.joint_accounts`).
SOLE_ACCOUNT = "Close the account (the deceased was the only liable person)"
JOINT_ACCOUNT = (
    "Remove the deceased from the joint account; review the single person discount for the "
    "remaining liable person"
)
# On a birth (the recipient holds the mother).
BIRTH_ACTIONS = {
    "gp-registrations": "Invite the baby to register at the mother's practice",
    "community-health": "Arrange the health visitor's new birth visit",
    "child-protection": "Tell the allocated social worker of the new baby",
    "housing-tenancies": "Review the household's size and housing need",
    "council-tax": "Check the household: a new member may change the discount",
    "asc-clients": "Review the care and support plan for the new baby",
    "acute-admissions": "Update the maternity record",
}
# On a change of address (the recipient holds the resident at the previous address).
MOVE_ACTIONS = {
    "council-tax": "Update the correspondence address; review the single person discount",
    "electoral-register": "Re-register the elector at the new address",
    "housing-tenancies": "Check the tenancy: the tenant has told us of a move",
    "gp-registrations": "Update the registered address (or the practice boundary)",
    "over-65-register": "Update the correspondence address",
    "asc-clients": "Update the correspondence address and review the care package",
    "asc-care-packages": "Move the care package's visits to the new address",
    "acute-admissions": "Update the correspondence address",
    "community-health": "Update the address for home visits",
    "home-fire-safety-visits": "Stop visits at the previous address; offer one at the new",
    "priority-services-register": "Update the supply address",
    "blue-badges": "Update the badge holder's address",
}
OUTCOMES = {
    "done": "Done",
    "not-needed": "Nothing to do",
    "not-our-resident": "Not our resident (wrong match)",
}


class EventsError(DomainError):
    """A life events request the gateway refuses, in words the officer can act on."""


@dataclass(frozen=True)
class EventKind:
    """What one type of life event is published in and what its recipients are told."""

    type: EventType
    purpose: str  # the agreements' purpose code a recipient is decided under
    title: str  # "Death", as in "Death notification for ..."
    registrations: str  # what the provider publishes, for messages
    date_column: str  # the registration column holding the event's date
    actions: dict[str, str]


KINDS = {
    EventType.death: EventKind(
        EventType.death, PURPOSE, "Death", "death registrations", DATE_OF_DEATH, ACTIONS
    ),
    EventType.birth: EventKind(
        EventType.birth,
        BIRTH_PURPOSE,
        "Birth",
        "birth registrations",
        "child_date_of_birth",
        BIRTH_ACTIONS,
    ),  # fmt: skip
    EventType.change_of_address: EventKind(
        EventType.change_of_address,
        MOVE_PURPOSE,
        "Change of address",
        "changes of address",
        "moved_on",
        MOVE_ACTIONS,
    ),  # fmt: skip
}


def kind_of(value: str | EventType | None) -> EventKind:
    """The kind named `value` ("death", "birth", "change-of-address" or "change_of_address";
    None is a death), or EventsError naming the field `type`."""
    if value is None or value == "":
        return KINDS[EventType.death]
    try:
        return KINDS[EventType(str(value).replace("-", "_"))]
    except ValueError:
        raise EventsError(
            f"{value!r} is not a type of life event: use death, birth or change-of-address.",
            field="type",
            status=422,
        ) from None


def action_for(
    dataset: str, event_type: EventType = EventType.death, joint: bool | None = None
) -> str:
    """What the holder of a record in `dataset` does on the event. `joint`: for a council tax
    account on a death, whether it names another liable person (None: not known)."""
    if event_type == EventType.death and joint is not None and _is(dataset, "council-tax"):
        return JOINT_ACCOUNT if joint else SOLE_ACCOUNT
    for prefix, action in KINDS[event_type].actions.items():
        if dataset == prefix or dataset.startswith(prefix + "-"):
            return action
    return "Update your records"


def _is(dataset: str, prefix: str) -> bool:
    return dataset == prefix or dataset.startswith(prefix + "-")


# -- who publishes what -----------------------------------------------------------------------


@dataclass(frozen=True)
class Registrations:
    """The registration dataset a provider publishes deaths in, under an active agreement."""

    provider: str
    dataset: str
    agreement: str


def registrations_of(
    session: Session, partner_key: str, today: date | None = None, purpose: str = PURPOSE
):
    """The provider's registration dataset: the dataset it provides under an active agreement
    whose purposes include `purpose` (EventsError when there is none)."""
    for version in agreements.active_versions(session, today):
        if purpose not in version.purpose_codes():
            continue
        names = sorted({i.dataset for i in version.shared_items if i.provider.key == partner_key})
        if names:
            return Registrations(partner_key, names[0], version.reference)
    raise EventsError(
        f"{partner_key} provides no dataset under an active agreement with the purpose "
        f"{purpose}: publishing is refused.",
        field="file",
        status=403,
    )


def service_actor(session: Session, partner_key: str) -> Actor:
    """The gateway's own service membership of a partner (made the first time; it cannot sign
    in: it has no password): the recipient as which a notification's read is decided."""
    partner = partners.get_by_key(session, partner_key)
    if partner is None:
        raise EventsError(f"There is no partner {partner_key}.", field="partner", status=404)
    return partners.service_actor(
        session, partner, email=SERVICE_EMAIL, name=SERVICE_NAME, via="service"
    )


# -- publishing -------------------------------------------------------------------------------


@dataclass
class Published:
    dataset: str
    snapshot_version: int | None
    rows: int  # rows in the file
    unchanged: int  # entries already published with the same content
    events: list[LifeEvent] = field(default_factory=list)  # the new ones

    def count(self, status: MatchStatus) -> int:
        return sum(1 for e in self.events if e.status == status)

    @property
    def notifications(self) -> int:
        return sum(len(e.notifications) for e in self.events)


def publish(
    session: Session,
    settings: Settings,
    actor: Actor,
    data: bytes,
    *,
    file_name: str = "registrations.csv",
    via: str = "web",
    event_type: EventType = EventType.death,
) -> Published:
    """Publish registrations of one type (a CSV in that type's registration dataset's columns).
    Refused whole with every problem by row and field; otherwise new entries are pushed,
    linked, matched and told to their recipients, all in the caller's unit of work."""
    from civicshare.datasets import service as datasets
    from civicshare.linkage.person_index.run import run as index_run

    if not actor.has_role(Role.data_provider, Role.admin):
        raise EventsError(
            "Only a data provider or admin of the registration service can publish events.",
            field="file",
            status=403,
        )
    kind = KINDS[EventType(event_type)]
    where = registrations_of(session, actor.partner_key, purpose=kind.purpose)
    dataset = datasets.require_dataset(session, where.provider, where.dataset)
    contract = datasets.current_contract(session, dataset)
    if contract is None or not contract.record_id:
        raise EventsError(
            f"{where.dataset} has no contract naming its entry number (record_id).",
            field="dataset",
            status=409,
        )
    read = files.read_registrations(contract, data, file_name)
    snapshot = datasets.current_snapshot(session, where.provider, where.dataset, settings)
    earlier = files.own_rows(session, settings, actor, snapshot) if snapshot else []
    by_reference = {
        files.canon(row[contract.record_id]): {
            c.name: files.canon(row.get(c.name)) for c in contract.columns
        }
        for row in earlier
    }
    new_rows, references, conflicts, unchanged = [], [], [], 0
    for row_number, raw, values in zip(read.rows, read.raw, read.canonical, strict=True):
        reference = values[contract.record_id]
        known = by_reference.get(reference)
        if known is None:
            new_rows.append(raw)
            references.append(reference)
        elif known == values:
            unchanged += 1
        else:
            changed = next(c.name for c in contract.columns if known[c.name] != values[c.name])
            conflicts.append(
                f"row {row_number}, {changed}: entry {reference} was published before with a "
                "different value (a correction needs the registration service's amendment "
                "process)"
            )
    if conflicts:
        raise files.RegistrationFileError(
            f"{file_name}: {len(conflicts)} entr(y/ies) differ from what was published; "
            "nothing was stored. " + "; ".join(conflicts[:20]),
            conflicts,
        )
    result = Published(
        where.dataset, snapshot.version if snapshot else None, len(read.raw), unchanged
    )
    if not new_rows:
        return result
    body = files.snapshot_csv(contract, earlier, new_rows)
    pushed = datasets.push(
        session, settings, where.provider, where.dataset, _Bytes(body), file_name=file_name,
        actor=actor,
    )  # fmt: skip
    if pushed.outcome != "accepted":
        raise EventsError(
            f"The gateway refused the registrations: {'; '.join(pushed.report.get('reasons', []))}",
            field="file",
        )
    result.snapshot_version = pushed.snapshot.version
    now = utcnow()
    for reference in references:
        event = LifeEvent(
            reference=reference,
            event_type=kind.type,
            provider=where.provider,
            dataset=where.dataset,
            snapshot_version=pushed.snapshot.version,
            status=MatchStatus.held,
            received_at=now,
            received_via=via,
        )
        session.add(event)
        result.events.append(event)
    session.flush()
    audit.record(
        session,
        actor,
        "events.published",
        "dataset",
        f"{where.provider}/{where.dataset}",
        reason=f"{len(references)} new registration(s) published.",
        dataset=f"{where.provider}/{where.dataset}",
        row_count=len(references),
        details={
            "snapshot": pushed.snapshot.version,
            "unchanged": unchanged,
            "via": via,
            "type": kind.type.value,
        },
    )
    indexed = index_run(session, settings, actor=actor)
    family = [c.name for c in contract.columns if c.identifier.value == "family_name"][1:]
    maiden = {  # the index compares the first surname column; a maiden surname is asked about
        reference: [raw.get(c) for c in family if raw.get(c)]
        for reference, raw in zip(references, new_rows, strict=True)
    }
    _ask_about_records_apart(session, indexed, where, maiden, kind)
    notify(session, settings, result.events, via=via)
    return result


def recipient_parties(session: Session, purpose: str) -> set[str]:
    """The partners that receive under an active agreement with this purpose."""
    return {
        party.partner.key
        for version in agreements.active_versions(session)
        if purpose in version.purpose_codes()
        for party in version.parties
        if party.role.receives
    }


def _ask_about_records_apart(session, indexed, where, other_surnames, kind) -> int:
    """The new events' records that no link reaches, put to a reviewer; the event waits for
    them (linkage.person_index.elsewhere): a record at another address or under another surname
    (an elector still registered where the person used to live, or under her maiden name: a
    name, no date of birth), and a record the index linked to nobody whose name and date of
    birth agree (a fire visit to "Ms V Jones" at the house she left). `other_surnames`:
    reference -> the registration's other surnames. Only recipients of the kind's agreement
    are asked about. Returns how many review items were made."""
    from civicshare.linkage.person_index import elsewhere

    if indexed.run is None or indexed.linked is None:
        return 0
    linked = indexed.linked
    records = linked[
        (linked["source"] == f"{where.provider}/{where.dataset}")
        & linked["record_id"].isin(set(other_surnames))
    ]
    records = records.assign(other_surnames=[other_surnames[r] for r in records["record_id"]])
    recipients = recipient_parties(session, kind.purpose)
    return elsewhere.ask(session, records, indexed.attachment, recipients) + (
        elsewhere.ask_unlinked(
            session, records, indexed.records, recipients, registration_sources(session)
        )
    )


class _Bytes:
    """A file-like view of bytes for datasets.push (it seeks and reads)."""

    def __init__(self, data: bytes) -> None:
        import io

        self._io = io.BytesIO(data)

    def seek(self, *args):
        return self._io.seek(*args)

    def tell(self):
        return self._io.tell()

    def read(self, *args):
        return self._io.read(*args)


# -- matching and telling ---------------------------------------------------------------------


def _next_sequences(session: Session, recipients) -> dict[str, int]:
    rows = session.execute(
        select(EventNotification.recipient, func.max(EventNotification.sequence))
        .where(EventNotification.recipient.in_(list(recipients)))
        .group_by(EventNotification.recipient)
    ).all()
    return {recipient: top for recipient, top in rows}


def registration_sources(session: Session) -> set[str]:
    """The datasets events are published in ("partner/dataset"): registers, not services, so
    a record in one is never a reason to tell its partner."""
    rows = session.execute(select(LifeEvent.provider, LifeEvent.dataset).distinct()).all()
    return {f"{provider}/{dataset}" for provider, dataset in rows}


def match(
    session: Session, settings: Settings, event: LifeEvent, found=None, registers=None
) -> dict[str, list]:
    """Set the event's match status; the records of each other partner surely the same person
    (partner -> [(dataset, record id)]), empty unless matched. `found`: the index's answer for
    the event's record when the caller asked for many at once (`confidence.match_many`);
    `registers`: `registration_sources`, when the caller read it already."""
    from civicshare.linkage.person_index.confidence import record_match

    source = f"{event.provider}/{event.dataset}"
    if found is None:
        found = record_match(
            session, source, event.reference, settings.events_match_probability, beyond=True
        )
    event.person_key = found.person_key
    holders: dict[str, list] = defaultdict(list)
    if registers is None:
        registers = registration_sources(session)
    for other_source, record_id in found.same_person:
        if other_source == source:
            continue  # the registration dataset itself (a duplicate entry) is no recipient
        if other_source in registers:
            continue  # nor another register of life events (the mother's birth registration)
        partner, _, dataset = other_source.partition("/")
        holders[partner].append((dataset, record_id))
    event.awaiting_review = bool(found.open_reviews)
    if holders or event.notifications:
        # the sure recipients are told now (or were: a re-check after a reviewer's rejection
        # may find fewer, but who was told stays told)
        event.status = MatchStatus.matched
    elif found.open_reviews:
        event.status = MatchStatus.held
    else:
        event.status = MatchStatus.unmatched
    return dict(holders)


def notify(session: Session, settings: Settings, events: list[LifeEvent], *, via: str) -> int:
    """Match each event and write a notification for each recipient allowed to be told. One
    decided, audited read of the registration dataset per recipient. Returns how many."""
    from civicshare.linkage.person_index.confidence import match_many
    from civicshare.sharing import delivery
    from civicshare.sharing.service import ShareRequest, decide

    # One read of the index for all the events (not one per event), and one read per recipient
    # and registration dataset (a re-check may mix deaths and births).
    answers = match_many(
        session,
        [(f"{e.provider}/{e.dataset}", e.reference) for e in events],
        settings.events_match_probability,
        beyond=True,
        ask_partners=set().union(
            *(recipient_parties(session, KINDS[t].purpose) for t in {e.event_type for e in events})
        ),
    )
    registers = registration_sources(session)
    _load_notifications(session, events)
    wanted: dict[tuple[str, str, str], list[tuple[LifeEvent, list]]] = defaultdict(list)
    for event in events:
        told = {n.recipient for n in event.notifications}
        found = answers[(f"{event.provider}/{event.dataset}", event.reference)]
        for partner, records in match(session, settings, event, found, registers).items():
            if partner not in told:  # once per event and recipient, whatever is re-checked
                wanted[(partner, event.provider, event.dataset)].append((event, records))
    made = 0
    sequences = _next_sequences(session, {recipient for recipient, _, _ in wanted})
    entries = []
    now = utcnow()
    for recipient, provider, dataset in sorted(wanted):
        pairs = wanted[(recipient, provider, dataset)]
        kind = KINDS[pairs[0][0].event_type]
        actor = service_actor(session, recipient)
        request = ShareRequest(
            actor=actor,
            purpose=kind.purpose,
            provider=provider,
            dataset=dataset,
            note="life event notification",
        )
        decision = decide(session, request)
        if not decision.allowed:
            # Decided before reading: a partner without an agreement is never read for. Only
            # the audit log says so: the event's page must not tell who else holds the person.
            entries.append(
                audit.Entry(
                    None,
                    "events.recipient_withheld",
                    "partner",
                    recipient,
                    {
                        "reason": decision.reason,
                        "purpose": kind.purpose,
                        "outcome": "denied",
                        "details": {"events": len(pairs), "clause": decision.clause},
                    },
                )
            )
            continue
        read = delivery.share(session, settings, request, via=via)
        granted = [c.column for c in read.decision.grant.columns]
        reference_column = _reference_column(session, provider, dataset)
        if reference_column not in granted:
            for event, _ in pairs:
                _told(event, recipient, "withheld", "the agreement does not share the entry")
            continue
        rows = {files.canon(r[reference_column]): r for r in read.table.to_pylist()}
        joint = (
            _joint_accounts(session, settings, actor, pairs) if kind.type == EventType.death else {}
        )
        for event, records in pairs:
            row = rows.get(event.reference)
            if row is None:
                _told(event, recipient, "withheld", "outside the agreement's row scope")
                continue
            sequences[recipient] = sequences.get(recipient, 0) + 1
            notification = _notification(
                event, recipient, sequences[recipient], read, granted, reference_column, row,
                records, now, joint,
            )  # fmt: skip
            session.add(notification)
            _told(event, recipient, "notified", "")
            event.published_at = now
            made += 1
            entries.append(
                audit.Entry(
                    None,
                    "events.notification_created",
                    "life_event",
                    event.reference,
                    {
                        "reason": f"{kind.title} notification for {recipient}.",
                        "purpose": kind.purpose,
                        "agreement_ref": read.decision.agreement,
                        "dataset": f"{provider}/{dataset}",
                        "columns": granted,
                        "outcome": "allowed",
                        "details": {
                            "recipient": recipient,
                            "delivery_id": notification.delivery_id,
                            "sequence": notification.sequence,
                            "receipt": read.receipt_id,
                            "records": len(records),
                        },
                    },
                )
            )
    session.flush()
    audit.append_many(session, entries)
    return made


def _load_notifications(session: Session, events: list[LifeEvent]) -> None:
    """Each event's notifications in one read for them all (each event read its own when
    first asked: a query per event)."""
    from sqlalchemy.orm.attributes import set_committed_value

    ids = [e.id for e in events if e.id is not None and "notifications" not in e.__dict__]
    found: dict[int, list[EventNotification]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        for notification in session.scalars(
            select(EventNotification)
            .where(EventNotification.event_id.in_(ids[start : start + 500]))
            .order_by(EventNotification.id)  # as the relationship orders them
        ):
            found[notification.event_id].append(notification)
    wanted = set(ids)
    for event in events:
        if event.id in wanted:
            set_committed_value(event, "notifications", found[event.id])


def _joint_accounts(session: Session, settings: Settings, actor: Actor, pairs) -> dict:
    """(dataset, record id) -> whether the recipient's council tax account names another
    liable person, for the accounts among `pairs`' records (read from the recipient's own
    current snapshot, once per dataset; `files.joint_accounts`)."""
    from civicshare.datasets import service as datasets

    wanted: dict[str, set[str]] = defaultdict(set)
    for _, records in pairs:
        for dataset, record_id in records:
            if _is(dataset, "council-tax"):
                wanted[dataset].add(record_id)
    found = {}
    for dataset, ids in sorted(wanted.items()):
        snapshot = datasets.current_snapshot(session, actor.partner_key, dataset, settings)
        if snapshot is None:
            continue
        joint = files.joint_accounts(session, settings, actor, snapshot, ids) or {}
        found.update({(dataset, record_id): value for record_id, value in joint.items()})
    return found


def _reference_column(session: Session, provider: str, dataset: str) -> str:
    from civicshare.datasets import service as datasets

    contract = datasets.current_contract(
        session, datasets.require_dataset(session, provider, dataset)
    )
    return contract.record_id if contract and contract.record_id else ""


def _told(event: LifeEvent, recipient: str, outcome: str, reason: str) -> None:
    kept = [r for r in (event.recipients or []) if r.get("partner") != recipient]
    event.recipients = [*kept, {"partner": recipient, "outcome": outcome, "reason": reason}]


def _notification(
    event, recipient, sequence, read, granted, reference_column, row, records, now, joint
) -> EventNotification:
    delivery_id = str(uuid.uuid4())
    details = {
        ("reference" if c == reference_column else c): files.canon(row.get(c)) or None
        for c in granted
    }
    kind = KINDS[event.event_type]
    when = row.get(kind.date_column) if kind.date_column in granted else None
    payload = {
        "delivery_id": delivery_id,
        "type": event.event_type.value,
        "provider": event.provider,
        "recipient": recipient,
        "sequence": sequence,
        "agreement": read.decision.agreement,
        "event": details,
        "records": [{"dataset": d, "record_id": r} for d, r in sorted(records)],
        "published_at": now.isoformat(),
    }
    return EventNotification(
        event=event,
        recipient=recipient,
        sequence=sequence,
        delivery_id=delivery_id,
        agreement=read.decision.agreement or "",
        receipt_id=read.receipt_id,
        payload=payload,
        action="; ".join(
            sorted({action_for(d, event.event_type, joint.get((d, r))) for d, r in records})
        ),
        status=DeliveryStatus.pending,
        next_attempt_at=now,
        created_at=now,
        event_date=when if isinstance(when, date) else None,
    )


def recheck_held(session: Session, settings: Settings) -> int:
    """Events held or awaiting a review matched again (a review may have been decided):
    notifications for the partners now certain. Returns how many notifications were made."""
    from sqlalchemy import or_

    waiting = list(
        session.scalars(
            select(LifeEvent).where(
                or_(LifeEvent.status == MatchStatus.held, LifeEvent.awaiting_review.is_(True))
            )
        )
    )
    if not waiting:
        return 0
    return notify(session, settings, waiting, via="worker")


def get_event(session: Session, event_id: int) -> LifeEvent:
    event = session.get(LifeEvent, event_id)
    if event is None:
        raise EventsError(f"There is no life event {event_id}.", field="id", status=404)
    return event


def list_events(session: Session, provider: str | None = None, limit: int = 200):
    query = select(LifeEvent).order_by(LifeEvent.id.desc()).limit(limit)
    if provider:
        query = query.where(LifeEvent.provider == provider)
    return list(session.scalars(query))


def summary(session: Session) -> dict[str, Any]:
    """Counts for the pages: events by status, notifications by status."""
    events = dict(
        session.execute(select(LifeEvent.status, func.count()).group_by(LifeEvent.status)).all()
    )
    notes = dict(
        session.execute(
            select(EventNotification.status, func.count()).group_by(EventNotification.status)
        ).all()
    )
    return {
        "events": {s.value: events.get(s, 0) for s in MatchStatus},
        "notifications": {s.value: notes.get(s, 0) for s in DeliveryStatus},
    }

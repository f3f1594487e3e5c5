"""Rectification and erasure passed on to every partner that received the record.

    decide_correction(...) -> Correction   # the IG lead's decision; a task per recipient
    confirm_task(...)                     # a recipient confirms it applied it (UI or API)
    remind(...)                           # open tasks reminded (in-app and e-mail)
    check_snapshot(...)                   # the provider's next snapshot carries it, or not

Who received the record comes from the delivery receipts of its dataset (other than the
provider itself and the gateway's own subject access reads). A delivery under an agreement
whose row conditions the record does not meet did not carry it: that recipient gets no task.
Conditions the gateway cannot check from the record alone (an age band, the recipient's
district) count as carried: a recipient asked needlessly confirms "not held".
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.identity import Role
from civicshare.db import utcnow
from civicshare.rights.access import service
from civicshare.rights.access.models import (
    AccessRequest,
    Correction,
    CorrectionKind,
    CorrectionStatus,
    CorrectionTask,
    SnapshotCheck,
)
from civicshare.rights.access.service import AccessError

OUTCOMES = {"applied": "Applied to what we received", "not-held": "We do not hold it"}
CONFIRMING_ROLES = (Role.ig_lead, Role.admin, Role.data_provider)
REMIND_AFTER_DAYS = 7
KINDS = {"rectify": "Rectification", "erase": "Erasure"}


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def recipients_of(session: Session, source: str, row: dict) -> dict[str, list[int]]:
    """Recipient partner -> the receipts of deliveries of `source` that carried this record."""
    provider = source.partition("/")[0]
    carried: dict[str, list[int]] = defaultdict(list)
    for delivery in service.sharing_history(session, {source}):
        if delivery["recipient"] != provider and service.carried(session, delivery, row):
            carried[delivery["recipient"]].append(delivery["receipt"])
    return dict(carried)


def _next_reference(session: Session) -> str:
    return service._next_reference(session, Correction, "COR")


def decide_correction(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    source: str,
    record_id: str,
    kind: str,
    reason: str,
    column: str | None = None,
    value: str | None = None,
    access_request: AccessRequest | None = None,
) -> Correction:
    """Record a decision to rectify a column of a record (to `value`) or erase the record, and
    give each partner that received it a task to apply it."""
    from civicshare.datasets import service as datasets

    service.require_rights_officer(actor, settings)
    if kind not in KINDS:
        raise AccessError(f"Say rectify or erase, not {kind!r}.", field="kind")
    reason = _text(reason)
    if not reason:
        raise AccessError("Give the reason for the decision.", field="reason")
    refusal = audit.identifier_refusal("Reasons", reason)
    if refusal:
        raise AccessError(refusal, field="reason")
    provider, _, dataset = source.partition("/")
    snapshot = datasets.current_snapshot(session, provider, dataset, settings)
    if snapshot is None:
        raise AccessError(f"There is no dataset {source} with a snapshot.", field="source")
    contract = datasets.current_contract(
        session, datasets.require_dataset(session, provider, dataset)
    )
    names = [c.name for c in contract.columns] if contract else []
    if kind == "rectify" and (not column or column not in names):
        raise AccessError(
            f"Name the column to correct, one of: {', '.join(names)}.", field="column"
        )
    note = access_request.reference if access_request else "rectification or erasure"
    rows = service.read_records(session, settings, actor, source, [record_id], note=note)
    if rows.num_rows == 0:
        raise AccessError(
            f"{source} has no record {record_id} in its current snapshot.", field="record_id"
        )
    row = rows.to_pylist()[0]
    wrapped = sealed = None
    if kind == "rectify":
        if not column or column not in rows.column_names:
            raise AccessError(
                f"Name the column to correct, one of: {', '.join(rows.column_names)}.",
                field="column",
            )
        if value is None or not _text(value):
            raise AccessError("Give the corrected value.", field="value")
        wrapped, sealed = service.seal(settings, _text(value), "rights/correction")
    correction = Correction(
        reference=_next_reference(session),
        access_request_id=access_request.id if access_request else None,
        kind=CorrectionKind(kind),
        provider=provider,
        dataset=dataset,
        record_id=record_id,
        column=column if kind == "rectify" else None,
        wrapped_key=wrapped,
        sealed_value=sealed,
        reason=reason,
        decided_by=actor.membership_id,
        snapshot_version=snapshot.version,
    )
    session.add(correction)
    for recipient, receipts in sorted(recipients_of(session, source, row).items()):
        correction.tasks.append(CorrectionTask(recipient=recipient, receipts=receipts))
    session.flush()
    _tell(session, settings, correction, correction.tasks, first=True)
    audit.record(
        session,
        actor,
        f"rights.{kind}_decided",
        "correction",
        correction.reference,
        reason=reason,
        purpose="subject-access",
        dataset=source,
        columns=[column] if column else [],
        details={
            "recipients": [t.recipient for t in correction.tasks],
            "snapshot": snapshot.version,
        },
    )
    return correction


def _tell(
    session: Session, settings: Settings, correction: Correction, tasks, *, first: bool
) -> int:
    """Notify each task's recipient (its IG leads); first time, the provider too."""
    from civicshare.notifications import service as notifications

    what = KINDS[correction.kind.value]
    done = "corrected" if correction.kind == CorrectionKind.rectify else "erased"
    told = 0
    for task in tasks:
        prefix = "" if first else "Reminder: "
        told += len(
            notifications.notify(
                session,
                settings,
                to_partner=task.recipient,
                role=Role.ig_lead,
                subject=f"{prefix}{what} {correction.reference} to apply",
                body=(
                    f"A record of {correction.provider}/{correction.dataset} that you received "
                    f"is to be {done}. "
                    "Apply it to your copy and confirm."
                ),
                link=f"/rights/access/tasks/{task.id}",
            )
        )
    if first:
        told += len(
            notifications.notify(
                session,
                settings,
                to_partner=correction.provider,
                role=Role.ig_lead,
                subject=f"{what} {correction.reference} in your {correction.dataset}",
                body="Correct the source record; your next snapshot is checked to carry it.",
                link=f"/rights/access/corrections/{correction.reference}",
            )
        )
    return told


def get_correction(session: Session, reference: str) -> Correction:
    found = session.scalars(
        select(Correction).where(Correction.reference == reference.strip().upper())
    ).one_or_none()
    if found is None:
        raise AccessError(f"There is no correction {reference}.", status=404)
    return found


def list_corrections(session: Session) -> list[Correction]:
    return list(session.scalars(select(Correction).order_by(Correction.id.desc())))


def tasks_for(session: Session, partner_key: str, *, open_only: bool = False):
    query = select(CorrectionTask).where(CorrectionTask.recipient == partner_key)
    if open_only:
        query = query.where(CorrectionTask.confirmed_at.is_(None))
    return list(session.scalars(query.order_by(CorrectionTask.id.desc())))


def get_task(session: Session, task_id: int) -> CorrectionTask:
    task = session.get(CorrectionTask, task_id)
    if task is None:
        raise AccessError(f"There is no correction task {task_id}.", status=404)
    return task


def _settle(correction: Correction) -> None:
    done = all(t.confirmed_at is not None for t in correction.tasks)
    carried = correction.snapshot_check == SnapshotCheck.carried
    correction.status = CorrectionStatus.complete if done and carried else CorrectionStatus.open


def confirm_task(
    session: Session, actor: Actor, task: CorrectionTask, outcome: str, note: str = ""
) -> CorrectionTask:
    """The recipient says it applied the correction to what it received (or holds none)."""
    if actor.partner_key != task.recipient or not actor.has_role(*CONFIRMING_ROLES):
        raise AccessError(
            f"Only an IG lead, admin or data provider of {task.recipient} confirms this task.",
            field="actor",
            status=403,
        )
    if outcome not in OUTCOMES:
        raise AccessError(f"Outcome must be one of: {', '.join(OUTCOMES)}.", field="outcome")
    if task.confirmed_at is not None:
        raise AccessError("This task is confirmed already.", status=409)
    note = _text(note)
    refusal = audit.identifier_refusal("Notes", note)
    if refusal:
        raise AccessError(refusal, field="note")
    task.outcome, task.note = outcome, note
    task.confirmed_at, task.confirmed_by = utcnow(), actor.membership_id
    _settle(task.correction)
    audit.record(
        session,
        actor,
        "rights.correction_confirmed",
        "correction",
        task.correction.reference,
        reason=OUTCOMES[outcome],
        details={"recipient": task.recipient},
    )
    return task


def remind(session: Session, settings: Settings, *, after_days: int = REMIND_AFTER_DAYS, now=None):
    """Remind every recipient whose task has been open `after_days` since it was set or last
    reminded. Returns how many tasks were reminded."""
    now = now or utcnow()
    due = now - timedelta(days=after_days)
    reminded = 0
    for correction in session.scalars(
        select(Correction).where(Correction.status == CorrectionStatus.open)
    ):
        late = [
            t
            for t in correction.tasks
            if t.confirmed_at is None and _aware(t.reminded_at or t.created_at) <= due
        ]
        if not late:
            continue
        for task in late:
            task.reminders += 1
            task.reminded_at = now
        _tell(session, settings, correction, late, first=False)
        reminded += len(late)
    return reminded


def _aware(when):
    from datetime import UTC

    return when if when.tzinfo else when.replace(tzinfo=UTC)


def check_snapshot(
    session: Session, settings: Settings, actor: Actor, correction: Correction
) -> SnapshotCheck:
    """Whether the provider's snapshot after the decision carries it: the corrected value
    present, or the erased record absent. Read through the subject access grant."""
    from civicshare.datasets import service as datasets

    service.require_rights_officer(actor, settings)
    source = f"{correction.provider}/{correction.dataset}"
    snapshot = datasets.current_snapshot(session, correction.provider, correction.dataset, settings)
    if snapshot is None or snapshot.version <= correction.snapshot_version:
        correction.snapshot_check = SnapshotCheck.waiting
        return correction.snapshot_check
    rows = service.read_records(
        session, settings, actor, source, [correction.record_id], note=correction.reference
    ).to_pylist()
    if correction.kind == CorrectionKind.erase:
        carried = not rows
    else:
        wanted = service.unseal(
            settings, correction.wrapped_key, correction.sealed_value, "rights/correction"
        )
        carried = bool(rows) and all(
            _text(r.get(correction.column)).upper() == wanted.upper() for r in rows
        )
    correction.snapshot_check = SnapshotCheck.carried if carried else SnapshotCheck.not_carried
    correction.checked_version, correction.checked_at = snapshot.version, utcnow()
    _settle(correction)
    audit.record(
        session,
        actor,
        "rights.correction_checked",
        "correction",
        correction.reference,
        reason=f"Snapshot {snapshot.version}: {correction.snapshot_check.value}.",
        dataset=source,
        details={"snapshot": snapshot.version},
    )
    return correction.snapshot_check


def as_dict(correction: Correction) -> dict[str, Any]:
    return {
        "reference": correction.reference,
        "kind": correction.kind.value,
        "source": f"{correction.provider}/{correction.dataset}",
        "record_id": correction.record_id,
        "column": correction.column,
        "reason": correction.reason,
        "status": correction.status.value,
        "snapshot_version": correction.snapshot_version,
        "snapshot_check": correction.snapshot_check.value,
        "checked_version": correction.checked_version,
        "tasks": [
            {
                "id": t.id,
                "recipient": t.recipient,
                "receipts": t.receipts,
                "confirmed": t.confirmed_at is not None,
                "outcome": t.outcome,
                "reminders": t.reminders,
            }
            for t in correction.tasks
        ],
    }

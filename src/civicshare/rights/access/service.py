"""Subject access across the partnership: find every record about the person who asked, what
was shared of it, with whom and why, and export what is surely theirs.

    open_request(session, settings, actor, details, received_on) -> AccessRequest
    decide_record(session, actor, request, record_id, confirm=True | False)
    extend(session, actor, request, reason)
    export(session, settings, actor, request) -> Export (a ZIP of CSVs and an HTML summary)

Finding (finding.find_records): each person-holding dataset's identifier columns are read
through the person index's internal grant (audited) and compared with the details given
(matching.compare). Confident records and those the person index links to them strongly are
exported; weaker candidates wait for the IG lead.
Reading the records themselves (the export, the history's row conditions) goes through
sharing.delivery.share under the statutory subject access grant (sharing.service
SUBJECT_ACCESS), naming the records: audited, with a receipt, nothing else read.
"""

from __future__ import annotations

import calendar
import io
import json
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare import csvsafe
from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.core.identity import Role
from civicshare.db import utcnow
from civicshare.rights.access import matching
from civicshare.rights.access.finding import find_records
from civicshare.rights.access.models import (
    EXPORTED,
    AccessRecord,
    AccessRequest,
    Match,
    RequestStatus,
)

ROLES = (Role.ig_lead, Role.admin)
MONTHS_TO_ANSWER = 1
MONTHS_EXTENDED = 2  # UK GDPR Article 12(3): by two further months where necessary


class AccessError(DomainError):
    """A subject access request the gateway refuses, in words the IG lead can act on."""


def require_rights_officer(actor: Actor, settings: Settings) -> None:
    """Only an IG lead or admin of the partner that runs the gateway (the partnership's rights
    desk) opens and answers requests: the export holds every partner's records."""
    if actor.partner_key != settings.host_partner or not actor.has_role(*ROLES):
        raise AccessError(
            f"Only an IG lead or admin of {settings.host_partner} (the partnership's rights "
            "desk) may handle subject access requests.",
            field="actor",
            status=403,
        )


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day (31 January + 1 = 28/29 February)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- sealing the details ---------------------------------------------------------------------


def seal(settings: Settings, text: str, label: str) -> tuple[str, bytes]:
    from civicshare.identity import service as identity

    key, wrapped = identity.new_data_key(settings)
    sealed = identity.encrypt_values(key, pa.array([text]), f"civicshare/{label}".encode(), 0)
    return wrapped, sealed[0].as_py()


def unseal(settings: Settings, wrapped: str, sealed: bytes, label: str) -> str:
    from civicshare.identity import service as identity

    key = identity.unwrap_data_key(settings, wrapped)
    return identity.decrypt_values(
        key, pa.array([sealed], pa.binary()), f"civicshare/{label}".encode()
    )[0].as_py()


def details_of(settings: Settings, request: AccessRequest) -> matching.Details:
    text = unseal(settings, request.wrapped_key, request.sealed_details, "rights/access")
    return matching.Details.from_json(json.loads(text))


def _next_reference(session: Session, model, prefix: str) -> str:
    count = session.scalar(select(func.count()).select_from(model)) or 0
    return f"{prefix}-{count + 1:04d}"


def open_request(
    session: Session,
    settings: Settings,
    actor: Actor,
    person: matching.Details,
    received_on: date | None = None,
) -> AccessRequest:
    """A new request: the details sealed, the records found, the deadline set."""
    require_rights_officer(actor, settings)
    received_on = received_on or date.today()
    if received_on > date.today():
        raise AccessError("The request cannot be received in the future.", field="received_on")
    wrapped, sealed = seal(settings, json.dumps(person.as_json()), "rights/access")
    request = AccessRequest(
        reference=_next_reference(session, AccessRequest, "SAR"),
        opened_by=actor.membership_id,
        received_on=received_on,
        due_on=add_months(received_on, MONTHS_TO_ANSWER),
        wrapped_key=wrapped,
        sealed_details=sealed,
    )
    session.add(request)
    session.flush()
    found = find_records(session, settings, actor, person, request.reference)
    for (source, record_id), (match, how) in sorted(found.records.items()):
        request.records.append(
            AccessRecord(source=source, record_id=record_id, match=match, how=how)
        )
    session.flush()
    counts = _counts(request)
    audit.record(
        session,
        actor,
        "rights.access_opened",
        "access_request",
        request.reference,
        reason=(
            f"Subject access request opened: {counts['exported']} record(s) found, "
            f"{counts['uncertain']} uncertain."
        ),
        purpose="subject-access",
        details={"received_on": received_on.isoformat(), "due_on": request.due_on.isoformat()},
    )
    return request


def _counts(request: AccessRequest) -> dict[str, int]:
    out = {"exported": 0, "uncertain": 0, "excluded": 0}
    for record in request.records:
        if record.match in EXPORTED:
            out["exported"] += 1
        elif record.match == Match.uncertain:
            out["uncertain"] += 1
        else:
            out["excluded"] += 1
    return out


def get_request(session: Session, reference: str) -> AccessRequest:
    request = session.scalars(
        select(AccessRequest).where(AccessRequest.reference == reference.strip().upper())
    ).one_or_none()
    if request is None:
        raise AccessError(f"There is no subject access request {reference}.", status=404)
    return request


def list_requests(session: Session) -> list[AccessRequest]:
    return list(session.scalars(select(AccessRequest).order_by(AccessRequest.id.desc())))


def overdue(request: AccessRequest, today: date | None = None) -> bool:
    return request.status == RequestStatus.open and (today or date.today()) > request.due_on


def decide_record(
    session: Session, actor: Actor, request: AccessRequest, record_id: int, *, confirm: bool
) -> AccessRecord:
    """The IG lead confirms an uncertain candidate as the person's (exported) or excludes it."""
    record = next((r for r in request.records if r.id == record_id), None)
    if record is None:
        raise AccessError(f"{request.reference} has no record {record_id}.", status=404)
    if record.match not in (Match.uncertain, Match.confirmed, Match.excluded):
        raise AccessError(
            "Only an uncertain candidate is confirmed or excluded; this record was matched surely.",
            field="record",
            status=409,
        )
    record.match = Match.confirmed if confirm else Match.excluded
    record.decided_by, record.decided_at = actor.membership_id, utcnow()
    audit.record(
        session,
        actor,
        "rights.access_confirmed" if confirm else "rights.access_excluded",
        "access_request",
        request.reference,
        reason=f"Candidate {record.source} {record.record_id} {record.match.value}.",
        purpose="subject-access",
        dataset=record.source,
    )
    return record


def extend(session: Session, actor: Actor, request: AccessRequest, reason: str) -> AccessRequest:
    """Two more months, once, with the reason (complex or numerous requests)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise AccessError("Say why the request needs longer.", field="reason")
    refusal = audit.identifier_refusal("Reasons", reason)
    if refusal:
        raise AccessError(refusal, field="reason")
    if request.extended:
        raise AccessError(f"{request.reference} has been extended already.", status=409)
    request.extended, request.extension_reason = True, reason
    request.due_on = add_months(request.received_on, MONTHS_TO_ANSWER + MONTHS_EXTENDED)
    audit.record(
        session,
        actor,
        "rights.access_extended",
        "access_request",
        request.reference,
        reason=reason,
        purpose="subject-access",
        details={"due_on": request.due_on.isoformat()},
    )
    return request


# -- what was shared ------------------------------------------------------------------------


def read_records(
    session: Session,
    settings: Settings,
    actor: Actor,
    source: str,
    record_ids: list[str],
    *,
    note: str,
) -> pa.Table:
    """The named records of one dataset, every column, under the subject access grant."""
    from civicshare.sharing import delivery
    from civicshare.sharing.service import SUBJECT_ACCESS, ShareRequest

    provider, _, dataset = source.partition("/")
    read = delivery.share(
        session,
        settings,
        ShareRequest(
            actor=actor,
            purpose=SUBJECT_ACCESS,
            provider=provider,
            dataset=dataset,
            records=tuple(record_ids),
            note=note,
            scope="rights:write",
        ),
        via="rights",
    )
    return read.table


def sharing_history(session: Session, sources: set[str]) -> list[dict[str, Any]]:
    """Every delivery of these datasets (from the receipts), oldest first: to whom, under
    which agreement, for which purpose. The gateway's own subject access reads are not
    sharing and are left out."""
    from civicshare.sharing import delivery

    return delivery.deliveries_of(session, sources)


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _meets(condition, row: dict) -> bool:
    """Whether a record meets one of an agreement's row conditions (see dataplane.grant)."""
    from civicshare.dataplane.grant import ConditionOp

    value = row.get(condition.column)
    if condition.op == ConditionOp.is_null:
        return value is None
    if condition.op == ConditionOp.is_not_null:
        return value is not None
    if value is None:
        return False
    if condition.op in (ConditionOp.equals, ConditionOp.one_of):
        return _text(value).upper() in {_text(v).upper() for v in condition.values}
    number = isinstance(value, int | float)

    def typed(bound):
        return None if bound is None else (float(bound) if number else _text(bound))

    held = float(value) if number else _text(value)
    low, high = typed(condition.low), typed(condition.high)
    return (low is None or held >= low) and (high is None or held <= high)


def carried(session: Session, delivery: dict[str, Any], row: dict) -> bool:
    """Whether a delivery (from sharing_history) carried this record: it met the row
    conditions of the agreement version delivered under. Conditions the record alone cannot
    answer (an age band, the recipient's district) count as met."""
    from civicshare.agreements import service as agreements
    from civicshare.dataplane.grant import conditions_for

    version = agreements.version_of(
        agreements.get(session, delivery["agreement"]), delivery["agreement_version"]
    )
    conditions = conditions_for(version.row_scope, delivery["provider"], delivery["dataset"])
    return all(_meets(c, row) for c in conditions)


def _history_of(session: Session, tables: dict[str, pa.Table]) -> list[dict[str, Any]]:
    """The deliveries that carried at least one of the person's records, each naming them."""
    out = []
    for delivery in sharing_history(session, set(tables)):
        table = tables[delivery["source"]]
        record_id = _record_id_column(session, delivery["provider"], delivery["dataset"])
        ids = [
            str(row.get(record_id)) for row in table.to_pylist() if carried(session, delivery, row)
        ]
        if ids:
            out.append({**delivery, "your_records": ", ".join(ids)})
    return out


def _record_id_column(session: Session, provider: str, dataset: str) -> str:
    from civicshare.datasets import service as datasets

    contract = datasets.current_contract(
        session, datasets.require_dataset(session, provider, dataset)
    )
    return contract.record_id if contract else ""


# -- the export -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    file_name: str
    data: bytes
    records: int
    files: list[str]


def export(session: Session, settings: Settings, actor: Actor, request: AccessRequest) -> Export:
    """A ZIP: one CSV per dataset of the records surely the person's (safe writer), the
    sharing history as a CSV, and summary.html for the person."""
    from civicshare.rights.access import summary

    require_rights_officer(actor, settings)
    by_source: dict[str, list[str]] = defaultdict(list)
    for record in request.records:
        if record.match in EXPORTED:
            by_source[record.source].append(record.record_id)
    buffer = io.BytesIO()
    names, tables = [], {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sorted(by_source):
            table = read_records(
                session, settings, actor, source, by_source[source], note=request.reference
            )
            tables[source] = table
            name = f"records/{source.replace('/', '__')}.csv"
            archive.writestr(name, csvsafe.table_bytes(table))
            names.append(name)
        history = _history_of(session, tables)
        archive.writestr(
            "sharing-history.csv",
            csvsafe.rows_text(
                ([h[c] for c in summary.HISTORY_COLUMNS] for h in history),
                header=summary.HISTORY_COLUMNS,
            ),
        )
        archive.writestr("summary.html", summary.html(session, settings, request, tables, history))
        names += ["sharing-history.csv", "summary.html"]
    total = sum(t.num_rows for t in tables.values())
    audit.record(
        session,
        actor,
        "rights.access_exported",
        "access_request",
        request.reference,
        reason=f"Export of {total} record(s) from {len(tables)} dataset(s).",
        purpose="subject-access",
        row_count=total,
        details={"datasets": sorted(tables)},
    )
    return Export(f"{request.reference}.zip", buffer.getvalue(), total, names)


def complete(session: Session, actor: Actor, request: AccessRequest) -> AccessRequest:
    """The export was given to the requester: the request is answered."""
    if any(r.match == Match.uncertain for r in request.records):
        raise AccessError(
            "Confirm or exclude every uncertain candidate before completing the request.",
            field="records",
            status=409,
        )
    request.status, request.completed_at = RequestStatus.completed, utcnow()
    audit.record(
        session,
        actor,
        "rights.access_completed",
        "access_request",
        request.reference,
        reason="Answered.",
        purpose="subject-access",
    )
    return request


def as_dict(request: AccessRequest, today: date | None = None) -> dict[str, Any]:
    return {
        "reference": request.reference,
        "status": request.status.value,
        "received_on": request.received_on.isoformat(),
        "due_on": request.due_on.isoformat(),
        "extended": request.extended,
        "extension_reason": request.extension_reason,
        "overdue": overdue(request, today),
        "counts": _counts(request),
        "records": [
            {
                "id": r.id,
                "source": r.source,
                "record_id": r.record_id,
                "match": r.match.value,
                "how": r.how,
            }
            for r in request.records
        ],
    }


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""

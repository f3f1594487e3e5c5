"""Life events over HTTP: publishing registrations (a bearer token, or the registration
system's signed JSON), a recipient's notifications (pull, acknowledge, record the outcome, CSV)
and the outbox for the gateway's admins (list, replay)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from civicshare.accounts.api import REQUEST_SIGNATURE, ActorDep, ApiRouter
from civicshare.db import MAX_ROW_ID, RowId, SessionDep
from civicshare.events import files, inbox, service

router = ApiRouter(prefix="/api/events", tags=["events"])
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class EventOut(BaseModel):
    id: int
    reference: str
    type: str
    status: str
    awaiting_review: bool
    told: list[str]


class PublishedOut(BaseModel):
    dataset: str
    snapshot_version: int | None
    rows: int
    unchanged: int
    events: list[EventOut]
    notifications: int


class NotificationOut(BaseModel):
    id: int
    sequence: int
    delivery_id: str
    event_reference: str | None
    event_type: str | None
    date_of_death: str | None
    event_date: str | None = Field(description="The date of death, of birth or of the move.")
    new_address: str | None = Field(
        description="Changes of address: only where your agreement grants the new address."
    )
    new_postcode: str | None
    records: list[dict[str, str]]
    action: str
    status: str
    outcome: str | None
    outcome_note: str
    outcome_at: str | None


class InboxOut(BaseModel):
    notifications: list[NotificationOut]
    next_after: int = Field(description="Pass as `after` to get the ones after these.")


class AckIn(BaseModel):
    upto: int = Field(
        ge=1, le=MAX_ROW_ID, description="Acknowledge every pending notification to this sequence."
    )


class AckOut(BaseModel):
    acknowledged: int


class OutcomeIn(BaseModel):
    outcome: str = Field(description=f"One of: {', '.join(service.OUTCOMES)}")
    note: str = Field(default="", max_length=1000, description="No names or NHS numbers.")


class DeliveryOut(BaseModel):
    id: int
    event_reference: str
    recipient: str
    sequence: int
    delivery_id: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    created_at: str | None
    delivered_at: str | None


def _published(result: service.Published) -> PublishedOut:
    return PublishedOut(
        dataset=result.dataset,
        snapshot_version=result.snapshot_version,
        rows=result.rows,
        unchanged=result.unchanged,
        events=[
            EventOut(
                id=e.id,
                reference=e.reference,
                type=e.event_type.value,
                status=e.status.value,
                awaiting_review=e.awaiting_review,
                told=[n.recipient for n in e.notifications],
            )
            for e in result.events
        ],
        notifications=result.notifications,
    )


async def _body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise service.EventsError("The body is over 20 MB.", field="body", status=413)
    return bytes(body)


TYPE_QUERY = Query(
    "death",
    pattern="^(death|birth|change-of-address|change_of_address)$",
    description="The type of life event: death (the default), birth or change-of-address. "
    "Each is published in its own registration dataset's columns.",
)


def _as_csv(session, actor, body: bytes, content_type: str, kind: service.EventKind) -> bytes:
    if "json" not in content_type:
        return body
    from civicshare.datasets import service as datasets

    where = service.registrations_of(session, actor.partner_key, purpose=kind.purpose)
    contract = datasets.current_contract(
        session, datasets.require_dataset(session, where.provider, where.dataset)
    )
    return files.rows_from_json(contract, files.parse_json(body))


@router.post(
    "",
    scope="events:write",
    response_model=PublishedOut,
    status_code=201,
    summary="Publish registrations of a life event: deaths, births or changes of address",
    description="`type` says which: death (the default), birth or change-of-address. The body is "
    "a CSV in that type's registration dataset's columns (death-registrations, "
    "birth-registrations, address-changes), or with "
    '`Content-Type: application/json` `{"registrations": [{column: value}, ...]}`. Refused whole '
    "(422, every problem by row and field) when any row is wrong; entries already published "
    "unchanged are counted, not repeated.",
)
async def publish(request: Request, actor: ActorDep, session: SessionDep, type: str = TYPE_QUERY):
    kind = service.kind_of(type)
    body = await _body(request)
    content_type = request.headers.get("content-type", "")
    settings = request.app.state.settings

    def run() -> PublishedOut:
        data = _as_csv(session, actor, body, content_type, kind)
        result = service.publish(
            session, settings, actor, data, file_name="upload.csv", via="api", event_type=kind.type
        )
        out = _published(result)
        session.commit()
        return out

    return await run_in_threadpool(run)


@router.post(
    "/registrations",
    scope=REQUEST_SIGNATURE,
    response_model=PublishedOut,
    status_code=201,
    summary="The registration system's signed API: JSON registrations, HMAC-signed",
    description="`type`: death (the default), birth or change-of-address, as for `POST "
    "/api/events`. No bearer token: the request is signed with the provider's inbound key "
    "(`civicshare events rotate-key PARTNER --inbound`): headers `Civicshare-Delivery-Id` (unique "
    "per request) and `Civicshare-Signature: t=<unix time>,v1=<key id>:<hex HMAC-SHA256 of "
    "'<delivery id>.<t>.<body>'>`. 401 for a bad or unknown signature or a time outside "
    "events_replay_window_seconds, 409 for a request id seen before.",
)
async def signed_registrations(request: Request, session: SessionDep, type: str = TYPE_QUERY):
    kind = service.kind_of(type)
    body = await _body(request)
    settings = request.app.state.settings
    headers = dict(request.headers.items())

    def run() -> PublishedOut:
        actor = inbox.verify_signed(session, settings, headers, body)
        data = _as_csv(session, actor, body, "application/json", kind)
        result = service.publish(
            session, settings, actor, data, file_name="registrations.json", via="signed",
            event_type=kind.type,
        )  # fmt: skip
        out = _published(result)
        session.commit()
        return out

    return await run_in_threadpool(run)


def _notification(row) -> NotificationOut:
    found = inbox.inbox_row(row)
    return NotificationOut(**{k: found[k] for k in NotificationOut.model_fields})


@router.get(
    "/notifications",
    scope="events:read",
    response_model=InboxOut,
    summary="Your organisation's notifications, in sequence order, after a cursor",
)
def notifications(
    actor: ActorDep,
    session: SessionDep,
    after: int = Query(0, ge=0, le=MAX_ROW_ID, description="Only those after this sequence."),
    pending: bool = Query(False, description="Only those not yet delivered or acknowledged."),
    limit: int = Query(500, ge=1, le=1000),
):
    rows = inbox.inbox(session, actor, after=after, pending_only=pending, limit=limit)
    return InboxOut(
        notifications=[_notification(r) for r in rows],
        next_after=rows[-1].sequence if rows else after,
    )


@router.post(
    "/notifications/ack",
    scope="events:read",
    response_model=AckOut,
    summary="Acknowledge pulled notifications up to a sequence number",
)
def acknowledge(body: AckIn, actor: ActorDep, session: SessionDep):
    rows = inbox.acknowledge(session, actor, body.upto)
    session.commit()
    return AckOut(acknowledged=len(rows))


@router.post(
    "/notifications/{notification_id}/outcome",
    scope="events:read",
    response_model=NotificationOut,
    summary="Record what your organisation did about a notification",
)
def outcome(notification_id: RowId, body: OutcomeIn, actor: ActorDep, session: SessionDep):
    row = inbox.record_outcome(session, actor, notification_id, body.outcome, body.note)
    out = _notification(row)
    session.commit()
    return out


@router.get(
    "/notifications.csv",
    scope="events:read",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    summary="Your notifications as CSV, with the action each needs and its outcome",
)
def notifications_csv(actor: ActorDep, session: SessionDep):
    rows = inbox.inbox(session, actor, limit=1000)
    return Response(
        inbox.inbox_csv(rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="life-events-{date.today()}.csv"'},
    )


@router.get(
    "/deliveries",
    scope="events:read",
    response_model=list[DeliveryOut],
    summary="The outbox and dead letters (the gateway's admins)",
)
def deliveries(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
    status: str | None = Query(None, description="pending, delivered, dead or pulled"),
    limit: int = Query(200, ge=1, le=1000),
) -> list[dict[str, Any]]:
    rows = inbox.deliveries(session, actor, request.app.state.settings, status=status, limit=limit)
    return [inbox.delivery_row(r) for r in rows]


@router.post(
    "/deliveries/{notification_id}/replay",
    scope="events:write",
    response_model=DeliveryOut,
    summary="Send a dead-lettered notification again, now (the gateway's admins)",
)
def replay(notification_id: RowId, request: Request, actor: ActorDep, session: SessionDep):
    def run() -> dict[str, Any]:
        row = inbox.replay(session, request.app.state.settings, actor, notification_id)
        out = inbox.delivery_row(row)
        session.commit()
        return out

    return run()

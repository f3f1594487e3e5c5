"""Life events in the browser: the registration service publishes and follows its events
(/events), a recipient works through what it was told (/events/inbox, with CSV), the gateway's
admins watch the outbox and replay dead letters (/events/deliveries), and a partner's admin
sets its webhook and rotates its key (/events/endpoint)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from civicshare.accounts.api import ActorDep
from civicshare.db import RowId, SessionDep
from civicshare.events import files, inbox, service
from civicshare.events import keys as event_keys
from civicshare.events.models import DeliveryStatus, KeyKind
from civicshare.partners.models import Role
from civicshare.web.forms import FormDep, field_errors
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _publishable(session, actor) -> list[dict[str, str]]:
    """The types of event the actor's partner may publish (each under an active agreement), as
    the select's options: value, text and the registration dataset."""
    if not actor.has_role(Role.data_provider, Role.admin):
        return []
    options = []
    for kind in service.KINDS.values():
        try:
            where = service.registrations_of(session, actor.partner_key, purpose=kind.purpose)
        except service.EventsError:
            continue
        options.append(
            {
                "value": kind.type.value.replace("_", "-"),
                "text": f"{kind.registrations.capitalize()} ({where.dataset})",
                "dataset": where.dataset,
            }
        )
    return options


def _events_page(
    request, actor, session, *, errors=None, published=None, status_code=200, chosen="death"
):
    settings = request.app.state.settings
    everyone = inbox.may_administer(actor, settings)
    options = _publishable(session, actor)
    return render(
        request,
        "events/events.html",
        status_code=status_code,
        active_nav="events",
        errors=errors or {},
        problems=(errors or {}).get("problems", []),
        published=published,
        may_publish=bool(options),
        types=[{**o, "selected": o["value"] == chosen} for o in options],
        events=service.list_events(session, None if everyone else actor.partner_key),
        counts=service.summary(session),
    )


@router.get("/events")
def events_page(request: Request, actor: ActorDep, session: SessionDep):
    return _events_page(request, actor, session)


@router.post("/events")
def publish(request: Request, actor: ActorDep, session: SessionDep, form: FormDep):
    chosen = str(form.get("type") or "death")
    page = {"chosen": chosen}
    upload = form.get("file")
    if upload is None or not getattr(upload, "filename", ""):
        return _events_page(
            request, actor, session, errors={"file": "Select a CSV file"}, status_code=422, **page
        )
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return _events_page(
            request, actor, session, errors={"file": "The file is over 20 MB"}, status_code=413,
            **page,
        )  # fmt: skip
    try:
        kind = service.kind_of(chosen)
        published = service.publish(
            session, request.app.state.settings, actor, data, file_name=upload.filename,
            event_type=kind.type,
        )  # fmt: skip
    except (service.EventsError, files.RegistrationFileError) as error:
        session.rollback()
        errors = field_errors(error, "file")
        errors["problems"] = getattr(error, "problems", [])
        return _events_page(
            request, actor, session, errors=errors, status_code=error.status, **page
        )
    return _events_page(request, actor, session, published=published, **page)


# -- a recipient's inbox ----------------------------------------------------------------------


@router.get("/events/inbox")
def inbox_page(request: Request, actor: ActorDep, session: SessionDep):
    rows = [inbox.inbox_row(r) for r in reversed(inbox.inbox(session, actor, limit=1000))]
    return render(
        request,
        "events/inbox.html",
        active_nav="events",
        rows=rows,
        outcomes=service.OUTCOMES,
        open_count=sum(1 for r in rows if not r["outcome"]),
    )


@router.get("/events/inbox.csv")
def inbox_csv(actor: ActorDep, session: SessionDep):
    rows = inbox.inbox(session, actor, limit=1000)
    return Response(
        inbox.inbox_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="life-events-{date.today()}.csv"'},
    )


@router.post("/events/inbox/{notification_id}/outcome")
def record_outcome(notification_id: RowId, actor: ActorDep, session: SessionDep, form: FormDep):
    inbox.record_outcome(
        session,
        actor,
        notification_id,
        str(form.get("outcome") or ""),
        str(form.get("note") or ""),
    )
    return RedirectResponse(f"/events/inbox#notification-{notification_id}", status_code=303)


# -- the outbox, for the gateway's admins -----------------------------------------------------


@router.get("/events/deliveries")
def deliveries_page(request: Request, actor: ActorDep, session: SessionDep, status: str = ""):
    settings = request.app.state.settings
    rows = inbox.deliveries(session, actor, settings, status=status or None)
    dead = inbox.deliveries(session, actor, settings, status=DeliveryStatus.dead.value)
    return render(
        request,
        "events/deliveries.html",
        active_nav="events",
        rows=[inbox.delivery_row(r) for r in rows],
        dead=[inbox.delivery_row(r) for r in dead],
        status=status,
        statuses=[s.value for s in DeliveryStatus],
        counts=service.summary(session),
    )


@router.post("/events/deliveries/{notification_id}/replay")
def replay(notification_id: RowId, request: Request, actor: ActorDep, session: SessionDep):
    inbox.replay(session, request.app.state.settings, actor, notification_id)
    return RedirectResponse("/events/deliveries", status_code=303)


# -- a partner's webhook ----------------------------------------------------------------------


def _endpoint_page(request, actor, session, *, errors=None, secret=None, status_code=200):
    row = event_keys.endpoint_of(session, actor.partner_key)
    return render(
        request,
        "events/endpoint.html",
        status_code=status_code,
        active_nav="events",
        errors=errors or {},
        endpoint=row,
        keys=event_keys.key_rows(session, actor.partner_key, KeyKind.webhook),
        secret=secret,
        may_edit=actor.has_role(Role.admin),
    )


def _require_partner_admin(actor) -> None:
    if not actor.has_role(Role.admin):
        raise service.EventsError(
            f"Only an admin of {actor.partner_name} can change its webhook.", status=403
        )


@router.get("/events/endpoint")
def endpoint_page(request: Request, actor: ActorDep, session: SessionDep):
    return _endpoint_page(request, actor, session)


@router.post("/events/endpoint")
def set_endpoint(request: Request, actor: ActorDep, session: SessionDep, form: FormDep):
    _require_partner_admin(actor)
    settings = request.app.state.settings
    try:
        _, made = event_keys.set_endpoint(
            session, settings, actor, actor.partner_key, str(form.get("url") or "")
        )
    except event_keys.EndpointError as error:
        session.rollback()
        return _endpoint_page(
            request, actor, session, errors=field_errors(error, "url"), status_code=error.status
        )
    return _endpoint_page(request, actor, session, secret=made)


@router.post("/events/endpoint/rotate")
def rotate_key(request: Request, actor: ActorDep, session: SessionDep):
    _require_partner_admin(actor)
    made = event_keys.rotate(
        session, request.app.state.settings, actor, actor.partner_key, KeyKind.webhook
    )
    return _endpoint_page(request, actor, session, secret=made)

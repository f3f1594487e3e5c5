"""Notifications in the browser: the signed-in membership's list, marking read, and the unread
count the navigation shows on every page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from civicshare.accounts.api import ActorDep
from civicshare.db import RowId, SessionDep, session_scope
from civicshare.notifications import service
from civicshare.web.templating import environment, render

router = APIRouter(include_in_schema=False)


def unread_for(request: Request) -> int:
    """The acting membership's unread notifications, for the navigation: read in a short
    session of its own (the page's unit of work is not reachable from a template); 0 when
    nobody acts or the store cannot answer, so a page never fails for its badge."""
    actor = getattr(request.state, "actor", None)
    if actor is None:
        return 0
    try:
        with session_scope(request.app.state.sessions) as session:
            return service.unread_count(session, actor.membership_id)
    except Exception:  # noqa: BLE001
        return 0


environment.globals["unread_notifications"] = unread_for


@router.get("/notifications")
def notifications_page(request: Request, actor: ActorDep, session: SessionDep):
    return render(
        request,
        "notifications/list.html",
        active_nav="notifications",
        notifications=service.list_for(session, actor.membership_id),
    )


@router.post("/notifications/read")
def mark_all_read(actor: ActorDep, session: SessionDep):
    service.mark_read(session, actor.membership_id)
    return RedirectResponse("/notifications", status_code=303)


@router.post("/notifications/{notification_id}/read")
def mark_read(notification_id: RowId, actor: ActorDep, session: SessionDep):
    service.mark_read(session, actor.membership_id, notification_id)
    return RedirectResponse("/notifications", status_code=303)

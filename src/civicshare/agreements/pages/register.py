"""The public transparency register, as a page and as CSV (no sign-in needed)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from civicshare.accounts.api import MaybeActorDep
from civicshare.agreements import documents, service
from civicshare.db import SessionDep
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/register")
def register_page(
    request: Request,
    actor: MaybeActorDep,
    session: SessionDep,
):
    return render(
        request,
        "register/index.html",
        active_nav="register",
        entries=service.register_entries(session, date.today()),
        today=date.today(),
    )


@router.get("/register.csv")
def register_csv(session: SessionDep):
    return Response(
        documents.register_csv(service.register_entries(session, date.today())),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="transparency-register.csv"'},
    )

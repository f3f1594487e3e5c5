"""The audit log's signed checkpoints on the public register (no sign-in needed): as JSON, for
partners to keep copies and check the log against them, and as a page."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from civicshare.accounts.api import MaybeActorDep
from civicshare.audit import checkpoints, signing
from civicshare.db import SessionDep
from civicshare.web.templating import render

router = APIRouter(tags=["register"])
LONDON = ZoneInfo("Europe/London")
PER_PAGE = 50
VARY = {"Vary": "Accept"}


class Checkpoint(BaseModel):
    """One signed checkpoint, complete: save it as it is and check the log against it with
    `civicshare audit verify --against FILE`."""

    format: str = Field(description="civicshare-audit-checkpoint-v1")
    number: int = Field(description="1 for the first checkpoint, then 2, 3 …")
    tree_size: int = Field(description="Records the checkpoint covers: seq 1 to this.")
    head_hash: str = Field(description="The record_hash of record seq tree_size.")
    at: str = Field(description="When it was signed, UTC.")
    key_id: str = Field(description="The signing key: the first 16 hex digits of SHA-256 of it.")
    signature: str = Field(description="Ed25519 over signed_text, in hex.")
    signed_text: str = Field(
        description="What was signed: format, number, tree_size, head_hash and at, a line each."
    )
    public_key: str | None = Field(description="The gateway's Ed25519 public key (PEM).")


class Checkpoints(BaseModel):
    key_id: str | None = Field(description="The gateway's signing key id.")
    public_key: str | None = Field(description="The gateway's Ed25519 public key (PEM).")
    checkpoints: list[Checkpoint] = Field(description="Newest first.")
    next: str | None = Field(description="The older checkpoints, if there are any.")


def _public_key():
    try:
        return signing.load_public_key()
    except (OSError, ValueError):
        return None


def _london(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LONDON).strftime("%-d %b %Y %H:%M:%S")


@router.get(
    "/register/checkpoints",
    summary="The audit log's signed checkpoints, newest first (a page for browsers)",
    response_model=Checkpoints,
)
def list_checkpoints(
    request: Request,
    actor: MaybeActorDep,
    session: SessionDep,
    before: int | None = Query(None, ge=1, description="Only checkpoints older than this one."),
    limit: int = Query(100, ge=1, le=1000),
):
    key = _public_key()
    if "text/html" in request.headers.get("accept", ""):
        entries = checkpoints.recent(session, limit=PER_PAGE, before=before)
        older = entries[-1].number if len(entries) == PER_PAGE and entries[-1].number > 1 else None
        page = render(
            request,
            "register/checkpoints.html",
            active_nav="register",
            entries=entries,
            total=checkpoints.count(session),
            public_pem=signing.public_pem(key) if key is not None else None,
            key_id=signing.key_id(key) if key is not None else None,
            older_href=f"/register/checkpoints?before={older}" if older else None,
            base_url=str(request.base_url).rstrip("/"),
            london=_london,
            every=request.app.state.settings.audit_checkpoint_every,
            minutes=request.app.state.settings.audit_checkpoint_minutes,
        )
        page.headers.update(VARY)
        return page
    entries = checkpoints.recent(session, limit=limit, before=before)
    last = entries[-1].number if entries else None
    more = len(entries) == limit and last is not None and last > 1
    body = Checkpoints(
        key_id=signing.key_id(key) if key is not None else None,
        public_key=signing.public_pem(key) if key is not None else None,
        checkpoints=[checkpoints.document(entry, key) for entry in entries],
        next=f"/register/checkpoints?before={last}&limit={limit}" if more else None,
    )
    return Response(body.model_dump_json(indent=2), media_type="application/json", headers=VARY)


@router.get(
    "/register/checkpoints/latest",
    summary="The latest signed checkpoint of the audit log; save it to check the log later",
    response_model=Checkpoint,
    responses={404: {"description": "No checkpoint has been signed yet."}},
)
def latest_checkpoint(session: SessionDep) -> Checkpoint:
    entry = checkpoints.latest(session)
    if entry is None:
        raise HTTPException(404, "No audit checkpoint has been signed yet.")
    return Checkpoint(**checkpoints.document(entry, _public_key()))


@router.get(
    "/register/checkpoints/public-key.pem",
    summary="The gateway's public key that checkpoints are signed with (PEM)",
    response_class=PlainTextResponse,
    responses={404: {"description": "The gateway has no signing key yet."}},
)
def public_key_pem() -> PlainTextResponse:
    key = _public_key()
    if key is None:
        raise HTTPException(404, "The gateway has not made its signing key yet.")
    return PlainTextResponse(
        signing.public_pem(key), media_type="application/x-pem-file; charset=utf-8"
    )

"""`/healthz`: is the governance store reachable and migrated, is the data directory usable.
`/readyz`: that, and the audit log readable (nothing is shared without it). `/metrics`: counts
and timings for Prometheus, with no identifiers (civicshare.core.metrics)."""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import UTC
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text

from civicshare import db
from civicshare.core import metrics

router = APIRouter(tags=["health"])
access_log = logging.getLogger("civicshare.access")  # see civicshare.logs


class DatabaseHealth(BaseModel):
    backend: str = Field(description="sqlite or postgresql")
    status: str = Field(description="ok, needs upgrade or unavailable")
    revision: str | None = None
    head_revision: str | None = None
    error: str | None = Field(None, description="When unavailable: the kind of failure.")


class DataDirHealth(BaseModel):
    path: str
    status: str = Field(description="ok or unavailable")
    exists: bool
    writable: bool
    free_bytes: int | None = Field(None, description="When it exists.")


class HealthOut(BaseModel):
    status: str = Field(description="ok, or unhealthy (with status 503)")
    database: DatabaseHealth
    data_dir: DataDirHealth


def database_health(engine) -> dict[str, Any]:
    report: dict[str, Any] = {"backend": engine.dialect.name}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current, head = db.current_revision(engine), db.head_revision()
    except Exception as exc:  # any failure to reach the store is a health fact, not a crash
        report.update(status="unavailable", error=type(exc).__name__)
        return report
    report.update(
        status="ok" if current == head else "needs upgrade",
        revision=current,
        head_revision=head,
    )
    return report


def data_dir_health(path) -> dict[str, Any]:
    exists = path.is_dir()
    writable = exists and os.access(path, os.W_OK)
    report: dict[str, Any] = {
        "path": str(path.resolve()),
        "status": "ok" if writable else "unavailable",
        "exists": exists,
        "writable": writable,
    }
    if exists:
        report["free_bytes"] = shutil.disk_usage(path).free
    return report


@router.get(
    "/healthz",
    summary="Health of the governance store and data directory",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Unhealthy"}},
    openapi_extra={"x-scope": "public"},  # no credentials (see civicshare.accounts.api.PUBLIC)
)
def healthz(request: Request) -> JSONResponse:
    state = request.app.state
    database = database_health(state.engine)
    data_dir = data_dir_health(state.settings.data_dir)
    healthy = database["status"] == "ok" and data_dir["status"] == "ok"
    body = {"status": "ok" if healthy else "unhealthy", "database": database, "data_dir": data_dir}
    return JSONResponse(body, status_code=200 if healthy else 503)


# -- readiness --------------------------------------------------------------------------------


class AuditHealth(BaseModel):
    status: str = Field(description="ok or unavailable (nothing can be shared: audit fails closed)")
    chain_length: int | None = None
    last_checkpoint_age_seconds: float | None = Field(
        None, description="Seconds since the last signed checkpoint; none before the first."
    )


class StoreHealth(BaseModel):
    status: str = Field(description="ok or unavailable")
    error: str | None = None


class ReadyOut(HealthOut):
    audit: AuditHealth
    snapshot_store: StoreHealth | None = Field(
        None, description="Object storage, when `snapshot_store` is set: its bucket answers."
    )


def audit_health(sessions) -> dict[str, Any]:
    from civicshare.audit.models import AuditChainHead, AuditCheckpoint

    try:
        with sessions() as session:
            length = session.execute(select(AuditChainHead.seq)).scalar()
            last = session.execute(select(func.max(AuditCheckpoint.at))).scalar()
    except Exception as exc:  # an unreadable chain is a readiness fact, not a crash
        return {"status": "unavailable", "error": type(exc).__name__}
    age = None
    if last is not None:
        last = last if last.tzinfo else last.replace(tzinfo=UTC)  # SQLite keeps no zone
        age = round((db.utcnow() - last).total_seconds(), 1)
    return {"status": "ok", "chain_length": int(length or 0), "last_checkpoint_age_seconds": age}


@router.get(
    "/readyz",
    summary="Ready to take traffic: the store at its revision, the data directory, the audit log",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready"}},
    openapi_extra={"x-scope": "public"},
)
def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    database = database_health(state.engine)
    data_dir = data_dir_health(state.settings.data_dir)
    audit = {"status": "unavailable"}
    if database["status"] == "ok":
        audit = audit_health(state.sessions)
    parts = {"database": database, "data_dir": data_dir, "audit": audit}
    if state.settings.snapshot_store:
        parts["snapshot_store"] = snapshot_store_health(state.settings)
    ready = all(part["status"] == "ok" for part in parts.values())
    body = {"status": "ok" if ready else "unready", **parts}
    return JSONResponse(body, status_code=200 if ready else 503)


def snapshot_store_health(settings) -> dict[str, Any]:
    """Object storage, when snapshots are kept there: its bucket answers."""
    from civicshare.dataplane.store import snapshot_store

    try:
        problem = snapshot_store(settings).reachable()
    except Exception as exc:  # a store that cannot even be opened is not ready either
        problem = type(exc).__name__
    return {"status": "ok"} if problem is None else {"status": "unavailable", "error": problem}


# -- metrics ----------------------------------------------------------------------------------


def store_metrics(sessions) -> bytes:
    """The store's gauges, read now: audit chain length, checkpoint age, outbox depth."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    from civicshare.events.models import EventNotification

    registry = CollectorRegistry()
    up = Gauge("civicshare_store_up", "1 when the governance store answered.", registry=registry)
    audit = audit_health(sessions)
    up.set(1 if audit["status"] == "ok" else 0)
    if audit["status"] == "ok":
        Gauge(
            "civicshare_audit_chain_length",
            "Records in the audit chain.",
            registry=registry,
        ).set(audit["chain_length"])
        age = audit["last_checkpoint_age_seconds"]
        Gauge(
            "civicshare_audit_last_checkpoint_age_seconds",
            "Seconds since the last signed audit checkpoint (NaN before the first).",
            registry=registry,
        ).set(float("nan") if age is None else age)
        depth = Gauge(
            "civicshare_outbox_depth",
            "Life-event notifications not yet delivered: pending, or dead (awaiting replay).",
            ["status"],
            registry=registry,
        )
        with sessions() as session:
            counts = dict(
                session.execute(
                    select(EventNotification.status, func.count())
                    .where(EventNotification.status.in_(["pending", "dead"]))
                    .group_by(EventNotification.status)
                ).all()
            )
        for status in ("pending", "dead"):
            depth.labels(status).set(counts.get(status, 0))
    return generate_latest(registry)


@router.get(
    "/metrics",
    summary="Prometheus metrics (counts and timings; no identifiers)",
    response_class=Response,
    openapi_extra={"x-scope": "public"},
)
def metrics_endpoint(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    body = generate_latest(metrics.REGISTRY) + store_metrics(request.app.state.sessions)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Counts and times every HTTP request by its declared route (plain ASGI, as
    SecurityHeaders, so it adds no task per request)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counting(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            metrics.count_request(scope["method"], route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                fields = {
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                }
                access_log.info("%(method)s %(route)s %(status)s", fields, extra=fields)


def route_of(scope) -> str:
    """The route as declared (`/works/streets/{usrn}`), never the path asked for."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return route.path
    if scope.get("path", "").startswith("/assets/"):
        return "/assets/{path}"
    return metrics.UNMATCHED_ROUTE

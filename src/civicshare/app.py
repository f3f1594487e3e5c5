"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import URL, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicshare import __version__, db, errors, health
from civicshare.accounts import api as accounts_api
from civicshare.accounts import pages as accounts_pages
from civicshare.agreements import api as agreements_api
from civicshare.agreements import pages as agreements_pages
from civicshare.audit import api as audit_api
from civicshare.audit import checkpoints as audit_checkpoints
from civicshare.audit import pages as audit_pages
from civicshare.audit import register as audit_register
from civicshare.audit import service as audit_service
from civicshare.audit import signing as audit_signing
from civicshare.config import Settings, get_settings
from civicshare.core.schedule import repeat
from civicshare.counciltax import api as counciltax_api
from civicshare.counciltax import pages as counciltax_pages
from civicshare.dataplane import ingest as datasets_ingest
from civicshare.datasets import api as datasets_api
from civicshare.datasets import pages as datasets_pages
from civicshare.discharge import api as discharge_api
from civicshare.discharge import pages as discharge_pages
from civicshare.enquiries import api as enquiries_api
from civicshare.enquiries import pages as enquiries_pages
from civicshare.enquiries import upkeep as enquiries_upkeep
from civicshare.events import api as events_api
from civicshare.events import outbox as events_outbox
from civicshare.events import pages as events_pages
from civicshare.incidents import api as incidents_api
from civicshare.incidents import pages as incidents_pages
from civicshare.linkage import api as linkage_api
from civicshare.linkage import pages as linkage_pages
from civicshare.linkage import service as linkage_service
from civicshare.maps import pages as maps_pages
from civicshare.notifications import pages as notifications_pages
from civicshare.partners import api as partners_api
from civicshare.partners import pages as partners_pages
from civicshare.retention import service as retention
from civicshare.rights import api as rights_api
from civicshare.rights import pages as rights_pages
from civicshare.rights.access import api as rights_access_api
from civicshare.rights.access import corrections as rights_corrections
from civicshare.rights.access import pages as rights_access_pages
from civicshare.rights.benefits import api as rights_benefits_api
from civicshare.rights.benefits import pages as rights_benefits_pages
from civicshare.sharing import api as sharing_api
from civicshare.sharing import pages as sharing_pages
from civicshare.web import STATIC_DIR
from civicshare.web import pages as web_pages
from civicshare.works import api as works_api
from civicshare.works import pages as works_pages

log = logging.getLogger(__name__)

# Swagger UI runs inline script of its own; every other page allows only our files and a nonce.
CSP_EXEMPT = ("/docs",)


def use_audit_settings(settings: Settings) -> None:
    """Where the audit log's checkpoint keys are and how often it signs one: for the server
    and for `civicshare scheduler`."""
    audit_signing.use_keys_dir(settings.effective_keys_dir)
    audit_service.use_checkpoint_every(settings.audit_checkpoint_every)


def start_background_jobs(sessions, settings: Settings) -> list[asyncio.Task]:
    """The schedules a gateway runs: in `civicshare serve` (background_jobs), or alone in
    `civicshare scheduler` when several API workers share one store."""
    jobs = []
    if settings.retention_interval_minutes > 0:
        every = settings.retention_interval_minutes * 60
        jobs.append(
            asyncio.create_task(retention.every(sessions, settings, every), name="retention")
        )
    if settings.audit_checkpoint_minutes > 0:
        jobs.append(
            asyncio.create_task(
                audit_checkpoints.every(sessions, settings.audit_checkpoint_minutes),
                name="audit-checkpoints",
            )
        )
    if settings.events_deliver_seconds > 0:
        jobs.append(
            asyncio.create_task(
                events_outbox.every(sessions, settings, settings.events_deliver_seconds),
                name="life-event-deliveries",
            )
        )
    if settings.reminders_interval_minutes > 0:
        every = settings.reminders_interval_minutes * 60
        work = functools.partial(send_reminders, sessions, settings)
        jobs.append(asyncio.create_task(repeat("reminders", every, work, log), name="reminders"))
    if settings.index_run_minutes > 0:
        every = settings.index_run_minutes * 60
        work = functools.partial(run_person_index, sessions, settings)
        jobs.append(
            asyncio.create_task(repeat("person index run", every, work, log), name="person-index")
        )
    return jobs


def send_reminders(sessions, settings: Settings) -> None:
    """Enquiries due soon or overdue, and corrections a recipient has not confirmed: each
    reminder is sent once, however often this runs."""
    with db.session_scope(sessions) as session:
        enquiries_upkeep.remind(session, settings)
    with db.session_scope(sessions) as session:
        rights_corrections.remind(session, settings)


def run_person_index(sessions, settings: Settings) -> None:
    """Link snapshots pushed since the last run (nothing when none is new)."""
    with db.session_scope(sessions) as session:
        outcome = linkage_service.run(session, settings)
    log.info("scheduled person index run: %s", outcome.message)


async def stop_background_jobs(jobs: list[asyncio.Task], sessions) -> None:
    for job in jobs:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
    # What was written since the last checkpoint is signed before the process stops.
    await asyncio.to_thread(audit_checkpoints.at_shutdown, sessions)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.ensure_dirs()
    datasets_ingest.sweep_staging(settings)  # ingests that died mid-way
    engine = db.make_engine(settings.effective_database_url, settings)
    loop_guard = db.LoopGuard(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop_guard.watch(asyncio.get_running_loop())
        jobs = (
            start_background_jobs(app.state.sessions, settings) if settings.background_jobs else []
        )
        yield
        await stop_background_jobs(jobs, app.state.sessions)
        engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="civicshare",
        version=__version__,
        summary="Information sharing gateway: agreements that enforce the sharing.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = db.make_sessionmaker(engine)
    use_audit_settings(settings)

    errors.install(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(health.RequestMetrics)
    app.mount("/assets", StaticFiles(directory=STATIC_DIR, check_dir=False), name="assets")
    app.include_router(health.router)
    app.include_router(web_pages.router)
    app.include_router(accounts_api.router)
    app.include_router(accounts_pages.router)
    app.include_router(partners_api.router)
    app.include_router(partners_pages.router)
    app.include_router(agreements_api.router)
    app.include_router(agreements_pages.router)
    app.include_router(audit_api.router)
    app.include_router(audit_pages.router)
    app.include_router(audit_register.router)
    app.include_router(datasets_api.router)
    app.include_router(datasets_pages.router)
    app.include_router(sharing_api.router)
    app.include_router(sharing_pages.router)
    app.include_router(incidents_api.router)
    app.include_router(incidents_pages.router)
    app.include_router(linkage_api.router)
    app.include_router(linkage_pages.router)
    app.include_router(maps_pages.router)
    app.include_router(notifications_pages.router)
    app.include_router(works_api.router)
    app.include_router(works_pages.router)
    app.include_router(discharge_api.router)
    app.include_router(discharge_pages.router)
    app.include_router(enquiries_api.router)
    app.include_router(enquiries_pages.router)
    app.include_router(counciltax_api.router)
    app.include_router(counciltax_pages.router)
    app.include_router(events_api.router)
    app.include_router(events_pages.router)
    app.include_router(rights_api.router)
    app.include_router(rights_api.register_router)
    app.include_router(rights_pages.router)
    app.include_router(rights_access_api.router)
    app.include_router(rights_access_pages.router)
    app.include_router(rights_benefits_api.router)
    app.include_router(rights_benefits_pages.router)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="civicshare API",
            swagger_js_url="/assets/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/assets/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/assets/images/favicon.svg",
        )

    return app


class SecurityHeaders:
    """Every HTTP response gets the security headers (a response's own value of one wins) and
    every request a fresh CSP nonce on `request.state.csp_nonce`.

    Plain ASGI: Starlette's `BaseHTTPMiddleware` (what `app.middleware("http")` makes) ran
    each request through an extra task and memory stream, about 0.2 ms of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        exempt = URL(scope=scope).path.startswith(CSP_EXEMPT)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                if not exempt:
                    headers.setdefault(
                        "Content-Security-Policy",
                        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
                        "img-src 'self' data:; object-src 'none'; base-uri 'self'; "
                        "frame-ancestors 'none'",
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)

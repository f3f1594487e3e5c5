"""`/healthz`: is the governance store reachable and migrated, is the data directory usable."""

from __future__ import annotations

import os
import shutil
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from civicshare import db

router = APIRouter(tags=["health"])


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


@router.get("/healthz", summary="Health of the governance store and data directory")
def healthz(request: Request) -> JSONResponse:
    state = request.app.state
    database = database_health(state.engine)
    data_dir = data_dir_health(state.settings.data_dir)
    healthy = database["status"] == "ok" and data_dir["status"] == "ok"
    body = {"status": "ok" if healthy else "unhealthy", "database": database, "data_dir": data_dir}
    return JSONResponse(body, status_code=200 if healthy else 503)

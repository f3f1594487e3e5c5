"""`/healthz`: is the governance store reachable and migrated, is the data directory usable."""

from __future__ import annotations

import os
import shutil
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from civicshare import db

router = APIRouter(tags=["health"])


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

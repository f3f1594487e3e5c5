"""Discharge planning over HTTP: the trained models and their reports, the discharge team's
list (JSON or CSV) and the weekly demand forecast. Every read of data decides, executes and
audits per dataset (`service`); the list is read as the token's own membership."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from civicshare import csvsafe
from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.db import SessionDep
from civicshare.discharge import service
from civicshare.discharge.features import SCOPE

router = ApiRouter(prefix="/api/discharge", tags=["discharge"])


class ModelOut(BaseModel):
    version: int
    chosen: str
    agreement: str
    agreement_version: int | None
    snapshots: dict[str, int]
    as_of: date
    periods: dict[str, dict[str, str]]
    created_at: datetime
    report: dict[str, Any]


class InpatientOut(BaseModel):
    spell_id: str
    site: str | None
    admitted: date
    days_in_hospital: int
    age_band: str
    district: str
    risk: float
    risk_band: str
    factors: list[str]
    pathway: int
    pathway_title: str
    pathway_probabilities: dict[str, float]
    services: list[str]


class ListOut(BaseModel):
    as_of: date
    model_version: int
    chosen: str
    agreement: str
    inpatients: list[InpatientOut]


class ForecastOut(BaseModel):
    as_of: date
    weeks: list[date]
    rows: list[dict[str, Any]]
    history: list[dict[str, Any]]
    held_out: dict[str, dict[str, float | None]]
    method: str
    baseline: str
    suppression: str


def model_out(row) -> ModelOut:
    return ModelOut(
        version=row.version,
        chosen=row.chosen,
        agreement=row.agreement_ref,
        agreement_version=row.agreement_version,
        snapshots=row.snapshots,
        as_of=row.as_of,
        periods=row.periods,
        created_at=row.created_at,
        report=row.report,
    )


@router.get("/models", scope=SCOPE, response_model=list[ModelOut],
            summary="Every trained discharge model, newest first, with its report")  # fmt: skip
def models(actor: ActorDep, session: SessionDep):
    service.may_see_models(session, actor)
    return [model_out(row) for row in service.all_models(session)]


@router.get("/models/{version}", scope=SCOPE, response_model=ModelOut,
            summary="One trained model: training snapshots, agreement and report")  # fmt: skip
def model(version: int, actor: ActorDep, session: SessionDep):
    service.may_see_models(session, actor)
    return model_out(service.get(session, version))


@router.get("/list", scope=SCOPE, response_model=ListOut,
            summary="The discharge team's list of current inpatients (audited)")  # fmt: skip
def inpatients(request: Request, actor: ActorDep, session: SessionDep):
    return service.inpatient_list(session, request.app.state.settings, actor, via="api")


@router.get("/list.csv", scope=SCOPE, response_class=Response,
            responses={200: {"content": {"text/csv": {}}}},
            summary="The discharge team's list as CSV (audited)")  # fmt: skip
def inpatients_csv(request: Request, actor: ActorDep, session: SessionDep):
    result = service.inpatient_list(session, request.app.state.settings, actor, via="api")
    text = csvsafe.rows_text(service.list_rows(result), header=service.LIST_COLUMNS)
    return Response(text, media_type="text/csv")


@router.get("/forecast", scope=SCOPE, response_model=ForecastOut,
            summary="Weekly discharges by district and pathway, next 6 weeks")  # fmt: skip
def demand(request: Request, actor: ActorDep, session: SessionDep):
    service.may_see_models(session, actor)
    return service.demand_forecast(session, request.app.state.settings, via="api").to_json()

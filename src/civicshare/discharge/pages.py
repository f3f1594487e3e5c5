"""Discharge planning in the browser: the model card (report and plots drawn on the server),
the discharge team's list (audited on every view, with a CSV export) and the demand forecast."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from civicshare import csvsafe
from civicshare.accounts.api import ActorDep
from civicshare.db import SessionDep, session_scope
from civicshare.discharge import forecast, modelling, plots, service
from civicshare.discharge.features import FEATURE_LABELS, SUBGROUPS
from civicshare.linkage.report import suppress
from civicshare.web.templating import environment, render

router = APIRouter(include_in_schema=False)


def plans_discharge(request: Request) -> bool:
    """Whether the navigation offers discharge planning: the acting membership's partner
    receives under an active care planning agreement (read in a short session of its own, as
    the unread count is; False when nobody acts or the store cannot answer)."""
    actor = getattr(request.state, "actor", None)
    if actor is None:
        return False
    try:
        with session_scope(request.app.state.sessions) as session:
            service.may_see_models(session, actor)
            return True
    except Exception:  # noqa: BLE001
        return False


environment.globals["plans_discharge"] = plans_discharge
SUBGROUP_TITLES = {"age_band": "Age band", "sex": "Sex", "ethnic_group": "Ethnic group",
                   "district": "District"}  # fmt: skip


def _card(request: Request, session, actor, version: int | None):
    service.may_see_models(session, actor)
    rows = service.all_models(session)
    if not rows:
        return render(request, "discharge/card.html", active_nav="discharge", row=None, rows=[])
    row = service.get(session, version)
    models = row.report["models"]
    compared = row.report.get("against_baselines")  # absent from reports before it was added
    return render(
        request,
        "discharge/card.html",
        active_nav="discharge",
        row=row,
        rows=rows,
        models=models,
        chosen=models[row.chosen],
        comparison=modelling.describe_comparison(compared, row.chosen) if compared else None,
        titles=modelling.MODEL_TITLES,
        calibration_svg=plots.calibration_plot(models),
        roc_svg=plots.roc_plot(models),
        subgroup_titles=SUBGROUP_TITLES,
        subgroups=SUBGROUPS,
        features=FEATURE_LABELS,
        margin=modelling.SUBGROUP_MARGIN,
        suppress=suppress,
    )


@router.get("/discharge")
def card_page(request: Request, actor: ActorDep, session: SessionDep):
    return _card(request, session, actor, None)


@router.get("/discharge/models/{version}")
def model_page(request: Request, actor: ActorDep, session: SessionDep, version: int):
    return _card(request, session, actor, version)


@router.get("/discharge/list")
def list_page(request: Request, actor: ActorDep, session: SessionDep):
    result = service.inpatient_list(session, request.app.state.settings, actor, via="web")
    return render(request, "discharge/list.html", active_nav="discharge", result=result)


@router.get("/discharge/list.csv")
def list_csv(request: Request, actor: ActorDep, session: SessionDep):
    result = service.inpatient_list(session, request.app.state.settings, actor, via="web")
    text = csvsafe.rows_text(service.list_rows(result), header=service.LIST_COLUMNS)
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="discharge-list.csv"'},
    )


@router.get("/discharge/forecast")
def forecast_page(request: Request, actor: ActorDep, session: SessionDep):
    service.may_see_models(session, actor)
    result = service.demand_forecast(session, request.app.state.settings, via="web")
    history, ahead = forecast.plot_series(result)
    return render(
        request,
        "discharge/forecast.html",
        active_nav="discharge",
        result=result,
        chart=plots.forecast_plot(history, ahead),
        window=forecast.WINDOW_WEEKS,
    )

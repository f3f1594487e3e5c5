"""Post-hospital care planning: train, report, the discharge team's list, the demand forecast.

Every read goes through `sharing.delivery.share` under the active discharge-care-planning
agreement (features.read_sources): training and the forecast as the gateway's own service
membership of the ICB (`service_actor`, purpose discharge-risk-model), the list as the
person asking (purpose discharge-list), so a person or partner the agreement does not name is
refused by decide(), and each view leaves an audit record per dataset read plus one for the
list. A trained model is saved with joblib under the data directory, with its version, the
snapshot of each source, the receipts of the reads and the agreement it was trained under.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements import service as agreements
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.discharge import features, forecast, modelling
from civicshare.discharge.features import (
    AGREEMENT_TEMPLATE,
    FEATURE_LABELS,
    FEATURES,
    LIST_PURPOSE,
    MODEL_PURPOSE,
    DischargeError,
)
from civicshare.discharge.models import DischargeModel
from civicshare.maps import reference
from civicshare.partners import service as partners

SERVICE_PARTNER = "hw-icb"  # population health analytics runs at the ICB
SERVICE_EMAIL = "discharge-planning@civicshare.invalid"
SERVICE_NAME = "Discharge planning models (the gateway)"
MODELS_DIR = "discharge/models"
TOP_FACTORS = 3
Progress = Callable[[str], None]


def _quiet(step: str) -> None:
    return None


# -- who reads, under what ----------------------------------------------------------------


def service_actor(session: Session) -> Actor:
    """The gateway's own analyst membership of the ICB that trains and forecasts (created
    the first time; it has no password and cannot sign in)."""
    partner = partners.get_by_key(session, SERVICE_PARTNER)
    if partner is None:
        raise DischargeError(
            f"Discharge planning runs as {SERVICE_PARTNER}, which is not a partner here.",
            field="partner",
            status=503,
        )
    return partners.service_actor(
        session, partner, email=SERVICE_EMAIL, name=SERVICE_NAME, via="service"
    )


def agreement_for(session: Session, actor: Actor, purpose: str) -> tuple[str, int]:
    """The active discharge-care-planning agreement under which the actor's partner receives
    data for `purpose`: (reference, version)."""
    for version in agreements.active_versions(session):
        if version.agreement.template_key != AGREEMENT_TEMPLATE:
            continue
        party = version.party(actor.partner_id)
        if party is None or not party.role.receives or purpose not in version.purpose_codes():
            continue
        return version.agreement.reference, version.number
    raise DischargeError(
        f"No active post-hospital care planning agreement lets {actor.partner_name} receive "
        f"data for {purpose}.",
        field="agreement",
        status=403,
    )


def postcode_sectors(settings: Settings) -> dict[str, str]:
    """Postcode sector -> district, from the address gazetteer (public reference data)."""
    try:
        table = reference.read_properties(settings, ["postcode", "district"]).to_pandas()
    except Exception:  # no gazetteer installed: districts are shown as unknown
        return {}
    compact = table["postcode"].astype(str).str.upper().str.strip()
    table["sector"] = compact.str.replace(r"^(\S+)\s*(\d)[A-Z]{2}$", r"\1 \2", regex=True)
    return table.groupby("sector")["district"].agg(lambda s: s.mode().iloc[0]).to_dict()


def _read(session, settings, actor, purpose: str, via: str, note: str):
    reference_, version = agreement_for(session, actor, purpose)
    read = features.read_sources(
        session, settings, actor, purpose=purpose, via=via, agreement=reference_, note=note
    )
    table, as_of, opted_out = features.build(read, postcode_sectors(settings))
    return read, version, table, as_of, opted_out


# -- training -----------------------------------------------------------------------------


def fit_pathway(table: pd.DataFrame):
    """A multinomial logistic regression of the recorded pathway (0-3) on the features, over
    every spell discharged alive with a pathway recorded."""
    known = table[table["pathway"].notna()]
    y = known["pathway"].to_numpy(dtype=int)
    if len(set(y)) < 2:
        raise DischargeError(
            "The acute data record fewer than two discharge pathways.", field="DISCH_PATHWAY"
        )
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(
        features.matrix(known), y
    )


@dataclass(frozen=True)
class Trained:
    row: DischargeModel
    performances: dict[str, modelling.Performance]
    test: pd.DataFrame  # the test period's spells (pseudonymous), for the benchmark
    predictions: dict[str, np.ndarray]


def train(
    session: Session,
    settings: Settings,
    *,
    via: str = "cli",
    progress: Progress = _quiet,
    seed: int = 0,
) -> Trained:
    actor = service_actor(session)
    progress("reading the five sources through the gateway")
    read, agreement_version, table, as_of, opted_out = _read(
        session, settings, actor, MODEL_PURPOSE, via, "discharge model training"
    )
    periods = modelling.split(table)
    fitted, performances, predictions = {}, {}, {}
    for kind in modelling.MODELS:
        progress(f"training {modelling.MODEL_TITLES[kind].lower()}")
        model = modelling.fit(kind, periods.train, periods.calibrate, seed)
        fitted[kind] = model
        p = model.predict(periods.test)
        predictions[kind] = p
        performance = modelling.evaluate(kind, periods.test, p, seed)
        y_cal = periods.calibrate["new_package"].to_numpy(dtype=int)
        performance.validation_auroc = modelling._auroc(y_cal, model.predict(periods.calibrate))
        performances[kind] = performance
    chosen = modelling.choose({k: performances[k].validation_auroc for k in modelling.MODELS})
    progress("training the pathway model")
    pathway = fit_pathway(pd.concat([periods.train, periods.calibrate]))
    version = (session.scalar(select(func.max(DischargeModel.version))) or 0) + 1
    reference_values = features.matrix(periods.train).mean(axis=0)
    bundle = {
        "version": version,
        "chosen": chosen,
        "features": list(FEATURES),
        "models": fitted,
        "pathway": pathway,
        "reference": reference_values,
        "agreement": read.agreement,
        "agreement_version": agreement_version,
        "snapshots": read.snapshots,
        "as_of": str(as_of),
    }
    progress("saving the model")
    relative = Path(MODELS_DIR) / f"discharge-model-v{version}.joblib"
    path = settings.data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    joblib.dump(bundle, partial)
    partial.replace(path)
    y_test = periods.test["new_package"].to_numpy(dtype=int)
    report = {
        "chosen": chosen,
        "against_baselines": modelling.against_baselines(y_test, predictions, chosen, seed),
        "models": {k: performances[k].to_json() for k in modelling.MODELS},
        "spells": int(len(table)),
        "observed_spells": int(table["observed"].sum()),
        "opted_out_spells": opted_out,
        "pathway_shares": {
            str(k): round(float((table["pathway"] == k).mean()), 4) for k in range(4)
        },
        "subgroup_margin": modelling.SUBGROUP_MARGIN,
    }
    row = DischargeModel(
        version=version,
        chosen=chosen,
        agreement_ref=read.agreement,
        agreement_version=agreement_version,
        snapshots=read.snapshots,
        receipts=list(read.receipts),
        as_of=as_of,
        periods=periods.describe(),
        report=report,
        file=str(relative),
        file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        trained_by=actor.membership_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "discharge_model_trained",
        "discharge_model",
        str(version),
        reason=f"Chose {modelling.MODEL_TITLES[chosen]} (test AUROC "
        f"{performances[chosen].auroc:.3f}).",
        purpose=MODEL_PURPOSE,
        agreement_ref=read.agreement,
        agreement_version=agreement_version,
        row_count=int(table["observed"].sum()),
        details={"snapshots": read.snapshots, "receipts": list(read.receipts)},
    )
    return Trained(row, performances, periods.test, predictions)


def may_see_models(session: Session, actor: Actor) -> None:
    """Model reports and the forecast are aggregates, for the parties that receive under the
    agreement (for either purpose); DischargeError (403) for anyone else."""
    try:
        agreement_for(session, actor, MODEL_PURPOSE)
    except DischargeError:
        agreement_for(session, actor, LIST_PURPOSE)


def all_models(session: Session) -> list[DischargeModel]:
    return list(session.scalars(select(DischargeModel).order_by(DischargeModel.version.desc())))


def latest(session: Session) -> DischargeModel:
    row = session.scalars(select(DischargeModel).order_by(DischargeModel.version.desc())).first()
    if row is None:
        raise DischargeError(
            "No discharge model has been trained yet: run `civicshare discharge train`.",
            field="model",
            status=404,
        )
    return row


def get(session: Session, version: int | None) -> DischargeModel:
    if version is None:
        return latest(session)
    row = session.scalars(select(DischargeModel).where(DischargeModel.version == version)).first()
    if row is None:
        raise DischargeError(f"There is no discharge model version {version}.", field="version",
                             status=404)  # fmt: skip
    return row


def load(settings: Settings, row: DischargeModel) -> dict[str, Any]:
    """The saved bundle, after checking it is the file that was trained."""
    path = settings.data_dir / row.file
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != row.file_sha256:
        raise DischargeError(
            f"The file of discharge model version {row.version} is missing or has changed; "
            "train again.",
            field="model",
            status=409,
        )
    return joblib.load(path)


# -- the discharge team's list ------------------------------------------------------------

# Who to tell, by likely pathway, and for what a person's record shows.
PATHWAY_SERVICES = {
    0: [],
    1: ["Reablement (county adult social care)", "Home care brokerage"],
    2: ["Community bed (community health trust)", "Adult social care assessment"],
    3: ["Care home placement (county brokerage)", "Adult social care assessment"],
}


def services_to_alert(pathway: int, row: pd.Series) -> list[str]:
    alert = list(PATHWAY_SERVICES[pathway])
    if row["home_oxygen"] and pathway > 0:
        alert.append("Home oxygen service and fire and rescue home safety visit")
    if row["dementia"] and pathway > 0:
        alert.append("Memory and dementia support")
    if row["existing_package"]:
        alert.append("Current care provider (restart or review the package)")
    return alert


def _describe(name: str, value: float) -> str:
    if name == "age":
        return f"Age {int(value)}"
    if name == "length_of_stay":
        return f"{int(value)} days in hospital so far"
    if name == "frailty":
        return f"Frailty score {int(value)}"
    if name == "prior_admissions":
        return f"{int(value)} admissions in the previous year"
    return FEATURE_LABELS[name]


def inpatient_list(
    session: Session, settings: Settings, actor: Actor, *, via: str, version: int | None = None
) -> dict[str, Any]:
    """The trust's current adult inpatients (no discharge recorded), each with a risk band,
    the factors that raise it most, the likely pathway and the services to alert."""
    row = get(session, version)
    bundle = load(settings, row)
    read, _, table, as_of, _ = _read(session, settings, actor, LIST_PURPOSE, via,
                                      "discharge team's list")  # fmt: skip
    inpatients = table[table["discharged"].isna()].reset_index(drop=True)
    model = bundle["models"][bundle["chosen"]]
    entries = []
    if len(inpatients):
        risk = model.predict(inpatients)
        contributions = model.contributions(inpatients, bundle["reference"])
        pathway_p = bundle["pathway"].predict_proba(features.matrix(inpatients))
        classes = list(bundle["pathway"].classes_)
        for i, spell in inpatients.iterrows():
            order = np.argsort(-contributions[i])
            factors = [
                _describe(FEATURES[j], spell[FEATURES[j]])
                for j in order[:TOP_FACTORS]
                if contributions[i][j] > 0.05
            ]
            likely = int(classes[int(np.argmax(pathway_p[i]))])
            entries.append(
                {
                    "spell_id": spell["spell_id"],
                    "site": spell["site"],
                    "admitted": str(spell["admitted"].date()),
                    "days_in_hospital": int(spell["length_of_stay"]),
                    "age_band": spell["age_band"],
                    "district": spell["district"],
                    "risk": round(float(risk[i]), 3),
                    "risk_band": modelling.risk_band(float(risk[i])),
                    "factors": factors,
                    "pathway": likely,
                    "pathway_title": forecast.PATHWAY_TITLES[likely],
                    "pathway_probabilities": {
                        str(int(c)): round(float(pathway_p[i][k]), 3) for k, c in enumerate(classes)
                    },
                    "services": services_to_alert(likely, spell),
                }
            )
    entries.sort(key=lambda e: -e["risk"])
    audit.record(
        session,
        actor,
        "discharge_list_viewed",
        "discharge_model",
        str(row.version),
        purpose=LIST_PURPOSE,
        agreement_ref=read.agreement,
        row_count=len(entries),
        details={"via": via, "receipts": list(read.receipts), "as_of": str(as_of)},
    )
    return {"as_of": str(as_of), "model_version": row.version, "chosen": bundle["chosen"],
            "agreement": read.agreement, "inpatients": entries}  # fmt: skip


LIST_COLUMNS = (
    "spell_id",
    "site",
    "admitted",
    "days_in_hospital",
    "age_band",
    "district",
    "risk",
    "risk_band",
    "pathway",
    "pathway_title",
    "factors",
    "services",
)


def list_rows(result: dict[str, Any]) -> list[list[Any]]:
    """The list as rows for the CSV export (lists joined with '; ')."""
    out = []
    for entry in result["inpatients"]:
        out.append(
            ["; ".join(entry[c]) if isinstance(entry[c], list) else entry[c] for c in LIST_COLUMNS]
        )
    return out


# -- the demand forecast ------------------------------------------------------------------


def demand_forecast(session: Session, settings: Settings, *, via: str) -> forecast.Forecast:
    """Weekly discharges by district and pathway for the next six weeks (aggregates only),
    read as the gateway's service membership under the planning purpose."""
    actor = service_actor(session)
    read, _, table, as_of, _ = _read(session, settings, actor, MODEL_PURPOSE, via,
                                      "discharge demand forecast")  # fmt: skip
    result = forecast.forecast(table, as_of)
    audit.record(
        session,
        actor,
        "discharge_forecast_made",
        "discharge_forecast",
        str(as_of),
        purpose=MODEL_PURPOSE,
        agreement_ref=read.agreement,
        details={"via": via, "receipts": list(read.receipts), "held_out": result.held_out},
    )
    return result

"""The feature table: one row per adult hospital spell, from pseudonymised linked records read
only through the one choke point (`sharing.delivery.share`).

Five reads under the discharge-care-planning agreement: the acute trust's spells, the ICB's
over-65 register (frailty, living alone, dementia, home oxygen) and GP registrations (ethnic
category, the national data opt-out), and the county's social care clients and packages
(an existing package before admission; a new one within 30 days of discharge, the outcome).
Records are joined on the agreement's pseudonym of the person index's key; the package
records on the pseudonym of the client id. No name, NHS number, address or date of birth is
in any read (the agreement excludes them; the date of birth arrives as the year only), so none
can reach this table or a model trained on it.

People who registered the national data opt-out are dropped here, before anything is
trained or scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.config import Settings
from civicshare.core.codes import ETHNIC_GROUP
from civicshare.core.errors import DomainError
from civicshare.sharing import delivery
from civicshare.sharing.service import ShareRequest

AGREEMENT_TEMPLATE = "discharge-care-planning"
MODEL_PURPOSE = "discharge-risk-model"
LIST_PURPOSE = "discharge-list"
SCOPE = "discharge:read"
FOLLOW_UP_DAYS = 30  # the outcome: a new care package starting within 30 days of discharge
PRIOR_DAYS = 365  # prior admissions counted over the year before admission

ACUTE = ("worcs-acute", "acute-admissions")
OVER_65 = ("hw-icb", "over-65-register")
GP = ("hw-icb", "gp-registrations")
CLIENTS = ("worcestershire-cc", "asc-clients")
PACKAGES = ("worcestershire-cc", "asc-care-packages")
SOURCES = (ACUTE, OVER_65, GP, CLIENTS, PACKAGES)

EMERGENCY_METHODS = ("21", "22", "23", "24", "25", "28", "2A", "2B", "2C", "2D")
FRAILTY_FROM_EFI = {"fit": 3, "mild": 4, "moderate": 5, "severe": 7}
AGE_BANDS = ((18, 64, "18-64"), (65, 74, "65-74"), (75, 84, "75-84"), (85, 200, "85+"))
# The model's inputs, in order; all numbers (flags 0/1). No identifier is among them.
FEATURES = (
    "age",
    "frailty",
    "length_of_stay",
    "emergency",
    "prior_admissions",
    "existing_package",
    "lives_alone",
    "dementia",
    "home_oxygen",
    "male",
)
FEATURE_LABELS = {
    "age": "Age",
    "frailty": "Frailty (clinical frailty scale)",
    "length_of_stay": "Length of stay",
    "emergency": "Emergency admission",
    "prior_admissions": "Admissions in the previous year",
    "existing_package": "Already has a care package",
    "lives_alone": "Lives alone",
    "dementia": "Dementia",
    "home_oxygen": "Home oxygen",
    "male": "Male",
}
SUBGROUPS = ("age_band", "sex", "ethnic_group", "district")
# Columns of the feature table that are never model inputs (who, when, where, what happened).
KEYS = ("spell_id", "person", "admitted", "discharged", "site")
OUTCOMES = ("new_package", "pathway", "observed")


class DischargeError(DomainError):
    """A discharge planning request the gateway cannot answer, in words the team can act on."""


@dataclass(frozen=True)
class Read:
    """What the five reads gave: the tables, and the snapshots and receipts behind them."""

    tables: dict[tuple[str, str], pa.Table]
    snapshots: dict[str, int]  # "provider/dataset" -> snapshot version
    receipts: tuple[int, ...]
    agreement: str


def read_sources(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    purpose: str,
    via: str,
    agreement: str,
    note: str,
) -> Read:
    """Each source dataset through decide -> execute (audited, with a receipt each)."""
    tables, snapshots, receipts = {}, {}, []
    for provider, dataset in SOURCES:
        request = ShareRequest(
            actor=actor,
            purpose=purpose,
            provider=provider,
            dataset=dataset,
            agreement=agreement,
            note=note,
            scope=SCOPE,
        )
        delivered = delivery.share(session, settings, request, via=via)
        tables[(provider, dataset)] = delivered.table
        snapshots[f"{provider}/{dataset}"] = delivered.snapshot_version
        receipts.append(delivered.receipt_id)
    return Read(tables, snapshots, tuple(receipts), agreement)


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


def _flag(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip().str.lower()
    return text.isin(["true", "1", "y", "yes"]).astype(float)


def _first_per_person(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.dropna(subset=["person_key"]).drop_duplicates("person_key")


def age_band(age: float) -> str:
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return "under 18"


def district_of_sector(sectors: dict[str, str], sector: str | None) -> str:
    return sectors.get(str(sector or "").strip().upper(), "unknown")


def as_of_date(acute: pd.DataFrame) -> date:
    """The data's own today: the latest admission or discharge the trust has recorded."""
    stamps = pd.concat([acute["ADMIT_DT"], acute["DISCH_DT"]]).dropna()
    if stamps.empty:
        raise DischargeError("The acute trust's spells hold no dates.", field="acute-admissions")
    return pd.Timestamp(stamps.max()).date()


def build(read: Read, sectors: dict[str, str]) -> tuple[pd.DataFrame, date, int]:
    """The feature table, its as-of date, and how many spells the opt-out removed."""
    acute = _frame(read.tables[ACUTE])
    for column in ("ADMIT_DT", "DISCH_DT"):
        acute[column] = pd.to_datetime(acute[column], errors="coerce")
    as_of = as_of_date(acute)
    # A record the trust holds twice (the same person admitted at the same minute) once.
    acute = acute.sort_values("SPELL_ID").drop_duplicates(["person_key", "ADMIT_DT"])
    acute = acute[acute["DISCH_METHOD"].astype("string").fillna("") != "4"]  # died in hospital
    admitted = acute["ADMIT_DT"]
    birth_year = pd.to_numeric(acute["DOB"], errors="coerce")
    age = admitted.dt.year - birth_year
    table = pd.DataFrame(
        {
            "spell_id": acute["SPELL_ID"].astype(str),
            "person": acute["person_key"],
            "admitted": admitted,
            "discharged": acute["DISCH_DT"],
            "site": acute["SITE_CODE"],
            "age": age.astype(float),
            "male": (acute["SEX"].astype("string").str.upper() == "M").astype(float),
            "sex": acute["SEX"].astype("string").str.upper().map({"M": "Male", "F": "Female"}),
            "emergency": acute["ADMIT_METHOD"].astype("string").isin(EMERGENCY_METHODS),
            "cfs": pd.to_numeric(acute["CFS_SCORE"], errors="coerce"),
            "los_recorded": pd.to_numeric(acute["LOS_DAYS"], errors="coerce"),
            "pathway": pd.to_numeric(acute["DISCH_PATHWAY"], errors="coerce"),
            "district": [district_of_sector(sectors, s) for s in acute["POSTCODE"]],
        }
    )
    table["emergency"] = table["emergency"].astype(float)
    table = table[table["age"] >= 18].reset_index(drop=True)
    # Length of stay: recorded when discharged, days so far for a current inpatient.
    so_far = (pd.Timestamp(as_of) - table["admitted"].dt.normalize()).dt.days
    table["length_of_stay"] = table["los_recorded"].fillna(so_far).clip(lower=0).astype(float)
    table["prior_admissions"] = _prior_admissions(table)

    o65 = _first_per_person(_frame(read.tables[OVER_65]))
    o65 = o65.assign(
        efi_frailty=o65["efi_category"]
        .astype("string")
        .str.lower()
        .map(FRAILTY_FROM_EFI)
        .astype(float),
        lives_alone=_flag(o65["lives_alone"]),
        dementia=_flag(o65["dementia_register"]),
        home_oxygen=_flag(o65["home_oxygen"]),
    )[["person_key", "efi_frailty", "lives_alone", "dementia", "home_oxygen"]]
    table = table.merge(o65, left_on="person", right_on="person_key", how="left").drop(
        columns="person_key"
    )
    for column in ("lives_alone", "dementia", "home_oxygen"):
        table[column] = table[column].fillna(0.0)
    # Frailty: the trust's score on admission, else the GP's frailty category, else fit (3).
    table["frailty"] = table["cfs"].fillna(table["efi_frailty"]).fillna(3.0).astype(float)

    gp = _first_per_person(_frame(read.tables[GP]))
    gp = gp.assign(
        ethnic_group=gp["ethnic_category"].astype("string").str.strip().str[:1].map(ETHNIC_GROUP),
        opted_out=_flag(gp["national_data_opt_out"]).astype(bool),
    )[["person_key", "ethnic_group", "opted_out"]]
    table = table.merge(gp, left_on="person", right_on="person_key", how="left").drop(
        columns="person_key"
    )
    table["ethnic_group"] = table["ethnic_group"].fillna("Not stated")
    table["opted_out"] = table["opted_out"].fillna(False).astype(bool)
    opted_out = int(table["opted_out"].sum())
    table = table[~table["opted_out"]].drop(columns="opted_out")

    existing, new = _packages(read, table)
    table["existing_package"] = existing
    table["new_package"] = new
    # Observed: discharged alive and followed up for the full 30 days before the data's date.
    follow_up_end = pd.Timestamp(as_of - timedelta(days=FOLLOW_UP_DAYS))
    table["observed"] = table["discharged"].notna() & (table["discharged"] <= follow_up_end)
    table.loc[~table["observed"], "new_package"] = np.nan
    table["age_band"] = table["age"].map(age_band)
    table["sex"] = table["sex"].fillna("Not stated")
    columns = [*KEYS, *FEATURES, *SUBGROUPS, *OUTCOMES]
    table = table[[c for c in columns if c != "age_band"] + ["age_band"]]
    return table.sort_values(["admitted", "spell_id"]).reset_index(drop=True), as_of, opted_out


def _prior_admissions(table: pd.DataFrame) -> pd.Series:
    """Admissions of the same person in the year before this one."""
    counts = np.zeros(len(table))
    for _, group in table.groupby("person", sort=False):
        times = group["admitted"].to_numpy()
        for i, index in enumerate(group.index):
            earlier = times[
                (times < times[i]) & (times >= times[i] - np.timedelta64(PRIOR_DAYS, "D"))
            ]
            counts[index] = len(earlier)
    return pd.Series(counts, index=table.index)


def _packages(read: Read, table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per spell: a package already running on admission; a new one starting within 30 days
    after discharge (counted only where the follow-up is complete)."""
    clients = _frame(read.tables[CLIENTS]).dropna(subset=["person_key", "Client ID"])
    packages = _frame(read.tables[PACKAGES]).dropna(subset=["Client ID"])
    packages = packages.merge(
        clients[["Client ID", "person_key"]].drop_duplicates("Client ID"), on="Client ID"
    )
    packages["start"] = pd.to_datetime(packages["Start Date"], errors="coerce")
    packages["end"] = pd.to_datetime(packages["End Date"], errors="coerce")
    by_person = {key: group for key, group in packages.groupby("person_key")}
    existing = np.zeros(len(table))
    new = np.zeros(len(table))
    for row, (person, admitted, discharged) in enumerate(
        zip(table["person"], table["admitted"], table["discharged"], strict=True)
    ):
        held = by_person.get(person)
        if held is None:
            continue
        day = admitted.normalize()
        running = (held["start"] <= day) & (held["end"].isna() | (held["end"] >= day))
        existing[row] = float(running.any())
        if pd.notna(discharged):
            left = discharged.normalize()
            after = (held["start"] > left) & (
                held["start"] <= left + pd.Timedelta(days=FOLLOW_UP_DAYS)
            )
            new[row] = float(after.any())
    return pd.Series(existing, index=table.index), pd.Series(new, index=table.index)


def matrix(table: pd.DataFrame) -> np.ndarray:
    return table[list(FEATURES)].to_numpy(dtype=float)

"""The ground truth of people and households, and the manifest writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from civicshare.core.codes import ETHNIC_GROUP

from ..people import HTYPE_NAMES
from .base import (
    Context,
    blank_to_null,
    date_arr,
    fmt_nhs,
    s_arr,
)
from .health import national_data_opt_out


def write_people_truth(ctx: Context) -> None:
    P = ctx.pop.p
    pr = ctx.geo.properties
    prev = P["prev_property"]
    table = pa.table(
        {
            "person_id": pa.array(np.arange(ctx.pop.n) + 1),
            "household_id": pa.array(P["household"] + 1),
            "uprn": pa.array(pr["uprn"][P["property"]]),
            "previous_uprn": pa.array(np.where(prev >= 0, pr["uprn"][np.maximum(prev, 0)], None)),
            "forename": s_arr(P["forename"]),
            "middle_names": s_arr(P["middle"]),
            "surname": s_arr(P["surname"]),
            "maiden_surname": blank_to_null(s_arr(P["maiden_surname"])),
            "recent_surname_change": pa.array(P["recent_surname_change"]),
            "date_of_birth": date_arr(P["dob"]),
            "age": pa.array(P["age"]),
            "sex": s_arr(np.where(P["male"], "M", "F")),
            "ethnic_category": s_arr(P["ethnic"]),
            "ethnic_group": s_arr(np.array([ETHNIC_GROUP[e] for e in P["ethnic"]], dtype=object)),
            "nhs_number": fmt_nhs(P["nhs"]),
            "phone": blank_to_null(s_arr(P["phone"])),
            "household_role": s_arr(
                np.array(["head", "partner", "child", "other adult", "older parent"])[P["role"]]
            ),
            "twin_person_id": pa.array(np.where(P["twin_of"] >= 0, P["twin_of"] + 1, None)),
            "died": pa.array(P["died"]),
            "date_of_death": date_arr(P["death_date"]),
            "lives_alone": pa.array(P["lives_alone"]),
            "national_data_opt_out": pa.array(national_data_opt_out(ctx)),
            "clinical_frailty_scale": pa.array(P["cfs"]),
            **{
                k: pa.array(P[k])
                for k in (
                    "dementia",
                    "home_oxygen",
                    "smoker",
                    "mobility",
                    "hearing",
                    "sight",
                    "mental_health",
                    "learning_disability",
                    "dialysis",
                    "care_package",
                )
            },
        }
    )
    pq.write_table(table, ctx.out / "truth" / "people.parquet", compression="zstd")
    H = ctx.pop.h
    ht = pa.table(
        {
            "household_id": pa.array(np.arange(len(H["type"])) + 1),
            "household_type": s_arr(np.array(HTYPE_NAMES, dtype=object)[H["type"]]),
            "size": pa.array(H["size"]),
            "living_members": pa.array(H["living"]),
            "uprn": pa.array(pr["uprn"][H["property"]]),
            "previous_uprn": pa.array(
                np.where(
                    H["prev_property"] >= 0, pr["uprn"][np.maximum(H["prev_property"], 0)], None
                )
            ),
            "move_date": date_arr(H["move_date"]),
        }
    )
    pq.write_table(ht, ctx.out / "truth" / "households.parquet", compression="zstd")


def dump_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")

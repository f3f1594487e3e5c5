"""What standardisation produces, shared by its DuckDB and Spark implementations.

``engine.standardise`` (DuckDB SQL) and ``spark_standardise`` (Spark SQL functions) compute
the same columns from the same tables: the canonical and standardised column names, the
street-word abbreviations, the nickname groups, and the profile of what a table holds. Both
import this module; neither imports the other.
"""

from __future__ import annotations

import csv
from importlib import resources
from typing import Any

import pandas as pd

CANONICAL_COLUMNS = (
    "source",
    "record_id",
    "given_name",
    "surname",
    "date_of_birth",
    "sex",
    "nhs_number",
    "other_id",
    "address",
    "postcode",
    "uprn",
)

# Columns that standardise() adds; their presence marks a frame as already standardised.
STANDARD_COLUMNS = (
    "uid",
    "source",
    "record_id",
    "given_name",
    "given_other",
    "given_aliases",
    "given_initial",
    "given_is_initial",
    "surname",
    "surname_tokens",
    "surname_initial",
    "surname_prefix",
    "dob",
    "dob_swap",
    "dob_month_day",
    "dob_year_month",
    "dob_year_day",
    "dob_year",
    "dob_month",
    "sex",
    "nhs_number",
    "nhs_valid",
    "other_id",
    "address",
    "address_compact",
    "address_tokens",
    "house_number",
    "street",
    "address_key",
    "postcode",
    "postcode_sorted",
    "postcode_sector",
    "postcode_district",
    "uprn",
)


def nickname_groups() -> pd.DataFrame:
    """name -> list of alias groups it belongs to (a group is named by its formal name)."""
    text = resources.files("civicshare.linkage").joinpath("data/nicknames.csv").read_text()
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    membership: dict[str, set[str]] = {}
    for row in list(csv.reader(rows))[1:]:
        group = row[0].strip().upper()
        for name in {group, *(part.strip().upper() for part in row[1:])}:
            if name:
                membership.setdefault(name, set()).add(group)
    return pd.DataFrame(
        {"name": list(membership), "groups": [sorted(g) for g in membership.values()]}
    )


ABBREVIATIONS = {
    "RD": "ROAD",
    "ST": "STREET",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "CL": "CLOSE",
    "DR": "DRIVE",
    "LN": "LANE",
    "CRES": "CRESCENT",
    "CRESC": "CRESCENT",
    "PL": "PLACE",
    "CT": "COURT",
    "GDNS": "GARDENS",
    "GRN": "GREEN",
    "GR": "GROVE",
    "TCE": "TERRACE",
    "TER": "TERRACE",
    "SQ": "SQUARE",
    "HSE": "HOUSE",
    "FLT": "FLAT",
    "APT": "APARTMENT",
    "CIR": "CIRCUIT",
    "PDE": "PARADE",
    "HWY": "HIGHWAY",
}


def is_standardised(frame: pd.DataFrame) -> bool:
    return "uid" in frame.columns and "given_aliases" in frame.columns


# Which standardised column must hold data for each comparison to be used.
FIELD_COLUMNS = {
    "nhs_number": "nhs_number",
    "other_id": "other_id",
    "given_name": "given_name",
    "surname": "surname",
    "date_of_birth": "dob",
    "sex": "sex",
    "postcode": "postcode",
    "uprn": "uprn",
    "address": "address",
}


def profile(counts: dict[str, int], rows: int, columns: list[str]) -> dict[str, Any]:
    """What the records hold: the fields with data, UK postcodes, coordinates."""
    fields = []
    for name, column in FIELD_COLUMNS.items():
        filled = counts.get(column, 0)
        if filled >= 2 and filled >= 0.01 * rows:
            fields.append(name)
    postcodes = counts.get("postcode", 0)
    return {
        "rows": rows,
        "fields": fields,
        # Most postcodes have the UK shape, so sector and district levels mean something.
        "uk": bool(postcodes) and counts.get("postcode_sector", 0) >= 0.5 * postcodes,
        "distance": {"easting", "northing"} <= set(columns) and "postcode" in fields,
    }

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicshare import db


@pytest.fixture(scope="session")
def county(tmp_path_factory) -> Path:
    """A small synthetic county (messy partner files), generated once per test session."""
    from civicshare.synthetic.service import generate

    out = tmp_path_factory.mktemp("county")
    generate(people=600, seed=5, out=out)
    return out


@pytest.fixture
def seeded(sessions, county):
    """The store with the county's partners and datasets registered (no snapshots yet)."""
    from civicshare.demo import seed_store

    with db.session_scope(sessions) as session:
        seed_store(session, json.loads((county / "manifest.json").read_text()))
    return sessions


def simple_contract(partner: str = "worcs-acute", bad_rows: str = "reject", **extra) -> dict:
    return {
        "partner": partner,
        "name": "test-people",
        "title": "Test people",
        "date_formats": ["%d/%m/%Y"],
        "bad_rows": bad_rows,
        "quarantine_limit": 0.5,
        "columns": [
            {"name": "id", "required": True},
            {"name": "nhs", "identifier": "nhs_number"},
            {"name": "surname", "identifier": "family_name", "required": True},
            {"name": "dob", "type": "date", "identifier": "date_of_birth"},
            {"name": "postcode", "identifier": "postcode"},
            {"name": "uprn", "identifier": "uprn"},
            {"name": "visits", "type": "integer"},
            {"name": "cost", "type": "decimal"},
            {"name": "alone", "type": "boolean"},
            {"name": "seen", "type": "datetime", "formats": ["%Y-%m-%d %H:%M"]},
            {"name": "condition", "special_category": True, "special_category_kind": "health"},
        ],
        **extra,
    }


HEADER = "id,nhs,surname,dob,postcode,uprn,visits,cost,alone,seen,condition\n"
GOOD_ROWS = [
    "A1,943 476 5919,Smith,01/02/1950,WR5 1PS,100120001916,3,12.50,Y,2025-01-02 10:00,asthma",
    "A2,9434765870,Jones,28/02/1961,wr51ps,100120000783,0,0,N,2025-01-03 11:30,",
    "A3,,Brown,,B98 1YD,,,,,,",
]


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "\n".join(rows) + "\n")
    return path

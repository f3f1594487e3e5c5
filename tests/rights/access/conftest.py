"""One demo county for the subject access tests (SQLite), and its ground truth: who each
record really is (tests only; no product code reads the truth)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from civicshare import db
from civicshare.accounts.service import Actor, actor_for
from civicshare.config import Settings
from civicshare.partners import service as partners
from tests.conftest import demo_store, sqlite_settings

IG_LEAD = "admin@worcestershire-cc.example"  # IG lead and admin of the host partner


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Settings:
    settings = sqlite_settings(tmp_path_factory.mktemp("rights-county") / "data")
    demo_store(settings, people=600, seed=5)
    return settings


@pytest.fixture(scope="module")
def county_sessions(county):
    engine = db.make_engine(county.effective_database_url)
    yield db.make_sessionmaker(engine)
    engine.dispose()


def acting(session, email: str, partner: str | None = None) -> Actor:
    person = partners.get_person_by_email(session, email)
    membership = next(m for m in person.memberships if partner is None or m.partner.key == partner)
    return actor_for(membership, "cli")


def truth_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "synthetic" / "truth"


def true_records(settings: Settings, indexed_sources: list[str]) -> dict[int, set]:
    """person_id -> {(source, record id)} over the indexed sources, from the ground truth."""
    by_person: dict[int, set] = defaultdict(set)
    for source in indexed_sources:
        dataset = source.split("/", 1)[1]
        path = truth_dir(settings) / f"{dataset}.parquet"
        if not path.exists():
            continue
        for row in pq.read_table(path, columns=["record_id", "person_id"]).to_pylist():
            if row["person_id"] is not None:
                by_person[row["person_id"]].add((source, str(row["record_id"])))
    return by_person


def true_person(settings: Settings, person_id: int) -> dict:
    table = pq.read_table(truth_dir(settings) / "people.parquet")
    return next(r for r in table.to_pylist() if r["person_id"] == person_id)

"""One demo county for the discount review tests (SQLite; the review's reads and outcomes on
PostgreSQL too are in test_review.py's store-backed tests)."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.config import Settings
from tests.conftest import demo_store, sqlite_settings


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Settings:
    settings = sqlite_settings(tmp_path_factory.mktemp("counciltax-county") / "data")
    demo_store(settings, people=1200, seed=1)
    return settings


@pytest.fixture(scope="module")
def county_sessions(county):
    engine = db.make_engine(county.effective_database_url)
    yield db.make_sessionmaker(engine)
    engine.dispose()

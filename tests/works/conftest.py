"""One demo county for the works service tests (SQLite; publishing and notifying on both
backends is in test_publish.py)."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.config import Settings
from tests.conftest import demo_store, sqlite_settings


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Settings:
    settings = sqlite_settings(tmp_path_factory.mktemp("works-county") / "data")
    demo_store(settings, people=600, seed=5)
    return settings


@pytest.fixture(scope="module")
def county_sessions(county):
    engine = db.make_engine(county.effective_database_url)
    yield db.make_sessionmaker(engine)
    engine.dispose()

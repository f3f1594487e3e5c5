"""One demo county for the incident tests (SQLite; the flow on both backends is in
test_on_both_backends.py)."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.config import Settings
from tests.conftest import demo_store, sqlite_settings


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Settings:
    settings = sqlite_settings(tmp_path_factory.mktemp("county") / "data")
    demo_store(settings, people=1500, seed=4)
    return settings


@pytest.fixture(scope="session")
def store_sessions(store):
    engine = db.make_engine(store.effective_database_url)
    yield db.make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def centre(store):
    from tests.incidents.test_incidents import busiest_point

    return busiest_point(store)


@pytest.fixture
def operator_store_env(store, monkeypatch):
    """The command line at the gateway, pointed at the demo county's store."""
    monkeypatch.setenv("CIVICSHARE_DATA_DIR", str(store.data_dir))
    monkeypatch.setenv("CIVICSHARE_DATABASE_URL", store.effective_database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return store

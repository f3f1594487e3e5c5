"""One demo county for the works service tests (SQLite; publishing and notifying on both
backends is in test_publish.py)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from civicshare import db, demo
from civicshare.config import Settings


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Settings:
    data_dir = tmp_path_factory.mktemp("works-county") / "data"
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir.parent / 'store.db'}")
    demo.prepare(settings, people=600, seed=5, console=Console(file=io.StringIO()))
    return settings


@pytest.fixture(scope="module")
def county_sessions(county):
    engine = db.make_engine(county.effective_database_url)
    yield db.make_sessionmaker(engine)
    engine.dispose()

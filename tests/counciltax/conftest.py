"""One demo county for the discount review tests (SQLite; the review's reads and outcomes on
PostgreSQL too are in test_review.py's store-backed tests)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from civicshare import db, demo
from civicshare.config import Settings


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Settings:
    data_dir = tmp_path_factory.mktemp("counciltax-county") / "data"
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir.parent / 'store.db'}")
    demo.prepare(settings, people=1200, seed=1, console=Console(file=io.StringIO()))
    return settings


@pytest.fixture(scope="module")
def county_sessions(county):
    engine = db.make_engine(county.effective_database_url)
    yield db.make_sessionmaker(engine)
    engine.dispose()

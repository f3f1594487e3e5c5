"""One demo county for the discharge tests: 3,000 residents, the smallest county with enough
spells in each period (60/20/20 by admission date) to train and judge a model."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.discharge import service
from tests.conftest import demo_county_fixtures

PEOPLE, SEED = 3000, 5

county, county_sessions = demo_county_fixtures(
    "discharge-county", people=PEOPLE, seed=SEED, scope="session"
)


@pytest.fixture(scope="session")
def trained(county, county_sessions) -> service.Trained:
    with db.session_scope(county_sessions) as session:
        result = service.train(session, county, via="cli")
        session.expunge(result.row)
    return result


@pytest.fixture
def store_env(county, monkeypatch):
    """The command line at the gateway, pointed at the demo county's store."""
    monkeypatch.setenv("CIVICSHARE_DATA_DIR", str(county.data_dir))
    monkeypatch.setenv("CIVICSHARE_DATABASE_URL", county.effective_database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return county

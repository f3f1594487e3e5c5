"""One demo county for the rights tests (SQLite, person index linked), and who acts in it."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.accounts.service import Actor, actor_for
from civicshare.config import Settings
from civicshare.partners import service as partners
from tests.conftest import demo_store, sqlite_settings

IG_LEAD = "ig.lead@worcs-acute.example"


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

"""One demo county for the life events tests that need the person index (SQLite)."""

from __future__ import annotations

from tests.conftest import acting, demo_county_fixtures

__all__ = ["ADMIN", "REGISTRAR", "acting"]

REGISTRAR = "streetworks@worcestershire-cc.example"  # a data provider of the county
ADMIN = "admin@worcestershire-cc.example"

county, county_sessions = demo_county_fixtures("events-county", people=600, seed=5)

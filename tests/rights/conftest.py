"""One demo county for the rights tests (SQLite, person index linked), and who acts in it."""

from __future__ import annotations

from tests.conftest import acting, demo_county_fixtures

__all__ = ["IG_LEAD", "acting"]

IG_LEAD = "ig.lead@worcs-acute.example"

county, county_sessions = demo_county_fixtures("rights-county", people=600, seed=5)

"""One demo county for the discount review tests (SQLite; the review's reads and outcomes on
PostgreSQL too are in test_review.py's store-backed tests)."""

from __future__ import annotations

from tests.conftest import demo_county_fixtures

county, county_sessions = demo_county_fixtures("counciltax-county", people=1200, seed=1)

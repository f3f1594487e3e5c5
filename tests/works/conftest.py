"""One demo county for the works service tests (SQLite; publishing and notifying on both
backends is in test_publish.py)."""

from __future__ import annotations

from tests.conftest import demo_county_fixtures

county, county_sessions = demo_county_fixtures("works-county")

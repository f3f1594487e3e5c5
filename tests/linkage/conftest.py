"""Fixtures the person index's tests share (the in-process and the Spark runs)."""

from __future__ import annotations

import json

import pytest

from civicshare import db


@pytest.fixture(scope="session")
def county(tmp_path_factory):
    """A small synthetic county (messy partner files, and the truth), once per session."""
    from civicshare.synthetic.service import generate

    out = tmp_path_factory.mktemp("linkage-county")
    generate(people=600, seed=7, out=out)
    return out


@pytest.fixture
def seeded(sessions, county):
    from civicshare.demo import seed_store

    with db.session_scope(sessions) as session:
        seed_store(session, json.loads((county / "manifest.json").read_text()))
    return sessions

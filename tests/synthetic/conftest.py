"""One small synthetic county per test session, shared by the synthetic-county tests."""

from __future__ import annotations

import pytest

from civicshare.synthetic.service import generate

PEOPLE = 5000
SEED = 7


@pytest.fixture(scope="session")
def county(tmp_path_factory):
    out = tmp_path_factory.mktemp("county")
    manifest = generate(PEOPLE, SEED, out)
    return out, manifest

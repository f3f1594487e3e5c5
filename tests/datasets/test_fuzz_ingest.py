"""Fuzzing the CSV, XLSX and Parquet readers through `service.push`: arbitrary bytes and
mutated valid files end as accepted or rejected, never an unexpected exception, and a
rejection leaves nothing half-written (no new snapshot, staging empty)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from civicshare import db
from civicshare.datasets import service
from tests.datasets.conftest import HEADER, simple_contract
from tests.datasets.test_bad_files import (
    ROWS,
    parquet_bytes,
    snapshot_count,
    staging,
    xlsx_bytes,
)

FUZZ = hsettings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VALID = {
    "csv": (HEADER + "\n".join(ROWS) + "\n").encode(),
    "parquet": parquet_bytes(),
    "xlsx": xlsx_bytes(),
}


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """`original` with a few bytes flipped, spans deleted or duplicated, or cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "delete", "repeat", "truncate", "insert"]))
        if kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


def _files(fmt: str):
    return st.one_of(st.binary(max_size=2048), mutated(VALID[fmt]))


def _push_survives(sessions, settings, tmp_path, fmt: str, data: bytes) -> None:
    path = tmp_path / f"fuzz.{fmt}"
    path.write_bytes(data)
    before = snapshot_count(sessions)
    with db.session_scope(sessions) as session:
        result = service.push(session, settings, "worcs-acute", "test-people", path)
    assert result.outcome in {"accepted", "rejected"}
    assert staging(settings) == []
    if result.outcome == "rejected":
        assert result.report["reasons"]
        assert snapshot_count(sessions) == before
    else:
        assert snapshot_count(sessions) == before + 1
        assert result.snapshot.data_path.is_file()


@pytest.fixture
def registered(seeded):
    with db.session_scope(seeded) as session:
        service.register_contract(session, simple_contract(bad_rows="quarantine", record_id="id"))
    return seeded


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_a_mutated_or_arbitrary_file_is_accepted_or_rejected(registered, settings, tmp_path, fmt):
    @FUZZ
    @given(data=_files(fmt))
    def check(data: bytes) -> None:
        _push_survives(registered, settings, tmp_path, fmt, data)

    check()

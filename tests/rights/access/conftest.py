"""The subject access tests run on the rights tests' demo county (tests/rights/conftest.py);
here, its ground truth: who each record really is (tests only; no product code reads it)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from civicshare.config import Settings
from tests.conftest import acting  # noqa: F401 (the tests import it from here)

IG_LEAD = "admin@worcestershire-cc.example"  # IG lead and admin of the host partner


def truth_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "synthetic" / "truth"


def true_records(settings: Settings, indexed_sources: list[str]) -> dict[int, set]:
    """person_id -> {(source, record id)} over the indexed sources, from the ground truth."""
    by_person: dict[int, set] = defaultdict(set)
    for source in indexed_sources:
        dataset = source.split("/", 1)[1]
        path = truth_dir(settings) / f"{dataset}.parquet"
        if not path.exists():
            continue
        for row in pq.read_table(path, columns=["record_id", "person_id"]).to_pylist():
            if row["person_id"] is not None:
                by_person[row["person_id"]].add((source, str(row["record_id"])))
    return by_person


def true_person(settings: Settings, person_id: int) -> dict:
    table = pq.read_table(truth_dir(settings) / "people.parquet")
    return next(r for r in table.to_pylist() if r["person_id"] == person_id)

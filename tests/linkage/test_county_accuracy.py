"""Accuracy gate on the synthetic county: its person-holding datasets linked in file mode.

The county has twins (same date of birth, surname and address, different given names) and
families at one address, plus injected typos, nicknames, swapped dates, stale addresses and
wrong NHS numbers (docs/synthetic-county.md). Ground truth: DIR/truth/<dataset>.parquet.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from civicshare.cli import app
from civicshare.synthetic.service import generate

COLUMN_MAP = Path(__file__).resolve().parents[2] / "docs" / "linkage" / "synthetic-county.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("county")
    generate(4000, 11, out)
    return out


def _datasets(county: Path) -> list[Path]:
    names = yaml.safe_load(COLUMN_MAP.read_text())["files"]
    files = [p for p in sorted((county / "datasets").iterdir()) if p.stem in names]
    assert len(files) == len(names), "every dataset in the column map exists in the county"
    return files


def _truth(county: Path, files: list[Path]) -> pd.DataFrame:
    frames = []
    for path in files:
        truth = pd.read_parquet(county / "truth" / f"{path.stem}.parquet")
        frames.append(
            pd.DataFrame(
                {
                    "source": path.stem,
                    "record_id": truth["record_id"].astype(str),
                    "entity_id": truth["person_id"].astype(str),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_county_partner_datasets_link_with_high_precision_and_recall(county, tmp_path):
    files = _datasets(county)
    truth = _truth(county, files)
    truth_path = tmp_path / "truth.csv"
    truth.to_csv(truth_path, index=False)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "link",
            "files",
            *map(str, files),
            "--columns",
            str(COLUMN_MAP),
            "--out",
            str(out),
            "--truth",
            str(truth_path),
        ],
    )
    assert result.exit_code == 0, result.output

    # Measured here from pairs.csv and the truth files, not from the report's own figures.
    person = dict(
        zip(zip(truth.source, truth.record_id, strict=True), truth.entity_id, strict=True)
    )
    pairs = pd.read_csv(out / "pairs.csv", dtype=str)
    same = [
        person[(sl, rl)] == person[(sr, rr)]
        for sl, rl, sr, rr in pairs[
            ["source_l", "record_id_l", "source_r", "record_id_r"]
        ].itertuples(index=False)
    ]
    true_positives = sum(same)
    per_person = truth.groupby("entity_id").size()
    per_person_source = truth.groupby(["entity_id", "source"]).size()
    true_pairs = int((per_person * (per_person - 1) // 2).sum()) - int(
        (per_person_source * (per_person_source - 1) // 2).sum()
    )
    precision = true_positives / len(pairs)
    recall = true_positives / true_pairs
    print(f"county: {len(pairs)} pairs, precision {precision:.4f}, recall {recall:.4f}")
    # Version 4 of the county (current inpatients, discount households): 3 wrong pairs in
    # 2,731 (0.9989; version 3: 2 in 2,739). Wrong pairs join relatives at one address,
    # which the household-aware comparisons of issue #15 are for; until then 0.998. Version 5
    # (the need for care after discharge redrawn, so other social care clients): 2,807 pairs,
    # precision 0.9993.
    assert precision >= 0.998
    assert recall >= 0.99
    assert "measured against truth" in result.output

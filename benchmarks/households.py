"""Benchmark: linkage on households (twins, same-name fathers and sons, siblings, married-name
changes, nicknames, movers) in a held-out UK-style council file and GP file.

    python benchmarks/households.py                  # 2,000 residents (quick)
    python benchmarks/households.py --people 20000   # the run recorded in docs/benchmarks.md

Data: ``civicshare.synthetic.linkage_pair.build_linkage_pair(people, seed)``: a council file
(NHS numbers on a fifth of rows) and a GP file of the same residents (each held with
probability 0.92 and 0.93), with truth. Measured in one process, one after the other:

  file mode       ``link_files`` on the two files (one-to-one: each file holds a person once)
  duplicates      the same with ``allow_duplicates=True`` (no one-to-one): the baseline the
                  time ratio is taken against
  index engine    what the person index runs: one model trained on both sources together,
                  every pair scored (within a source too), linked at the recommended threshold
                  into connected components (no one-to-one)

Each reports precision and recall of council-GP links (a pair of records in one cluster for
the index engine) against the truth, and how many pairs of twins, of a father and son of one
name and of parent and child have records in one cluster. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from civicshare.linkage import engine  # noqa: E402
from civicshare.linkage.files import link_files  # noqa: E402
from civicshare.synthetic.linkage_pair import build_linkage_pair  # noqa: E402


def _cluster_links(pair, clusters: pd.DataFrame) -> set[tuple[str, str]]:
    """Council-GP record pairs that share a cluster."""
    council = clusters[clusters["source"] == "council"]
    gp = clusters[clusters["source"] == "gp"]
    joined = council.merge(gp, on="cluster_id", suffixes=("_c", "_g"))
    return set(zip(joined["record_id_c"], joined["record_id_g"], strict=True))


def _relatives(pair, clusters: pd.DataFrame) -> dict[str, int]:
    return {
        "twins_merged": pair.merged(clusters, "twins"),
        "namesake_father_son_merged": pair.merged(clusters, "namesake_parent_child"),
        "parent_child_merged": pair.merged(clusters, "parent_child"),
        "siblings_merged": pair.merged(clusters, "siblings"),
    }


def file_mode(pair, paths, out: Path, allow_duplicates: bool) -> dict:
    started = time.perf_counter()
    result = link_files([paths["council"], paths["gp"]], out, allow_duplicates=allow_duplicates)
    seconds = time.perf_counter() - started
    clusters = pd.read_csv(out / "clusters.csv", dtype=str)
    scores = pair.evaluate(_cluster_links(pair, clusters))
    return {
        "seconds": round(seconds, 2),
        "threshold": round(result.threshold, 4),
        "estimated_precision": result.report["estimated"]["precision"],
        "precision": round(scores["precision"], 5),
        "recall": round(scores["recall"], 5),
        "links": scores["links"],
        "split_clusters": len(result.report.get("split_clusters", [])),
        **_relatives(pair, clusters),
    }


def index_engine(pair) -> dict:
    records = pd.concat(
        [pair.council.assign(source="council"), pair.gp.assign(source="gp")], ignore_index=True
    )
    started = time.perf_counter()
    model, scored = engine.train_and_predict(records, score_floor=0.01, detail=False)
    clusters = engine.cluster(records, scored, model.recommended_threshold)
    seconds = time.perf_counter() - started
    scores = pair.evaluate(_cluster_links(pair, clusters))
    return {
        "seconds": round(seconds, 2),
        "threshold": round(model.recommended_threshold, 4),
        "precision": round(scores["precision"], 5),
        "recall": round(scores["recall"], 5),
        "links": scores["links"],
        **_relatives(pair, clusters),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000, help="residents (default 2,000)")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    pair = build_linkage_pair(args.people, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        paths = pair.write(folder)
        one_to_one = file_mode(pair, paths, Path(folder) / "one", allow_duplicates=False)
        duplicates = file_mode(pair, paths, Path(folder) / "dup", allow_duplicates=True)
    index = index_engine(pair)
    summary = {
        "people": args.people,
        "council_records": len(pair.council),
        "gp_records": len(pair.gp),
        "true_links": len(pair.true_pairs()),
        "twin_pairs": len(pair.relatives("twins")),
        "namesake_pairs": len(pair.relatives("namesake_parent_child")),
        "file_mode": one_to_one,
        "file_mode_allow_duplicates": duplicates,
        "index_engine": index,
        "file_mode_time_ratio": round(one_to_one["seconds"] / duplicates["seconds"], 3),
    }
    for name in ("file_mode", "file_mode_allow_duplicates", "index_engine"):
        row = summary[name]
        print(
            f"{name:28s} precision {row['precision']:.5f} recall {row['recall']:.5f} "
            f"twins merged {row['twins_merged']} father/son merged "
            f"{row['namesake_father_son_merged']} in {row['seconds']} s"
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""Benchmark: the linkage engine on Splink's Spark backend against a plain Splink script on Spark.

    python benchmarks/linkage_spark.py                      # 5,000 x 5,000 records
    python benchmarks/linkage_spark.py --size 5000000       # the full local-mode run

The data are ``benchmarks/linkage.py``'s (``size`` people in source A; source B holds ``size``
records, 80% of them A's people with typos, nicknames, swapped day and month, missing NHS
numbers and moves). Both runs read the same Parquet file *in Spark* (the records never pass
through pandas on the driver) on a local-mode session of ``--cores`` cores, one after the
other, each in a fresh spawned process with its own JVM:

- **engine**: ``engine.train_and_predict(frame, backend="spark", link_only=True, detail=False)``
  (standardising with Spark SQL functions, training, scoring), pairs at the model's threshold;
- **baseline**: the Splink script of ``benchmarks/linkage.py`` on ``SparkAPI`` (four blocking
  rules, library comparisons), pairs at 0.9.

Each child's time starts after its Spark session is up (JVM start is the same for both) and
ends when the accepted pairs are on the driver. Ratio = engine seconds / baseline seconds.
``--sizes`` runs several sizes in turn and fits how time grows with size, which is what
docs/person-index.md's cluster sizing uses. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from linkage import (  # noqa: E402  (benchmarks/linkage.py: the same data and baseline)
    _scores,
    baseline_settings,
    dataset,
    train_baseline,
)


def session(cores: int, memory: str):
    from civicshare.linkage import engine

    return engine.spark_session(
        f"local[{cores}]",
        {
            "spark.driver.memory": memory,
            "spark.sql.shuffle.partitions": str(max(8, 4 * cores)),
            "spark.sql.adaptive.enabled": "true",
            "spark.ui.showConsoleProgress": "false",
        },
    )


def run_engine(spark, path: str) -> pd.DataFrame:
    from civicshare.linkage import engine

    frame = spark.read.parquet(path)
    model, scored = engine.train_and_predict(
        frame, backend="spark", spark=spark, link_only=True, score_floor=0.01, detail=False
    )
    return scored[scored["match_probability"] >= model.recommended_threshold]


def run_baseline(spark, path: str) -> pd.DataFrame:
    """``benchmarks/linkage.py``'s analyst's script, on Spark."""
    from splink import Linker, SparkAPI

    frame = spark.read.parquet(path)
    db_api = SparkAPI(spark_session=spark)
    tables = [
        db_api.register(frame.where("source = 'a'"), dataset_display_name="source_a"),
        db_api.register(frame.where("source = 'b'"), dataset_display_name="source_b"),
    ]
    linker = Linker(tables, baseline_settings(), log_level=None)
    train_baseline(linker)
    predictions = linker.inference.predict(threshold_match_probability=0.9)
    return predictions.as_pandas_dataframe()


def _child(name: str, path: str, cores: int, memory: str, queue) -> None:
    spark = session(cores, memory)
    spark.sparkContext.setLogLevel("ERROR")
    started, cpu = time.perf_counter(), time.process_time()
    pairs = run_engine(spark, path) if name == "engine" else run_baseline(spark, path)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    queue.put((seconds, cpu, pairs[["record_id_l", "record_id_r"]]))
    spark.stop()


def measure(name: str, path: Path, cores: int, memory: str) -> tuple[float, float, pd.DataFrame]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(name, str(path), cores, memory, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def one_size(size: int, seed: int, cores: int, memory: str) -> dict:
    a, b = dataset(size, seed)
    records = pd.concat([a, b], ignore_index=True)
    person = dict(zip(records["record_id"], records["person"], strict=True))
    true_pairs = int(b["person"].isin(set(a["person"])).sum())
    print(f"{size:,} x {size:,} records, {true_pairs:,} true pairs, local[{cores}]", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="civicshare-bench-") as folder:
        path = Path(folder) / "records.parquet"
        records.drop(columns=["person"]).to_parquet(path, index=False)
        del a, b, records
        for name in ("engine", "baseline"):
            seconds, cpu, pairs = measure(name, path, cores, memory)
            result = {"seconds": round(seconds, 2), "driver_cpu_seconds": round(cpu, 2)}
            result.update(_scores(pairs, person, true_pairs))
            print(f"{name:>8}: {seconds:8.2f} s, {result}", flush=True)
            results[name] = result
    ratio = results["engine"]["seconds"] / results["baseline"]["seconds"]
    print(f"ratio engine / baseline: {ratio:.2f}", flush=True)
    return {"size": size, "true_pairs": true_pairs, **results, "ratio": round(ratio, 3)}


def growth(runs: list[dict]) -> float | None:
    """The exponent k in seconds ~ size^k, fitted on the engine's runs (least squares in logs)."""
    points = [(math.log(r["size"]), math.log(r["engine"]["seconds"])) for r in runs]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return round(sum((x - mean_x) * (y - mean_y) for x, y in points) / spread, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=5_000, help="records in each source")
    parser.add_argument("--sizes", type=int, nargs="*", help="several sizes, smallest first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--driver-memory", default="12g")
    args = parser.parse_args()

    runs = [
        one_size(s, args.seed, args.cores, args.driver_memory) for s in args.sizes or [args.size]
    ]
    last = runs[-1]
    summary = {
        "benchmark": "linkage_spark",
        "cores": args.cores,
        "runs": runs,
        "engine_growth_exponent": growth(runs),
        "size": last["size"],
        "ratio": last["ratio"],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""Benchmark: the linkage engine end to end against a plain hand-written Splink 5 script.

    python benchmarks/linkage.py                  # 20,000 x 20,000 records (quick)
    python benchmarks/linkage.py --size 500000    # the full run recorded in docs/benchmarks.md

Data: ``size`` synthetic people in source A; source B holds ``size`` records, 80% of them A's
people with realistic mess (typos, nicknames, swapped day and month, missing NHS numbers, moves)
and 20% people A does not hold. Everything is generated here from the product's hand-written
name lists; nothing is real.

Both runs link A to B on the same canonical records and the same machine, one after the other,
each in a fresh (spawned) child process that reads the records from one Parquet file written
here: each child's peak resident set size is its own, with nothing inherited from the process
that generated the data. The engine: ``train_and_predict`` with ``link_only`` (which
standardises inside DuckDB), then ``cluster`` at the model's recommended threshold. The
baseline: a Splink script as its documentation would have an analyst write it (library
comparisons, four blocking rules, the same training steps, ``predict``, Splink's own clustering
at 0.9). Each reports its wall time, peak RSS and precision/recall against the truth. The ratio
is engine time / baseline time. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from civicshare.synthetic.common import nhs_check_digit  # noqa: E402
from civicshare.synthetic.names import FIRST_NAMES, SURNAMES  # noqa: E402

NICKNAMES = {"WILLIAM": "BILL", "ROBERT": "BOB", "MARGARET": "PEGGY", "ELIZABETH": "LIZ",
             "JAMES": "JIM", "RICHARD": "DICK", "THOMAS": "TOM", "SUSAN": "SUE"}  # fmt: skip
STREET_WORDS = (  # noqa: SIM905
    "Church Mill Station Park Victoria Albert Queens Kings Manor Orchard Meadow Brook Oak Ash "
    "Elm Beech Willow Hawthorn Chestnut Cedar Rowan Holly Ivy Laurel Maple Poplar Sycamore Birch "
    "Hazel Larch Pine Yew Alder Linden Cherry Apple Pear Plum Damson Severn Avon Teme Malvern "
    "Bredon Clent Lickey Wyre Abberley Berrow Croome Ombersley Hanley Pershore Tenbury Martley"
).split()
SUFFIXES = ["Road", "Street", "Lane", "Close", "Avenue", "Drive", "Way", "Crescent", "Grove"]
OUTWARD = [f"WR{i}" for i in range(1, 16)] + [f"B{i}" for i in (45, 47, 48, 60, 61, 96, 97, 98)]


def _weighted(
    rng: np.random.Generator, options: list[str], n: int, flatten: float = 3.0
) -> np.ndarray:
    weights = 1.0 / (np.arange(len(options)) + flatten)
    return np.asarray(options, dtype=object)[rng.choice(len(options), n, p=weights / weights.sum())]


def _surname_pool(rng: np.random.Generator) -> list[str]:
    """The hand-written surnames plus invented ones: real data has tens of thousands."""
    syllables = (
        "ash bar bel brom cal car dun el fen gar hal har kin lan mar mel nor pen rad "
        "ros sal sel tam thor wal war wel win wor ley ton ford by field well wood croft"
    )
    parts = syllables.split()
    invented = {a.capitalize() + b for a in parts for b in parts if a != b}
    return list(SURNAMES) + sorted(invented)


def people(n: int, rng: np.random.Generator, offset: int) -> pd.DataFrame:
    """Residents: about 40 to a street, 15 houses to a postcode unit, as in the county."""
    sex = rng.choice(np.array(["M", "F"], dtype=object), n)
    born = np.datetime64("1930-01-01") + rng.integers(0, 33000, n).astype("timedelta64[D]")
    year = born.astype("datetime64[Y]").astype(int) + 1970
    era = np.where(year < 1960, "old", np.where(year < 1990, "mid", "young"))
    given = np.empty(n, dtype=object)
    for s in ("M", "F"):
        for e in ("old", "mid", "young"):
            mask = (sex == s) & (era == e)
            given[mask] = _weighted(rng, FIRST_NAMES[(s, e)], int(mask.sum()))
    pool = _surname_pool(rng)
    common = rng.random(n) < 0.5
    surname = np.where(
        common,
        _weighted(rng, list(SURNAMES), n, flatten=30.0),
        np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)],
    )
    streets = [f"{w} {x} {s}" for w in STREET_WORDS for x in STREET_WORDS[:20] for s in SUFFIXES]
    street = rng.integers(offset, offset + max(n // 40, 1), n) % len(streets)
    number = rng.integers(1, 60, n)
    unit = street * 4 + number // 15
    town = street % len(OUTWARD)
    prefix = rng.integers(900_000_000, 1_000_000_000, n)
    check = nhs_check_digit(prefix)
    nhs = np.where(check < 10, prefix.astype(str).astype(object) + (check % 10).astype(str), None)
    letters = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
    inward = unit // len(OUTWARD)
    postcode = (
        np.asarray(OUTWARD, dtype=object)[town]
        + " "
        + (inward // 400 % 9 + 1).astype(str)
        + letters[inward // 20 % 20]
        + letters[inward % 20]
    )
    return pd.DataFrame(
        {
            "person": np.arange(offset, offset + n),
            "given_name": np.char.upper(given.astype(str)).astype(object),
            "surname": np.char.upper(surname.astype(str)).astype(object),
            "date_of_birth": np.datetime_as_string(born, unit="D").astype(object),
            "sex": sex,
            "nhs_number": nhs,
            "address": (number.astype(str).astype(object) + " "
                        + np.char.upper(np.asarray(streets)[street]).astype(object)),
            "postcode": postcode,
        }
    )  # fmt: skip


def messy_copy(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    n = len(out)
    typo = rng.random(n) < 0.05
    cut = out.loc[typo, "surname"].str.len().to_numpy() // 2
    out.loc[typo, "surname"] = [s[:c] + s[c + 1 :] for s, c in zip(out.loc[typo, "surname"], cut)]  # noqa: B905
    nick = rng.random(n) < 0.05
    out.loc[nick, "given_name"] = out.loc[nick, "given_name"].map(lambda g: NICKNAMES.get(g, g))
    swap = (rng.random(n) < 0.02) & (out["date_of_birth"].str[8:].astype(int) <= 12)
    d = out.loc[swap, "date_of_birth"]
    out.loc[swap, "date_of_birth"] = d.str[:5] + d.str[8:] + "-" + d.str[5:7]
    out.loc[rng.random(n) < 0.10, "nhs_number"] = None
    moved = rng.random(n) < 0.05
    donors = rng.integers(0, n, int(moved.sum()))
    out.loc[moved, ["address", "postcode"]] = out[["address", "postcode"]].to_numpy()[donors]
    return out


def dataset(size: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    a = people(size, rng, 0)
    shared = a.sample(n=int(0.8 * size), random_state=seed)
    b = pd.concat([messy_copy(shared, rng), people(size - len(shared), rng, size)])
    a = a.assign(source="a", record_id=[f"A{i}" for i in range(len(a))])
    b = b.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    b = b.assign(source="b", record_id=[f"B{i}" for i in range(len(b))])
    return a, b


def _scores(pairs: pd.DataFrame, person: dict[str, int], true_pairs: int) -> dict:
    left = pairs["record_id_l"].map(person).to_numpy()
    right = pairs["record_id_r"].map(person).to_numpy()
    tp = int((left == right).sum())
    return {
        "pairs": len(pairs),
        "precision": round(tp / len(pairs), 5) if len(pairs) else None,
        "recall": round(tp / true_pairs, 5),
    }


def run_engine(records: pd.DataFrame) -> pd.DataFrame:
    from civicshare.linkage import engine

    model, scored = engine.train_and_predict(
        records, link_only=True, score_floor=0.01, detail=False
    )
    engine.cluster(records, scored, model.recommended_threshold)
    return scored[scored["match_probability"] >= model.recommended_threshold]


def baseline_settings():
    """The settings an analyst writes from Splink's documentation (also on Spark:
    ``benchmarks/linkage_spark.py``)."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="record_id",
        comparisons=[
            cl.ExactMatch("nhs_number"),
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.ExactMatch("sex"),
            cl.PostcodeComparison("postcode"),
            cl.LevenshteinAtThresholds("address", [2, 5]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("nhs_number"),
            block_on("date_of_birth", "substr(surname, 1, 2)"),
            block_on("surname", "given_name"),
            block_on("postcode", "substr(given_name, 1, 1)"),
        ],
    )


def train_baseline(linker) -> None:
    """The documentation's training steps: prior, u by random sampling, two EM sessions."""
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [block_on("nhs_number"), block_on("given_name", "surname", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("nhs_number", "given_name"), max_pairs=2e6
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), max_pairs=2e6
    )


def run_baseline(records: pd.DataFrame) -> pd.DataFrame:
    """What an analyst writes from Splink's documentation."""
    from splink import DuckDBAPI, Linker

    a = records[records["source"] == "a"].drop(columns=["person"], errors="ignore")
    b = records[records["source"] == "b"].drop(columns=["person"], errors="ignore")
    db_api = DuckDBAPI()
    tables = [
        db_api.register(a, dataset_display_name="source_a"),
        db_api.register(b, dataset_display_name="source_b"),
    ]
    linker = Linker(tables, baseline_settings(), log_level=None)
    train_baseline(linker)
    predictions = linker.inference.predict(threshold_match_probability=0.01)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.9)
    clusters.as_pandas_dataframe()
    pairs = predictions.as_pandas_dataframe()
    return pairs[pairs["match_probability"] >= 0.9]


def _child(name: str, path: str, queue) -> None:
    records = pd.read_parquet(path).drop(columns=["person"])
    started, cpu = time.perf_counter(), time.process_time()
    pairs = run_engine(records) if name == "engine" else run_baseline(records)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    queue.put((seconds, cpu, rss, pairs[["record_id_l", "record_id_r"]]))


def measure(name: str, path: Path) -> tuple[float, float, float, pd.DataFrame]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(name, str(path), queue))
    process.start()
    seconds, cpu, rss, pairs = queue.get()
    process.join()
    return seconds, cpu, rss, pairs


def _measured(name: str, path: Path, person: dict[str, int], true_pairs: int) -> dict:
    seconds, cpu, rss, pairs = measure(name, path)
    result = {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}
    result["peak_rss_mib"] = round(rss, 1)
    result.update(_scores(pairs, person, true_pairs))
    print(f"{name:>8}: {seconds:7.2f} s, peak RSS {rss:7.1f} MiB, {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="records in each source")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    a, b = dataset(args.size, args.seed)
    records = pd.concat([a, b], ignore_index=True)
    person = dict(zip(records["record_id"], records["person"], strict=True))
    true_pairs = int(b["person"].isin(set(a["person"])).sum())
    cores = len(os.sched_getaffinity(0))
    print(f"{args.size:,} x {args.size:,} records, {true_pairs:,} true pairs, {cores} cores")

    results = {}
    with tempfile.TemporaryDirectory(prefix="civicshare-bench-") as folder:
        path = Path(folder) / "records.parquet"
        records.to_parquet(path, index=False)
        del a, b, records
        for name in ("engine", "baseline"):
            results[name] = _measured(name, path, person, true_pairs)
    ratio = results["engine"]["seconds"] / results["baseline"]["seconds"]
    print(f"ratio engine / baseline: {ratio:.2f}")
    summary = {
        "benchmark": "linkage",
        "size": args.size,
        "cores": cores,
        "true_pairs": true_pairs,
        "engine": results["engine"],
        "baseline": results["baseline"],
        "ratio": round(ratio, 3),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

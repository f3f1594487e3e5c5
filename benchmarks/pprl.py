"""PPRL benchmark: encoding rate and Dice comparison rate, each against a baseline run side by side.

Generates two files of --size synthetic people (given name, surname, date of birth, sex,
postcode); B holds a noisy copy of every person in A (a typo in a name in half the records,
a changed day or month digit in a tenth, a blank postcode in a twentieth), shuffled. Then,
in the same process:

  encoding     pprl.encode (per-field HMAC keys, distinct q-grams hashed once per file,
               bits set with numpy) of file A, with the UK scheme below, salted by year
               of birth, plus blocking keys
    baseline   a straightforward encoder: per record, per field, per q-gram one
               HMAC-SHA256 and k bit sets in a bytearray (no caching); its output is checked
               bit for bit against pprl.encode's (on --baseline-records records)
  comparisons  pprl.dice_above over every pair of A x B at --threshold (default 0.75): both
               sides sorted by popcount, tiles of B outside a tile of A's popcount band
               skipped (Dice <= 2 min(|a|,|b|)/(|a|+|b|)), a float32 matrix product over the
               first K bits (K chosen from a sample) bounding each pair's Dice, and an exact
               recount of the few pairs the bound cannot exclude. The rate is pairs whose
               outcome (Dice at or above the threshold or not) was decided, over wall time;
               the JSON says how many were excluded by the popcount band, how many went
               through the product, how many of these the prefix bound excluded and how many
               were counted exactly
    full product  the same function with K = all the bits (the product then gives every
               pair's count; the design before the prefix bound), over the same pairs
               (or the first --product-rows rows of A), checked to give the same pairs and
               scores
    baseline   straightforward numpy: for each row of A, popcount(row & B) summed per row of
               B and the Dice of every pair; over the first --baseline-rows rows of A (same
               pairs, checked to give the same pairs above the threshold). Also, for scale,
               pure Python (int.bit_count) over a tenth of those rows
  link         pprl.link with blocking keys and the greedy one-to-one solver, with its
               precision and recall against the generated truth (information, no baseline)

With --households N, instead: the UK-style council and GP files of N residents in
households (civicshare.synthetic.linkage_pair: twins, same-name fathers and sons, siblings,
married-name changes, nicknames, movers, NHS numbers missing from most council rows),
encoded under the UK scheme documented in docs/pprl.md (uk-scheme.yaml, read from there) and
linked at its documented threshold, four ways taken in turn: per-field checks with the
optimal solver (the default), checks with greedy, no checks with optimal, and the baseline,
no checks with greedy (the behaviour before issue 15). Each with precision, recall and the
relative pairs merged (twins, same-name parent/child, siblings, parent/child); encoding is
timed with and without the checks. Last line: JSON, with ratios against the baseline.

Every figure is the best of --repeat runs, baselines included; the three comparison runs
are taken in turn (fast, full product, baseline, fast, ...) so that each sees the same share
of other work on the machine. Ratio = fast rate / baseline rate. Last line: JSON.

    .venv/bin/python benchmarks/pprl.py                 # 10,000 people per file
    .venv/bin/python benchmarks/pprl.py --size 50000 --repeat 2   # the recorded full run
    .venv/bin/python benchmarks/pprl.py --households 2000 --repeat 1   # households, small
    .venv/bin/python benchmarks/pprl.py --households 20000 --repeat 3  # the recorded run
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console

from civicshare.linkage import pprl

SCHEME = {
    "bits": 1024,
    "fields": [
        {"name": "given_name", "kind": "name", "q": 2, "k": 12},
        {"name": "surname", "kind": "name", "q": 2, "k": 12},
        {"name": "date_of_birth", "kind": "date", "q": 2, "k": 10},
        {"name": "sex", "kind": "exact", "k": 6},
        {"name": "postcode", "kind": "postcode", "q": 2, "k": 10},
    ],
    "salt": {"field": "date_of_birth", "part": "year"},
    "blocking": [
        {"name": "surname_soundex", "field": "surname", "transform": "soundex"},
        {"name": "given_name_soundex", "field": "given_name", "transform": "soundex"},
        {"name": "postcode", "field": "postcode", "transform": "exact"},
    ],
}
THRESHOLD = 0.75  # --threshold
SYLLABLES = [a + b for a in "bcdfgklmnprstvwz" for b in "aeiou"][::3]
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def names(rng: np.random.Generator, n: int, pool: int) -> list[str]:
    """n names drawn with a Zipf-like skew from a pool of made-up names of 2-4 syllables."""
    made = ["".join(rng.choice(SYLLABLES, rng.integers(2, 5))).upper() for _ in range(pool)]
    weights = 1.0 / np.arange(1, pool + 1)
    return [made[x] for x in rng.choice(pool, n, p=weights / weights.sum())]


def people(n: int, seed: int) -> dict[str, list[str | None]]:
    rng = np.random.default_rng(seed)
    years, months, days = (
        rng.integers(1920, 2020, n),
        rng.integers(1, 13, n),
        rng.integers(1, 29, n),
    )
    return {
        "given_name": names(rng, n, 2_000),
        "surname": names(rng, n, 20_000),
        "date_of_birth": [
            f"{y}{m:02d}{d:02d}" for y, m, d in zip(years, months, days, strict=True)
        ],
        "sex": [("F", "M")[x] for x in rng.integers(0, 2, n)],
        "postcode": [
            f"WR{a}{b}{LETTERS[c]}{LETTERS[d]}"
            for a, b, c, d in zip(
                rng.integers(1, 15, n), rng.integers(1, 10, n), rng.integers(0, 20, n),
                rng.integers(0, 20, n), strict=True,
            )
        ],
    }  # fmt: skip


def noisy_copy(values: dict[str, list[str | None]], seed: int) -> tuple[dict, np.ndarray]:
    """A shuffled copy with typos; returns it and, per row of the copy, its original row."""
    rng = np.random.default_rng(seed)
    n = len(values["surname"])
    out = {k: list(v) for k, v in values.items()}
    for r in np.flatnonzero(rng.random(n) < 0.5):
        field = ("given_name", "surname")[rng.integers(0, 2)]
        text = out[field][r]
        p = int(rng.integers(0, len(text)))
        out[field][r] = text[:p] + LETTERS[rng.integers(0, 20)] + text[p + 1 :]
    for r in np.flatnonzero(rng.random(n) < 0.1):
        dob = out["date_of_birth"][r]
        p = int(rng.integers(4, 8))  # month or day: a wrong year would change the salt
        out["date_of_birth"][r] = dob[:p] + str(rng.integers(0, 10)) + dob[p + 1 :]
    for r in np.flatnonzero(rng.random(n) < 0.05):
        out["postcode"][r] = None
    order = rng.permutation(n)
    return {k: [v[x] for x in order] for k, v in out.items()}, order


def baseline_encode(scheme: pprl.Scheme, secret: bytes, values: dict, n: int) -> np.ndarray:
    """The plain encoder: one HMAC per q-gram occurrence, bits set one at a time."""
    keys = {
        f.name: [
            pprl.derive_key(secret, f"field {f.name} block {b}") for b in range((f.k + 15) // 16)
        ]
        for f in scheme.fields
    }
    out = np.zeros((n, scheme.bits // 8), dtype=np.uint8)
    for r in range(n):
        row = bytearray(scheme.bits // 8)
        salt = (values[scheme.salt.field][r] or "")[:4] if scheme.salt else None
        for spec in scheme.fields:
            value = values[spec.name][r]
            if value is None:
                continue
            for gram in pprl.qgrams(spec.kind, value, spec.q):
                message = gram.encode() if salt is None else f"{salt}\x1f{gram}".encode()
                positions: list[int] = []
                for key in keys[spec.name]:
                    digest = hmac.new(key, message, "sha256").digest()
                    positions += [
                        int.from_bytes(digest[2 * x : 2 * x + 2], "little") for x in range(16)
                    ]
                for position in positions[: spec.k]:
                    position %= scheme.bits
                    row[position // 8] |= 0x80 >> (position % 8)
        out[r] = np.frombuffer(bytes(row), dtype=np.uint8)
    return out.view(np.uint64)


def baseline_dice(a: np.ndarray, b: np.ndarray, threshold: float) -> tuple[list, int]:
    """Row at a time: popcount of row & every B, Dice, threshold."""
    found = []
    count_b = np.bitwise_count(b).sum(axis=1)
    for x in range(len(a)):
        common = np.bitwise_count(a[x] & b).sum(axis=1)
        dice = 2.0 * common / (np.bitwise_count(a[x]).sum() + count_b)
        found += [(x, int(y)) for y in np.flatnonzero(dice >= threshold)]
    return found, len(a) * len(b)


def python_dice(a: np.ndarray, b: np.ndarray, threshold: float) -> tuple[list, int]:
    """Pure Python: filters as integers, int.bit_count of a & b for each pair."""
    ints_a = [int.from_bytes(row.tobytes(), "big") for row in a]
    ints_b = [int.from_bytes(row.tobytes(), "big") for row in b]
    counts_b = [y.bit_count() for y in ints_b]
    found = []
    for x, ax in enumerate(ints_a):
        count_a = ax.bit_count()
        for y, by in enumerate(ints_b):
            if 2 * (ax & by).bit_count() >= threshold * (count_a + counts_b[y]):
                found.append((x, y))
    return found, len(a) * len(b)


def best_of(repeat: int, run):
    """The shortest of `repeat` runs (the least disturbed by other work), and the result."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return min(timings), result


def best_of_interleaved(repeat: int, runs: dict):
    """best_of for several runs taken in turn (a, b, c, a, b, c, ...), so that each sees the
    same share of whatever else the machine is doing: {name: (shortest time, result)}."""
    timings: dict = {name: [] for name in runs}
    results: dict = {}
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.perf_counter()
            results[name] = run()
            timings[name].append(time.perf_counter() - started)
    return {name: (min(timings[name]), results[name]) for name in runs}


# The UK scheme documented in docs/pprl.md (uk-scheme.yaml), read from that page so the
# benchmark measures what the documentation tells partners to use.
DOCS = Path(__file__).resolve().parents[1] / "docs" / "pprl.md"
HOUSEHOLD_COLUMNS = ("given_name", "surname", "date_of_birth", "sex", "address", "postcode",
                     "nhs_number")  # fmt: skip


def documented_uk_scheme() -> tuple[dict, float]:
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(# uk-scheme\.yaml.*?)```", text, re.S)
    threshold = re.search(r"uk-scheme.*?Link\s+at `--threshold ([0-9.]+)`", text, re.S)
    if block is None or threshold is None:
        raise SystemExit(f"{DOCS}: the uk-scheme.yaml block or its threshold is missing")
    return yaml.safe_load(block.group(1)), float(threshold.group(1))


def household_values(frame) -> tuple[list[str], dict[str, list[str | None]]]:
    """Record ids and normalised values of one file of the households pair."""
    kinds = {"date_of_birth": "date", "nhs_number": "digits", "postcode": "postcode",
             "sex": "exact", "address": "text"}  # fmt: skip
    values = {
        column: [
            None if v is None else pprl.normalise(kinds.get(column, "name"), str(v))
            for v in frame[column]
        ]
        for column in HOUSEHOLD_COLUMNS
    }
    return [str(r) for r in frame["record_id"]], values


def households(args, console: Console) -> None:
    """Checks and optimal one-to-one against the record-level filter alone and greedy."""
    import pandas as pd

    from civicshare.synthetic.linkage_pair import build_linkage_pair

    started = time.perf_counter()
    pair = build_linkage_pair(people=args.households, seed=args.seed)
    console.print(
        f"households pair: {args.households:,} residents, {len(pair.council):,} council and "
        f"{len(pair.gp):,} GP records, {len(pair.true_pairs()):,} true pairs, "
        f"{len(pair.relatives('twins')):,} twin pairs, "
        f"{len(pair.relatives('namesake_parent_child')):,} same-name parent/child pairs "
        f"({time.perf_counter() - started:.1f} s)"
    )
    scheme_dict, threshold = documented_uk_scheme()
    if args.threshold_households is not None:
        threshold = args.threshold_households
    scheme = pprl.Scheme.from_dict(scheme_dict)
    # The baseline scheme: the same record-level filter without any check.
    plain_scheme = pprl.Scheme.from_dict(
        dict(scheme_dict, fields=[
            {k: v for k, v in f.items() if k != "check"} for f in scheme_dict["fields"]
        ])
    )  # fmt: skip
    secret = pprl.generate_secret()
    ids_c, values_c = household_values(pair.council)
    ids_g, values_g = household_values(pair.gp)

    def encode_both(which):
        return (
            pprl.encode(which, secret, values_c, ids_c, source="council"),
            pprl.encode(which, secret, values_g, ids_g, source="gp"),
        )

    encoded = best_of_interleaved(
        args.repeat,
        {"checks": lambda: encode_both(scheme), "plain": lambda: encode_both(plain_scheme)},
    )
    (encode_seconds, (council, gp)), (plain_encode_seconds, (plain_c, plain_g)) = (
        encoded["checks"],
        encoded["plain"],
    )
    assert np.array_equal(council.packed, plain_c.packed), "checks must not change the filter"

    # Import SciPy's solver before timing: an import is not linking.
    import scipy.sparse.csgraph  # noqa: F401

    runs = best_of_interleaved(
        args.repeat,
        {
            "checks_optimal": lambda: pprl.link(council, gp, threshold=threshold),
            "checks_greedy": lambda: pprl.link(council, gp, threshold=threshold, solver="greedy"),
            "no_checks_optimal": lambda: pprl.link(plain_c, plain_g, threshold=threshold),
            "baseline": lambda: pprl.link(plain_c, plain_g, threshold=threshold, solver="greedy"),
        },
    )

    def measure(result) -> dict:
        links = [(a, b) for a, b, _ in result.pairs()]
        scores = pair.evaluate(links)
        clusters = pd.DataFrame(
            [row for n, (a, b) in enumerate(links) for row in (("council", a, n), ("gp", b, n))],
            columns=["source", "record_id", "cluster_id"],
        )
        return {
            "links": scores["links"],
            "precision": round(scores["precision"], 4),
            "recall": round(scores["recall"], 4),
            "twins_merged": pair.merged(clusters, "twins"),
            "namesake_parent_child_merged": pair.merged(clusters, "namesake_parent_child"),
            "siblings_merged": pair.merged(clusters, "siblings"),
            "parent_child_merged": pair.merged(clusters, "parent_child"),
            "refused_by_checks": result.refused_pairs,
            "candidates": result.candidates,
        }

    figures = {}
    for name, (seconds, result) in runs.items():
        figures[name] = {**measure(result), "link_seconds": round(seconds, 3)}
        f = figures[name]
        console.print(
            f"{name:>18}: {f['links']:,} links, precision {f['precision']:.4f}, recall "
            f"{f['recall']:.4f}, twins merged {f['twins_merged']}, same-name parent/child "
            f"merged {f['namesake_parent_child_merged']}, siblings {f['siblings_merged']}, "
            f"parent/child {f['parent_child_merged']}; {f['refused_by_checks']:,} refused by "
            f"checks; {seconds:.3f} s"
        )
    new, base = figures["checks_optimal"], figures["baseline"]
    console.print(
        f"encoding both files: {encode_seconds:.3f} s with checks, {plain_encode_seconds:.3f} s "
        f"without ({encode_seconds / plain_encode_seconds:.2f}x); link with checks and the "
        f"optimal solver {new['link_seconds']:.3f} s vs baseline {base['link_seconds']:.3f} s "
        f"({new['link_seconds'] / base['link_seconds']:.2f}x)"
    )
    print(
        json.dumps(
            {
                "households_residents": args.households,
                "seed": args.seed,
                "cores": os.cpu_count(),
                "repeat": args.repeat,
                "threshold": threshold,
                "council_records": len(pair.council),
                "gp_records": len(pair.gp),
                "true_pairs": len(pair.true_pairs()),
                "twin_pairs": len(pair.relatives("twins")),
                "namesake_parent_child_pairs": len(pair.relatives("namesake_parent_child")),
                "precision": new["precision"],
                "recall": new["recall"],
                "twins_merged": new["twins_merged"],
                "namesake_parent_child_merged": new["namesake_parent_child_merged"],
                "baseline_precision": base["precision"],
                "baseline_recall": base["recall"],
                "baseline_twins_merged": base["twins_merged"],
                "baseline_namesake_parent_child_merged": base["namesake_parent_child_merged"],
                "encode_seconds": round(encode_seconds, 3),
                "baseline_encode_seconds": round(plain_encode_seconds, 3),
                "encode_time_ratio": round(encode_seconds / plain_encode_seconds, 2),
                "link_seconds": new["link_seconds"],
                "baseline_link_seconds": base["link_seconds"],
                "link_time_ratio": round(new["link_seconds"] / base["link_seconds"], 2),
                "runs": figures,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="people per file")
    parser.add_argument(
        "--households",
        type=int,
        default=None,
        help="instead: link a UK-style council and GP file of this many residents in "
        "households (twins, same-name fathers and sons, ...) with the documented UK scheme",
    )
    parser.add_argument("--seed", type=int, default=15, help="households pair seed")
    parser.add_argument(
        "--threshold-households",
        type=float,
        default=None,
        help="Dice threshold for --households (default: the documented one)",
    )
    parser.add_argument(
        "--baseline-records", type=int, default=2_000, help="records the plain encoder encodes"
    )
    parser.add_argument(
        "--baseline-rows", type=int, default=300, help="rows of A the row-at-a-time Dice runs"
    )
    parser.add_argument(
        "--product-rows",
        type=int,
        default=None,
        help="rows of A the full product runs (default all: the same pairs as the fast path)",
    )
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="Dice threshold")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is kept")
    args = parser.parse_args()
    console = Console(stderr=True)
    if args.households is not None:
        households(args, console)
        return
    scheme = pprl.Scheme.from_dict(SCHEME)
    secret = pprl.generate_secret()
    values_a = people(args.size, seed=1)
    values_b, truth = noisy_copy(values_a, seed=2)
    ids_a = [f"a{r}" for r in range(args.size)]
    ids_b = [f"b{r}" for r in range(args.size)]

    # Encoding, then the plain encoder on a prefix of the same records; same bits.
    encode_seconds, enc_a = best_of(
        args.repeat, lambda: pprl.encode(scheme, secret, values_a, ids_a, source="A")
    )
    enc_b = pprl.encode(scheme, secret, values_b, ids_b, source="B")
    m = min(args.baseline_records, args.size)
    baseline_encode_seconds, plain = best_of(
        args.repeat, lambda: baseline_encode(scheme, secret, values_a, m)
    )
    assert np.array_equal(plain, enc_a.packed[:m]), "the baseline encoder disagrees"
    encode_rate, baseline_encode_rate = args.size / encode_seconds, m / baseline_encode_seconds
    console.print(
        f"encoding: {args.size:,} records in {encode_seconds:.3f} s ({encode_rate:,.0f}/s, "
        f"{10_000 / encode_rate:.3f} s per 10,000); baseline {m:,} in "
        f"{baseline_encode_seconds:.3f} s ({baseline_encode_rate:,.0f}/s); ratio "
        f"{encode_rate / baseline_encode_rate:.1f}x"
    )

    # Comparisons: all of A x B; the full product over the first rows of A; row at a time
    # over fewer rows, taken in turn. Same pairs (and scores) from all three.
    threshold = args.threshold
    stats: dict[str, int] = {}
    full_stats: dict[str, int] = {}
    bits = enc_a.packed.shape[1] * 64
    product_rows = min(args.product_rows or args.size, args.size)
    rows = min(args.baseline_rows, args.size)
    timed = best_of_interleaved(
        args.repeat,
        {
            "fast": lambda: pprl.dice_above(enc_a.packed, enc_b.packed, threshold, stats=stats),
            "full": lambda: pprl.dice_above(
                enc_a.packed[:product_rows], enc_b.packed, threshold, prefix_bits=bits,
                stats=full_stats,
            ),
            "baseline": lambda: baseline_dice(enc_a.packed[:rows], enc_b.packed, threshold),
        },
    )  # fmt: skip
    dice_seconds, (i, j, s) = timed["fast"]
    full_seconds, (fi, fj, fs) = timed["full"]
    baseline_dice_seconds, (plain_pairs, plain_count) = timed["baseline"]
    pairs = args.size * args.size
    assert stats["pairs"] == pairs, "every pair must be decided"
    head = i < product_rows
    assert np.array_equal(fi, i[head]) and np.array_equal(fj, j[head])
    assert np.array_equal(fs, s[head]), "the full product disagrees"
    full_rate = product_rows * args.size / full_seconds
    fast_pairs = sorted((x, y) for x, y in zip(i.tolist(), j.tolist(), strict=True) if x < rows)
    assert fast_pairs == sorted(plain_pairs), "the baseline Dice disagrees"
    dice_rate, baseline_dice_rate = pairs / dice_seconds, plain_count / baseline_dice_seconds
    rows_py = max(1, rows // 10)
    python_seconds, (python_pairs, python_count) = best_of(
        args.repeat, lambda: python_dice(enc_a.packed[:rows_py], enc_b.packed, threshold)
    )
    python_dice_rate = python_count / python_seconds
    assert sorted(python_pairs) == [p for p in fast_pairs if p[0] < rows_py]
    console.print(
        f"comparisons: {pairs:,} decided in {dice_seconds:.3f} s ({dice_rate / 1e6:,.1f} M/s): "
        f"{stats['popcount_excluded']:,} excluded by the popcount band, "
        f"{stats['product']:,} through the product of the first {stats['prefix_bits']} bits, "
        f"of which {stats['prefix_excluded']:,} excluded by its bound and {stats['exact']:,} "
        f"counted exactly; {stats['found']:,} at or above {threshold}"
    )
    console.print(
        f"  full product ({bits} bits) {product_rows * args.size:,} in {full_seconds:.3f} s "
        f"({full_rate / 1e6:,.1f} M/s), ratio {dice_rate / full_rate:.2f}x; "
        f"baseline {plain_count:,} in {baseline_dice_seconds:.3f} s "
        f"({baseline_dice_rate / 1e6:,.1f} M/s); ratio {dice_rate / baseline_dice_rate:.1f}x; "
        f"pure Python {python_count:,} at {python_dice_rate / 1e6:,.2f} M/s, ratio "
        f"{dice_rate / python_dice_rate:.0f}x"
    )

    # The whole link with blocking keys, against the generated truth.
    result = pprl.link(enc_a, enc_b, threshold=threshold, blocking="keys", solver="greedy")
    correct = int(np.sum(truth[result.j] == result.i))
    precision, recall = correct / max(len(result.i), 1), correct / args.size
    console.print(
        f"link (blocking keys, greedy): {result.comparisons:,} comparisons, "
        f"{len(result.i):,} pairs in {result.seconds:.2f} s; precision {precision:.4f}, "
        f"recall {recall:.4f}"
    )
    print(
        json.dumps(
            {
                "size": args.size,
                "cores": os.cpu_count(),
                "encode_seconds": round(encode_seconds, 4),
                "encode_records_per_s": round(encode_rate),
                "encode_seconds_per_10000": round(10_000 / encode_rate, 4),
                "baseline_encode_records_per_s": round(baseline_encode_rate),
                "encode_ratio": round(encode_rate / baseline_encode_rate, 2),
                "threshold": threshold,
                "comparisons": pairs,
                "dice_seconds": round(dice_seconds, 4),
                "comparisons_per_s": round(dice_rate),
                "popcount_excluded": stats["popcount_excluded"],
                "product_pairs": stats["product"],
                "prefix_bits": stats["prefix_bits"],
                "prefix_excluded": stats["prefix_excluded"],
                "exact_pairs": stats["exact"],
                "pairs_found": stats["found"],
                "full_product_comparisons_per_s": round(full_rate),
                "dice_ratio_full_product": round(dice_rate / full_rate, 2),
                "baseline_comparisons_per_s": round(baseline_dice_rate),
                "dice_ratio": round(dice_rate / baseline_dice_rate, 2),
                "python_comparisons_per_s": round(python_dice_rate),
                "dice_ratio_python": round(dice_rate / python_dice_rate, 1),
                "link_comparisons": result.comparisons,
                "link_seconds": round(result.seconds, 3),
                "link_precision": round(precision, 4),
                "link_recall": round(recall, 4),
            }
        )
    )


if __name__ == "__main__":
    main()

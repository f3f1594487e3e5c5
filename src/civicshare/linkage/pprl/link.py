"""One-to-one resolution of the candidate pairs, and the link: pairs file and report."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from civicshare import csvsafe
from civicshare.linkage.pprl.checks import checks_disagree
from civicshare.linkage.pprl.dice import Candidates, compare, popcounts
from civicshare.linkage.pprl.encoding import Encodings
from civicshare.linkage.pprl.files import check_compatible, scheme_fingerprint
from civicshare.linkage.pprl.scheme import SOLVERS, PprlError

# --------------------------------------------------------------------------------------------
# One-to-one
# --------------------------------------------------------------------------------------------


def solve_greedy(i: np.ndarray, j: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the pairs kept: best score first, each record used at most once.

    Ties break by record position, so the result does not depend on input order.
    """
    order = np.lexsort((j, i, -score))
    used_a: set[int] = set()
    used_b: set[int] = set()
    kept = []
    for p in order.tolist():
        x, y = int(i[p]), int(j[p])
        if x in used_a or y in used_b:
            continue
        used_a.add(x)
        used_b.add(y)
        kept.append(p)
    return np.asarray(sorted(kept), dtype=np.int64)


def solve_optimal(i: np.ndarray, j: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the pairs of a maximum-total-score matching (the linkage engine's solver).

    Pairs whose two records have no other candidate are kept as they are; the rest (twins
    crosswise, a parent and child at one address) go to
    `civicshare.linkage.engine.assignment.best_matching`, which may leave a record unlinked
    rather than take a weaker pair. Every candidate scores at least the threshold (above 0),
    so the total counts each kept pair's Dice.
    """
    from civicshare.linkage.engine.assignment import best_matching

    if len(i) == 0:
        return np.empty(0, dtype=np.int64)
    degree_a = np.bincount(i)[i]
    degree_b = np.bincount(j)[j]
    conflicted = (degree_a > 1) | (degree_b > 1)
    keep = ~conflicted
    if conflicted.any():
        keep[conflicted] = best_matching(i[conflicted], j[conflicted], score[conflicted])
    return np.flatnonzero(keep).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Link
# --------------------------------------------------------------------------------------------


@dataclass
class LinkResult:
    a: Encodings
    b: Encodings
    i: np.ndarray
    j: np.ndarray
    dice: np.ndarray
    comparisons: int
    candidates: int
    threshold: float
    blocking: str
    solver: str
    seconds: float = 0.0
    refused: dict[str, int] = field(default_factory=dict)  # pairs refused, per check field
    refused_pairs: int = 0  # pairs above the threshold refused by any check

    def pairs(self) -> Iterable[tuple[str, str, float]]:
        for x, y, s in zip(self.i.tolist(), self.j.tolist(), self.dice.tolist(), strict=True):
            yield self.a.ids[x], self.b.ids[y], s


def link(
    a: Encodings,
    b: Encodings,
    threshold: float = 0.8,
    blocking: str = "keys",
    solver: str = "optimal",
    checks: bool = True,
) -> LinkResult:
    """Candidate pairs at or above `threshold`, less those a per-field check refuses
    (when the scheme has checks and `checks` is true), resolved one-to-one by `solver`."""
    if not 0.0 < threshold <= 1.0:
        raise PprlError(f"threshold must be above 0 and at most 1, got {threshold}")
    if solver not in SOLVERS:
        raise PprlError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    check_compatible(a, b)
    started = time.perf_counter()
    found = compare(a, b, threshold, blocking)
    candidates = len(found.i)
    refused: dict[str, int] = {}
    refused_pairs = 0
    if checks and a.scheme.checks:
        if a.checks is None or b.checks is None:
            # Linking without them would quietly merge the relatives they are there to keep
            # apart.
            raise PprlError(
                "the scheme has per-field checks but the encodings of "
                f"{'A' if a.checks is None else 'B'} carry none; re-encode with "
                "`civicshare pprl encode`"
            )
        # Before one-to-one: a refused pair must not take a record from its true partner.
        disagree, refused = checks_disagree(a.scheme, a.checks, b.checks, found.i, found.j)
        refused_pairs = int(disagree.sum())
        found = Candidates(
            found.i[~disagree], found.j[~disagree], found.dice[~disagree], found.comparisons
        )
    solve = solve_greedy if solver == "greedy" else solve_optimal
    kept = solve(found.i, found.j, found.dice)
    order = kept[np.lexsort((found.j[kept], found.i[kept]))]
    return LinkResult(
        a=a,
        b=b,
        i=found.i[order],
        j=found.j[order],
        dice=found.dice[order],
        comparisons=found.comparisons,
        candidates=candidates,
        threshold=threshold,
        blocking=blocking,
        solver=solver,
        seconds=time.perf_counter() - started,
        refused=refused,
        refused_pairs=refused_pairs,
    )


def write_pairs(path: Path, result: LinkResult) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        # Record ids come from partners' files: csvsafe prefixes any that start = + - @ with '.
        csvsafe.write_rows(
            handle,
            (
                [result.a.source, id_a, result.b.source, id_b, f"{score:.4f}"]
                for id_a, id_b, score in result.pairs()
            ),
            ["source_a", "record_id_a", "source_b", "record_id_b", "dice"],
        )


def _fill(encodings: Encodings) -> float:
    if not len(encodings):
        return 0.0
    return float(popcounts(encodings.packed).mean()) / encodings.scheme.output_bits


def report(result: LinkResult, name_a: str, name_b: str) -> str:
    """A short Markdown report: inputs, parameters, counts and the score distribution."""
    scheme = result.a.scheme
    # Bins of 0.05 from the threshold up: pairs piling up in the first bins say the threshold
    # is in the middle of the matches, or that unrelated records are being paired.
    steps = np.arange(np.ceil(result.threshold * 20 + 1e-9) / 20, 1.0, 0.05)
    edges = [result.threshold, *steps.round(2).tolist(), 1.0 + 1e-9]
    hist, _ = np.histogram(result.dice, bins=edges)
    lines = [
        "# PPRL linkage report",
        "",
        f"- A: {name_a} (source {result.a.source or '-'}, {len(result.a):,} records, "
        f"encoded {result.a.created})",
        f"- B: {name_b} (source {result.b.source or '-'}, {len(result.b):,} records, "
        f"encoded {result.b.created})",
        f"- scheme: {scheme.bits} bits, {len(scheme.fields)} fields "
        f"({', '.join(f.name for f in scheme.fields)}), salt "
        f"{scheme.salt.field + ' ' + scheme.salt.part if scheme.salt else 'none'}, balance "
        f"{'on' if scheme.balance else 'off'}, bit flipping {scheme.blip}; key check "
        f"{result.a.key_check}, fingerprint {scheme_fingerprint(scheme)[:16]}",
        f"- blocking: {result.blocking}"
        + (
            f" ({', '.join(b.name for b in scheme.blocking)})"
            if result.blocking == "keys" and scheme.blocking
            else ""
        ),
        f"- fill (share of bits set; unrelated records score about this): "
        f"{_fill(result.a):.2f} in A, {_fill(result.b):.2f} in B",
        f"- comparisons: {result.comparisons:,} (of {len(result.a) * len(result.b):,} "
        "possible pairs)",
        f"- pairs at or above Dice {result.threshold}: {result.candidates:,}",
        *(
            [
                f"- refused by a per-field check: {result.refused_pairs:,} ("
                + ", ".join(f"{name} {count:,}" for name, count in result.refused.items())
                + ")"
            ]
            if scheme.checks
            else []
        ),
        f"- one-to-one ({result.solver}): {len(result.i):,} linked pairs; unlinked: "
        f"{len(result.a) - len(result.i):,} in A, {len(result.b) - len(result.i):,} in B",
        f"- time: {result.seconds:.2f} s",
        "",
        "| Dice | linked pairs |",
        "|---|---:|",
    ]
    for lo, hi, count in zip(edges[:-1], edges[1:], hist, strict=False):
        label = f"{lo:.2f} to {min(hi, 1.0):.2f}"
        lines.append(f"| {label} | {int(count):,} |")
    lines += [
        "",
        "pairs.csv holds Dice scores: they help an attacker who also holds encodings, so keep "
        "it at the gateway and share only the linked pairs under the agreement.",
    ]
    return "\n".join(lines) + "\n"

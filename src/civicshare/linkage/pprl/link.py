"""One-to-one resolution of the candidate pairs, and the link: pairs file and report."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from civicshare import csvsafe
from civicshare.linkage.pprl.dice import compare, popcounts
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
    """Indices of the pairs of a maximum-total-score matching, per connected component."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(i) == 0:
        return np.empty(0, dtype=np.int64)
    ua, ia = np.unique(i, return_inverse=True)
    ub, jb = np.unique(j, return_inverse=True)
    na = len(ua)
    graph = coo_matrix((np.ones(len(i)), (ia, na + jb)), shape=(na + len(ub),) * 2)
    _, labels = connected_components(graph, directed=False)
    component = labels[ia]
    order = np.argsort(component, kind="stable")
    bounds = np.flatnonzero(np.diff(component[order])) + 1
    kept = []
    for pairs in np.split(order, bounds):
        if len(pairs) == 1:
            kept.append(int(pairs[0]))
            continue
        rows, rinv = np.unique(ia[pairs], return_inverse=True)
        cols, cinv = np.unique(jb[pairs], return_inverse=True)
        # A missing edge weighs 0, so the assignment maximises the linked pairs' total Dice
        # (every real edge weighs at least the threshold) and a 0 cell means "unpaired". A
        # negative weight would make it pair as many records as possible first.
        weights = np.zeros((len(rows), len(cols)))
        weights[rinv, cinv] = score[pairs]
        where = np.full((len(rows), len(cols)), -1, dtype=np.int64)
        where[rinv, cinv] = pairs
        r, c2 = linear_sum_assignment(weights, maximize=True)
        chosen = where[r, c2]
        kept.extend(int(p) for p in chosen[chosen >= 0])
    return np.asarray(sorted(kept), dtype=np.int64)


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

    def pairs(self) -> Iterable[tuple[str, str, float]]:
        for x, y, s in zip(self.i.tolist(), self.j.tolist(), self.dice.tolist(), strict=True):
            yield self.a.ids[x], self.b.ids[y], s


def link(
    a: Encodings,
    b: Encodings,
    threshold: float = 0.8,
    blocking: str = "keys",
    solver: str = "greedy",
) -> LinkResult:
    if not 0.0 < threshold <= 1.0:
        raise PprlError(f"threshold must be above 0 and at most 1, got {threshold}")
    if solver not in SOLVERS:
        raise PprlError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    check_compatible(a, b)
    started = time.perf_counter()
    found = compare(a, b, threshold, blocking)
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
        candidates=len(found.i),
        threshold=threshold,
        blocking=blocking,
        solver=solver,
        seconds=time.perf_counter() - started,
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

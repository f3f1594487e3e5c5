"""One-to-one linking: between two duplicate-free sources each record links to at most one other.

Pairs above the threshold form a bipartite graph per pair of sources. Where a record has more
than one candidate (twins crosswise, a parent and child at one address), the links kept are
those of maximum total match weight, found by an assignment solver rather than a greedy pass
(a greedy pass keeps the single strongest link and can lose two good ones for it).

Records with a single candidate on both sides are kept as they are; only the conflicted part of
the graph goes to the solver. SciPy's ``min_weight_full_bipartite_matching`` needs a full
matching, so each real record gets a stand-in partner ("left unmatched") on the other side: the
solver then chooses, over the whole conflicted graph at once, between linking and leaving a
record unlinked. Every edge is shifted by the same constant so the costs stay positive (the
solver treats a zero as no edge); a full matching has a fixed number of edges, so the shift
does not change which matching is best.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEFT_KEYS = ("source_l", "record_id_l")
RIGHT_KEYS = ("source_r", "record_id_r")


def best_matching(left: np.ndarray, right: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Which of the edges (left[i], right[i], weight[i]) a maximum-weight matching keeps.

    ``left`` and ``right`` are node numbers on each side (each from 0). Edges of weight at or
    below zero are never kept: leaving both records unlinked is at least as good.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    chosen = np.zeros(len(left), dtype=bool)
    useful = weight > 0
    if not useful.any():
        return chosen
    edges = np.flatnonzero(useful)
    lefts, left_node = np.unique(left[edges], return_inverse=True)
    rights, right_node = np.unique(right[edges], return_inverse=True)
    m, n = len(lefts), len(rights)
    shift = float(weight[edges].max()) + 1.0
    # Rows: m real left records, then n stand-ins for the right records left unmatched.
    # Columns: n real right records, then m stand-ins for the left records left unmatched.
    rows = np.concatenate([left_node, np.arange(m), m + np.arange(n), m + right_node])
    cols = np.concatenate([right_node, n + np.arange(m), np.arange(n), n + left_node])
    cost = np.concatenate(
        [shift - weight[edges], np.full(m + n, shift), np.full(len(edges), shift)]
    )
    graph = coo_matrix((cost, (rows, cols)), shape=(m + n, m + n)).tocsr()
    row_of, col_of = min_weight_full_bipartite_matching(graph)
    matched = (row_of < m) & (col_of < n)
    kept = pd.MultiIndex.from_arrays([row_of[matched], col_of[matched]])
    chosen[edges] = pd.MultiIndex.from_arrays([left_node, right_node]).isin(kept)
    return chosen


def one_to_one(
    pairs: pd.DataFrame,
    threshold: float,
    duplicate_free: set[str],
    weight_column: str = "match_weight",
) -> pd.DataFrame:
    """The pairs at or above ``threshold`` that one-to-one linking keeps, with a ``one_to_one``
    column saying which were dropped for a stronger assignment.

    Only pairs between two different sources that are both duplicate-free are constrained;
    every other pair above the threshold is kept.
    """
    above = pairs[pairs["match_probability"] >= threshold].copy()
    above["one_to_one"] = True
    constrained = (
        above["source_l"].isin(duplicate_free)
        & above["source_r"].isin(duplicate_free)
        & (above["source_l"] != above["source_r"])
    )
    if not constrained.any():
        return above
    part = above[constrained]
    # Orient each pair so the smaller source name is on the left: one graph per source pair.
    swap = (part["source_l"] > part["source_r"]).to_numpy()
    first = np.where(swap, part["source_r"], part["source_l"]).astype(str)
    second = np.where(swap, part["source_l"], part["source_r"]).astype(str)
    left_id = np.where(swap, part["record_id_r"], part["record_id_l"]).astype(str)
    right_id = np.where(swap, part["record_id_l"], part["record_id_r"]).astype(str)
    left_key = pd.Series(first + "\x1f" + second + "\x1f" + left_id)
    right_key = pd.Series(first + "\x1f" + second + "\x1f" + right_id)
    left_node, _ = pd.factorize(left_key)
    right_node, _ = pd.factorize(right_key)
    left_degree = np.bincount(left_node)[left_node]
    right_degree = np.bincount(right_node)[right_node]
    conflicted = (left_degree > 1) | (right_degree > 1)
    keep = np.ones(len(part), dtype=bool)
    if conflicted.any():
        # A pair above a threshold below 0.5 can weigh less than nothing; it still counts.
        weights = np.maximum(part[weight_column].to_numpy(dtype=float), 1e-9)
        keep[conflicted] = best_matching(
            left_node[conflicted], right_node[conflicted], weights[conflicted]
        )
    above.loc[part.index[~keep], "one_to_one"] = False
    return above


def one_person_per_source(
    records: pd.DataFrame,
    links: pd.DataFrame,
    duplicate_free: set[str],
    weight_column: str = "match_weight",
) -> tuple[np.ndarray, list[dict]]:
    """Which of ``links`` (pairs already decided to link) stand when no person may hold two
    records of a duplicate-free source, and the clusters split to get there.

    Three steps, each only about duplicate-free sources: a link between two records of one
    such source never stands (the source says they are two people: twins at one address with
    one date of birth); between two such sources each record keeps at most one link
    (``one_to_one``, maximum total weight); and a cluster that still holds two records of one
    such source, joined through a third source that may repeat a person, is split at its
    weakest link (``split_clusters``). Returns a boolean array over ``links`` (True: kept) and
    ``split_clusters``'s list of splits. Every link in ``links`` counts, whatever its
    ``match_probability``; a caller that must never see a link cut gives it a weight no model
    reaches.
    """
    from civicshare.linkage.engine.clustering import split_clusters

    keep = np.ones(len(links), dtype=bool)
    if not duplicate_free or links.empty:
        return keep, []
    frame = links.reset_index(drop=True).assign(match_probability=1.0)
    same = (frame["source_l"] == frame["source_r"]) & frame["source_l"].isin(duplicate_free)
    keep &= ~same.to_numpy()
    assigned = one_to_one(frame[keep], 0.0, duplicate_free, weight_column)
    keep[assigned.index[~assigned["one_to_one"].to_numpy(dtype=bool)]] = False
    standing = frame[keep]
    if weight_column != "match_weight":
        standing = standing.drop(columns="match_weight", errors="ignore").rename(
            columns={weight_column: "match_weight"}
        )
    _, splits = split_clusters(records, standing, 0.5, duplicate_free)
    if splits:
        cut = {
            (e["source_l"], e["record_id_l"], e["source_r"], e["record_id_r"])
            for split in splits
            for e in split["removed"]
        }
        ends = zip(
            frame["source_l"].astype(str),
            frame["record_id_l"].astype(str),
            frame["source_r"].astype(str),
            frame["record_id_r"].astype(str),
            strict=True,
        )
        keep &= ~np.fromiter((end in cut for end in ends), dtype=bool, count=len(frame))
    return keep, splits

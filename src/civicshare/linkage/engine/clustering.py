"""Clustering: scored pairs at or above a threshold into connected components."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cluster(records: pd.DataFrame, pairs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Connected components of the pairs at or above the threshold, singletons included."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    def text(values: pd.Series) -> pa.Array:
        # Arrow strings: sorting and joining a million ids is several times faster than in
        # Python objects.
        return pa.array(values.astype(str).to_numpy(dtype=object), type=pa.large_string())

    separator = pa.scalar("\x1f", pa.large_string())

    def keys(source: pd.Series, record_id: pd.Series) -> pa.Array:
        # A separator no id contains, so (source, record_id) is one string.
        return pc.binary_join_element_wise(text(source), text(record_id), separator)

    # Nodes sorted by key (Arrow sorts UTF-8 bytewise: the same order as Python's str), each
    # once, with its source and record_id alongside.
    source, record_id = text(records["source"]), text(records["record_id"])
    all_keys = pc.binary_join_element_wise(source, record_id, separator)
    order = pc.sort_indices(all_keys)
    sorted_keys = all_keys.take(order)
    first_of_key = np.ones(len(sorted_keys), dtype=bool)
    if len(sorted_keys) > 1:
        first_of_key[1:] = pc.not_equal(sorted_keys[1:], sorted_keys[:-1]).to_numpy(
            zero_copy_only=False
        )
    order = order.to_numpy()[first_of_key]
    nodes = pd.Index(sorted_keys.filter(pa.array(first_of_key)).to_numpy(zero_copy_only=False))
    node_source, node_record_id = source.take(order), record_id.take(order)
    kept = pairs[pairs["match_probability"] >= threshold]
    left = nodes.get_indexer(
        keys(kept["source_l"], kept["record_id_l"]).to_numpy(zero_copy_only=False)
    )
    right = nodes.get_indexer(
        keys(kept["source_r"], kept["record_id_r"]).to_numpy(zero_copy_only=False)
    )
    known = (left >= 0) & (right >= 0)
    n = len(nodes)
    graph = coo_matrix(
        (np.ones(int(known.sum()), dtype=np.int8), (left[known], right[known])), shape=(n, n)
    )
    count, labels = connected_components(graph, directed=False)
    # Nodes are sorted, so the first member of each component is its smallest id: the cluster
    # is named by it and ids do not depend on the order of the input.
    first = np.full(count, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    names = pc.binary_join_element_wise(
        node_source, node_record_id, pa.scalar("|", pa.large_string())
    )

    def column(values: pa.Array) -> pd.Series:
        return pd.Series(values.to_numpy(zero_copy_only=False), dtype="str")

    return pd.DataFrame(
        {
            "source": column(node_source),
            "record_id": column(node_record_id),
            "cluster_id": column(names.take(first[labels])),
        }
    )


def split_clusters(
    records: pd.DataFrame, pairs: pd.DataFrame, threshold: float, duplicate_free: set[str]
) -> tuple[pd.DataFrame, list[dict]]:
    """``cluster``, then each cluster holding two records of one duplicate-free source is
    split at its weakest link (the lowest match weight, again until no part holds two).

    Returns the clusters and one entry per split cluster: ``cluster_id`` (before the split),
    ``records`` and ``removed`` (the links cut: source and record id of each end, weight), for
    the report to flag.
    """
    clusters = cluster(records, pairs, threshold)
    if not duplicate_free or clusters.empty:
        return clusters, []
    members = clusters[clusters["source"].isin(duplicate_free)]
    per_source = members.groupby(["cluster_id", "source"]).size()
    offending = set(per_source[per_source > 1].index.get_level_values(0))
    if not offending:
        return clusters, []
    kept = pairs[pairs["match_probability"] >= threshold]
    cluster_of = dict(
        zip(
            zip(clusters["source"], clusters["record_id"], strict=True),
            clusters["cluster_id"],
            strict=True,
        )
    )
    ends_l = list(zip(kept["source_l"].astype(str), kept["record_id_l"].astype(str), strict=True))
    ends_r = list(zip(kept["source_r"].astype(str), kept["record_id_r"].astype(str), strict=True))
    edges: dict[str, list] = {}
    for index, left, right, weight in zip(
        kept.index, ends_l, ends_r, kept["match_weight"].astype(float), strict=True
    ):
        name = cluster_of.get(left)
        if name in offending:
            edges.setdefault(name, []).append((weight, index, left, right))
    dropped: list = []
    splits = []
    for name in sorted(offending):
        live = sorted(edges.get(name, []))
        removed = []
        while _holds_two(live, duplicate_free):
            weakest = live.pop(0)
            removed.append(weakest)
        dropped += [edge[1] for edge in removed]
        splits.append(
            {
                "cluster_id": name,
                "records": int((clusters["cluster_id"] == name).sum()),
                "removed": [
                    {
                        "source_l": left[0],
                        "record_id_l": left[1],
                        "source_r": right[0],
                        "record_id_r": right[1],
                        "match_weight": round(weight, 2),
                    }
                    for weight, _, left, right in removed
                ],
            }
        )
    return cluster(records, kept.drop(index=dropped), threshold), splits


def _holds_two(edges: list, duplicate_free: set[str]) -> bool:
    """Whether any connected part of ``edges`` holds two records of one duplicate-free source."""
    parent: dict = {}

    def find(node):
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for _, _, left, right in edges:
        parent[find(left)] = find(right)
    seen: set = set()
    for node in list(parent):
        if node[0] in duplicate_free:
            key = (find(node), node[0])
            if key in seen:
                return True
            seen.add(key)
    return False

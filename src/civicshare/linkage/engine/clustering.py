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

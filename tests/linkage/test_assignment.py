"""One-to-one linking keeps the links of maximum total weight, checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from civicshare.linkage.engine.assignment import best_matching, one_to_one


def brute_force(left, right, weight) -> float:
    """The largest total weight of any set of edges sharing no node."""
    best = 0.0
    edges = list(zip(left, right, weight, strict=True))
    for size in range(1, len(edges) + 1):
        for chosen in itertools.combinations(edges, size):
            lefts = {e[0] for e in chosen}
            rights = {e[1] for e in chosen}
            if len(lefts) == size and len(rights) == size:
                best = max(best, sum(max(e[2], 0.0) for e in chosen))
    return best


edge_lists = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.floats(0.5, 40, allow_nan=False)),
    min_size=1,
    max_size=9,
    unique_by=lambda e: (e[0], e[1]),
)


@settings(max_examples=150, deadline=None)
@given(edge_lists)
def test_the_solver_finds_the_maximum_total_weight(edges):
    left = np.array([e[0] for e in edges])
    right = np.array([e[1] for e in edges])
    weight = np.array([e[2] for e in edges])
    kept = best_matching(left, right, weight)
    assert len(set(left[kept])) == kept.sum() == len(set(right[kept]))
    assert abs(weight[kept].sum() - brute_force(left, right, weight)) < 1e-6


def pair(left, right, weight, source_l="council", source_r="gp"):
    return {
        "source_l": source_l,
        "record_id_l": left,
        "source_r": source_r,
        "record_id_r": right,
        "match_weight": weight,
        "match_probability": 2**weight / (1 + 2**weight),
    }


def linked(kept: pd.DataFrame):
    chosen = kept[kept["one_to_one"]]
    return chosen["record_id_l"].tolist(), chosen["record_id_r"].tolist()


def test_twins_linked_crosswise_are_straightened():
    # A's Rhys and Leo against B's Rhys and Leo: the cross links are strong too (same surname,
    # date of birth and address) but the straight ones are stronger in total.
    pairs = pd.DataFrame(
        [
            pair("rhys-a", "rhys-b", 30.0),
            pair("leo-a", "leo-b", 28.0),
            pair("rhys-a", "leo-b", 22.0),
            pair("leo-a", "rhys-b", 22.0),
            pair("solo-a", "solo-b", 12.0),
        ]
    )
    kept = one_to_one(pairs, 0.9, {"council", "gp"})
    links = set(zip(*linked(kept), strict=True))
    assert links == {("rhys-a", "rhys-b"), ("leo-a", "leo-b"), ("solo-a", "solo-b")}


def test_two_good_links_beat_one_strongest():
    # Greedy would keep a1-b1 (25) and lose both 20s; the solver keeps 40 in total.
    pairs = pd.DataFrame([pair("a1", "b1", 25.0), pair("a1", "b2", 20.0), pair("a2", "b1", 20.0)])
    kept = one_to_one(pairs, 0.9, {"council", "gp"})
    assert set(zip(*linked(kept), strict=True)) == {("a1", "b2"), ("a2", "b1")}


def test_a_source_with_duplicates_is_not_constrained_and_pairs_may_come_either_way_round():
    pairs = pd.DataFrame(
        [
            pair("a1", "b1", 25.0),
            pair("a1", "b2", 20.0),
            # The same graph council-gp written gp-council: still one graph.
            pair("b3", "a1", 21.0, source_l="gp", source_r="council"),
            pair("h1", "b1", 15.0, source_l="housing", source_r="gp"),
            pair("h1", "b2", 15.0, source_l="housing", source_r="gp"),
        ]
    )
    kept = one_to_one(pairs, 0.9, {"council", "gp"})
    dropped = kept.loc[~kept["one_to_one"], ["record_id_l", "record_id_r"]].values.tolist()
    assert sorted(dropped) == [["a1", "b2"], ["b3", "a1"]]
    # Housing is not declared duplicate-free: both its links stay.
    assert (kept.loc[kept["source_l"] == "housing", "one_to_one"]).all()


def test_pairs_below_the_threshold_are_left_out():
    pairs = pd.DataFrame([pair("a1", "b1", 25.0), pair("a2", "b2", -3.0)])
    kept = one_to_one(pairs, 0.5, {"council", "gp"})
    assert kept["record_id_l"].tolist() == ["a1"]

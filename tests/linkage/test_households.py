"""Linkage that keeps families apart: twins, a same-name father and son, differing NHS numbers,
one-to-one links between duplicate-free files and clusters split at their weakest link."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from civicshare.linkage import engine
from civicshare.linkage.files import link_files
from civicshare.linkage.pages import _direction
from civicshare.synthetic.linkage_pair import build_linkage_pair


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    pair = build_linkage_pair(people=1500, seed=4)
    folder = tmp_path_factory.mktemp("households")
    paths = pair.write(folder)
    result = link_files([paths["council"], paths["gp"]], folder / "out")
    pairs = pd.read_csv(folder / "out" / "pairs.csv", dtype=str)
    clusters = pd.read_csv(folder / "out" / "clusters.csv", dtype=str)
    return pair, result, pairs, clusters, folder / "out"


def _links(pairs: pd.DataFrame) -> list[tuple[str, str]]:
    return [
        (left, right) if source == "council" else (right, left)
        for source, left, right in zip(
            pairs["source_l"], pairs["record_id_l"], pairs["record_id_r"], strict=True
        )
    ]


def test_twins_and_same_name_father_and_son_are_never_merged(linked):
    pair, _, _, clusters, _ = linked
    assert pair.relatives("twins") and pair.relatives("namesake_parent_child")
    assert pair.merged(clusters, "twins") == 0
    assert pair.merged(clusters, "namesake_parent_child") == 0
    assert pair.merged(clusters, "siblings") == 0


def test_file_mode_precision_and_recall_on_households(linked):
    pair, _, pairs, _, _ = linked
    scores = pair.evaluate(_links(pairs))
    assert scores["precision"] >= 0.995, scores
    assert scores["recall"] >= 0.97, scores


def test_each_record_links_to_at_most_one_of_the_other_file(linked):
    _, result, pairs, _, out = linked
    assert not pairs.duplicated(["source_l", "record_id_l"]).any()
    assert not pairs.duplicated(["source_r", "record_id_r"]).any()
    report = json.loads((out / "report.json").read_text())
    assert report["one_to_one"] is True
    assert result.pairs == len(pairs)


def test_two_valid_nhs_numbers_that_differ_weigh_strongly_against(linked):
    _, _, _, _, out = linked
    settings = json.loads((out / "model.json").read_text())["splink_settings"]
    nhs = next(c for c in settings["comparisons"] if c["output_column_name"] == "nhs_number")
    differ = next(
        level
        for level in nhs["comparison_levels"]
        if level.get("label_for_charts") == "two valid NHS numbers differ"
    )
    assert differ["m_probability"] / differ["u_probability"] < 2**-8
    household = next(c for c in settings["comparisons"] if c["output_column_name"] == "household")
    first = household["comparison_levels"][0]
    assert first["m_probability"] / first["u_probability"] <= 2**-30


def test_records_without_families_get_no_household_comparison():
    # One person per household (FEBRL-like): a first name that differs at one address is a
    # keying error there, so the household rule stays out of the model.
    records = pd.DataFrame(
        {
            "source": ["a"] * 4,
            "record_id": ["1", "2", "3", "4"],
            "given_name": ["Ann", "Bob", "Cy", "Di"],
            "surname": ["Hall", "Reed", "Moss", "Lowe"],
            "date_of_birth": ["1980-01-01"] * 4,
            "address": ["1 Elm Road", "2 Elm Road", "3 Elm Road", "4 Elm Road"],
        }
    )
    family = records.assign(surname="Hall", address="1 Elm Road")
    for frame, expected in ((records, False), (family, True)):
        db_api, _, profile = engine.DuckDBBackend().prepare(frame)
        assert profile["households"] is expected
        engine.DuckDBBackend().release(db_api)


def test_a_cluster_with_two_records_of_one_file_is_split_at_its_weakest_link():
    records = pd.DataFrame(
        {"source": ["a", "b", "c", "a"], "record_id": ["1", "1", "1", "2"]}, dtype=object
    )
    pairs = pd.DataFrame(
        {
            "source_l": ["a", "b", "c"],
            "record_id_l": ["1", "1", "1"],
            "source_r": ["b", "c", "a"],
            "record_id_r": ["1", "1", "2"],
            "match_weight": [10.0, 8.0, 3.0],
            "match_probability": [0.999, 0.998, 0.9],
        }
    )
    clusters, splits = engine.split_clusters(records, pairs, 0.5, {"a", "b", "c"})
    of = {
        (source, record): name
        for source, record, name in clusters[["source", "record_id", "cluster_id"]].itertuples(
            index=False
        )
    }
    assert of[("a", "1")] == of[("b", "1")] == of[("c", "1")]
    assert of[("a", "2")] != of[("a", "1")]
    assert [s["removed"][0]["match_weight"] for s in splits] == [3.0]
    # Without a duplicate-free source nothing is split.
    unsplit, none = engine.split_clusters(records, pairs, 0.5, set())
    assert unsplit["cluster_id"].nunique() == 1 and none == []


@pytest.mark.parametrize(
    ("weight", "label"),
    [(0.0, "neutral"), (0.01, "neutral"), (5.2, "towards a match"), (-3, "away from a match")],
)
def test_the_review_page_calls_a_comparison_without_effect_neutral(weight, label):
    assert _direction(weight) == label


def test_pairs_kept_apart_by_the_household_rule_are_found_for_review(linked):
    pair, result, _, _, out = linked
    model = engine.LinkageModel.from_json((out / "model.json").read_text())
    records = pd.concat(
        [pair.council.assign(source="council"), pair.gp.assign(source="gp")], ignore_index=True
    )
    apart = engine.household_apart(model, records, threshold=result.threshold)
    assert len(apart) and (apart["mw_household"] <= -29).all()
    assert (apart["match_probability"] < result.threshold).all()
    person = {
        (source, record): entity for source, record, entity in pair.truth.itertuples(index=False)
    }
    people = [
        (person[(sl, rl)], person[(sr, rr)])
        for sl, rl, sr, rr in apart[["source_l", "record_id_l", "source_r", "record_id_r"]]
        .astype(str)
        .itertuples(index=False)
    ]
    assert all(a != b for a, b in people)  # relatives, never one person
    twins = {frozenset(t) for t in pair.relatives("twins")}
    assert any(frozenset(p) in twins for p in people)


def _scored_links(rows):
    return pd.DataFrame(
        rows, columns=["source_l", "record_id_l", "source_r", "record_id_r", "match_weight"]
    ).assign(match_probability=0.99)


def test_one_person_per_source_keeps_twins_of_a_duplicate_free_source_apart():
    records = pd.DataFrame(
        {
            "source": ["gp", "gp", "council", "council", "acute", "acute"],
            "record_id": ["emily", "millie", "emily", "millie", "a1", "a2"],
        }
    )
    links = _scored_links(
        [
            ("gp", "emily", "gp", "millie", 12.0),  # twins, one GP list: two people
            ("council", "emily", "gp", "emily", 20.0),
            ("council", "emily", "gp", "millie", 9.0),  # crosswise, by a nickname
            ("council", "millie", "gp", "millie", 19.0),
            ("council", "millie", "gp", "emily", 8.0),
            ("acute", "a1", "gp", "emily", 15.0),  # admissions may repeat a person ...
            ("acute", "a1", "gp", "millie", 11.0),  # ... so a1 joins both twins
            ("acute", "a2", "acute", "a1", 14.0),  # a repeat admission of one person
        ]
    )
    keep, splits = engine.one_person_per_source(records, links, {"gp", "council"})
    kept = links[keep]
    assert list(kept["match_weight"]) == [20.0, 19.0, 15.0, 14.0]
    assert len(splits) == 1 and splits[0]["removed"][0]["match_weight"] == 11.0
    clusters = engine.cluster(records, kept, 0.5)
    ends = zip(clusters["source"], clusters["record_id"], strict=True)
    of = dict(zip(ends, clusters["cluster_id"], strict=True))
    assert of[("gp", "emily")] != of[("gp", "millie")]
    assert of[("council", "emily")] == of[("gp", "emily")] == of[("acute", "a2")]
    # With no source declared duplicate-free every link stands.
    everything, none = engine.one_person_per_source(records, links, set())
    assert everything.all() and none == []


def test_one_person_per_source_never_cuts_a_link_weighing_more_than_any_model():
    records = pd.DataFrame({"source": ["a", "a", "b"], "record_id": ["1", "2", "1"]})
    # A reviewer accepted b1-a2 (held); the model's stronger b1-a1 gives way.
    links = _scored_links([("b", "1", "a", "1", 25.0), ("b", "1", "a", "2", 1e12)])
    keep, _ = engine.one_person_per_source(records, links, {"a", "b"})
    assert list(keep) == [False, True]

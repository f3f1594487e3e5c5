# ruff: noqa: SIM905  (word lists read better as one string)
"""The linkage engine: standardisation, training, scoring, incremental scoring and clustering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from civicshare.linkage import engine
from civicshare.synthetic.common import nhs_check_digit

GIVEN = (
    "OLIVER JACK HARRY GEORGE NOAH AMELIA OLIVIA ISLA EMILY AVA MARGARET JOHN SUSAN MARK".split()
)
SURNAMES = "SMITH JONES TAYLOR BROWN WILLIAMS WILSON JOHNSON DAVIES PATEL WRIGHT EVANS HALL".split()
STREETS = "HIGH STREET,CHURCH ROAD,MILL LANE,STATION ROAD,THE GREEN,LONDON ROAD".split(",")


def _people(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prefix = rng.integers(900_000_000, 1_000_000_000, size=n)
    check = nhs_check_digit(prefix)
    nhs = [f"{p}{c}" if c < 10 else None for p, c in zip(prefix, check, strict=True)]
    dob = pd.to_datetime("1930-01-01") + pd.to_timedelta(rng.integers(0, 30000, n), unit="D")
    return pd.DataFrame(
        {
            "person": np.arange(n),
            "given_name": rng.choice(GIVEN, n),
            "surname": rng.choice(SURNAMES, n),
            "date_of_birth": dob.strftime("%Y-%m-%d"),
            "sex": rng.choice(["M", "F"], n),
            "nhs_number": nhs,
            "address": [
                f"{h} {s}"
                for h, s in zip(rng.integers(1, 80, n), rng.choice(STREETS, n), strict=True)
            ],
            "postcode": [
                f"WR{d} {s}{a}{b}"
                for d, s, a, b in zip(
                    rng.integers(1, 9, n),
                    rng.integers(1, 9, n),
                    rng.choice(list("ABDEFGH"), n),
                    rng.choice(list("JLNPQRST"), n),
                    strict=True,
                )
            ],
        }
    )


def two_sources(n: int = 400, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Source a holds every person; source b 80% of them with typos and a swapped date."""
    people = _people(n, seed)
    rng = np.random.default_rng(seed + 1)
    a = people.assign(source="a", record_id=[f"A{i}" for i in people.person])
    b = people.sample(frac=0.8, random_state=seed).copy()
    b["source"] = "b"
    b["record_id"] = [f"B{i}" for i in b.person]
    typo = rng.random(len(b)) < 0.2
    b.loc[typo, "surname"] = b.loc[typo, "surname"].str[:-1] + "X"
    b.loc[rng.random(len(b)) < 0.1, "nhs_number"] = None
    b["given_name"] = b["given_name"].str.lower()
    return a, b


def test_standardise_derives_comparison_columns():
    frame = pd.DataFrame(
        {
            "source": ["s", "s"],
            "record_id": ["1", "2"],
            "given_name": ["  Bill  Henry", "Zoë"],
            "surname": ["O'Brien-Smith", "smith"],
            "date_of_birth": ["1950-03-07", "not a date"],
            "sex": ["male", "2"],
            "nhs_number": ["943 476 5919", "9434765918"],
            "address": ["12a High St, Evesham", None],
            "postcode": ["wr11 4ab", "12345"],
            "uprn": ["100120000001", None],
        }
    )
    std = engine.standardise(frame)
    first, second = std.iloc[0], std.iloc[1]
    assert first.given_name == "BILL" and first.given_other == "HENRY"
    assert "WILLIAM" in list(first.given_aliases)
    assert second.given_name == "ZOE"
    assert first.surname == "OBRIENSMITH" and list(first.surname_tokens) == ["OBRIEN", "SMITH"]
    assert first.dob == "1950-03-07" and first.dob_swap == "1950-07-03"
    assert second.dob is None or pd.isna(second.dob)
    assert (first.sex, second.sex) == ("M", "F")
    assert bool(first.nhs_valid) and not bool(second.nhs_valid)
    assert first.postcode == "WR11 4AB"
    assert (first.postcode_sector, first.postcode_district) == ("WR11 4", "WR11")
    # A postcode of another country is kept whole, without UK sectors.
    assert second.postcode == "12345" and pd.isna(second.postcode_sector)
    assert first.house_number == "12A" and first.street == "HIGH STREET"
    assert "STREET" in list(first.address_tokens)


def test_standardise_reads_a_short_nhs_number_as_invalid_not_an_error():
    frame = pd.DataFrame(
        {"source": "s", "record_id": ["1", "2", "3"], "nhs_number": ["123", "4", "94347659"]}
    )
    std = engine.standardise(frame)
    assert list(std.nhs_number) == ["123", "4", "94347659"]
    assert not std.nhs_valid.any()


def test_standardise_keeps_the_parts_blocking_compares():
    frame = pd.DataFrame(
        {
            "source": "s",
            "record_id": ["1", "2"],
            "surname": ["O'Neill", None],
            "date_of_birth": ["1950-03-07", None],
        }
    )
    first, second = engine.standardise(frame).iloc[0], engine.standardise(frame).iloc[1]
    assert (first.surname_initial, first.surname_prefix) == ("O", "ON")
    assert (first.dob_month_day, first.dob_year_month, first.dob_year_day) == (
        "03-07",
        "1950-03",
        "195007",
    )
    assert pd.isna(second.surname_prefix) and pd.isna(second.dob_year_day)


@pytest.mark.parametrize("link_only", [True, False])
def test_rule_by_rule_blocking_gives_the_pairs_splink_would(link_only):
    """The engine blocks one rule at a time; Splink's own blocking must find the same pairs."""
    from splink import Linker

    a, b = two_sources(n=200)
    c = b.assign(source="c", record_id="C" + b.record_id.str[1:]).head(60)
    records = pd.concat([a, b] if link_only else [a, b, c], ignore_index=True)
    backend = engine.DuckDBBackend()
    db_api, table, profile = backend.prepare(records)
    settings = engine.settings_for(profile["fields"], profile["distance"], profile["uk"])
    condition = "l.source <> r.source" if not link_only else None
    settings.blocking_rules_to_generate_predictions = engine.restrict(
        settings.blocking_rules_to_generate_predictions, condition
    )
    tables = backend.split_two_sources(db_api) if link_only else None
    if tables:
        settings.link_type = "link_only"
        settings.source_dataset_column_name = "source"
    linker = Linker(tables or table, settings, log_level=None)
    splinks = linker.inference.compute_blocked_pairs_for_predict().as_pandas_dataframe()
    backend.before_predict(linker)  # blocking rule by rule
    ours = db_api.duckdb_con.execute("SELECT * FROM civicshare_blocked_pairs").df()

    def pairs(frame):
        return {tuple(sorted(p)) for p in zip(frame.join_key_l, frame.join_key_r, strict=True)}

    assert len(ours) == len(pairs(ours)), "each pair once"
    assert pairs(ours) == pairs(splinks)
    assert len(ours) > 100

    # The same rule is named for a pair: the first that admits it.
    def rule_of(frame):
        keys = zip(frame.join_key_l, frame.join_key_r, strict=True)
        return {key: str(rule) for key, rule in zip(keys, frame.match_key, strict=True)}

    assert rule_of(ours) == rule_of(splinks)


def test_standardise_names_the_repeated_record_id():
    frame = pd.DataFrame({"source": ["s", "s"], "record_id": ["7", "7"], "surname": ["A", "B"]})
    with pytest.raises(ValueError, match="s row id '7'"):
        engine.standardise(frame)


@pytest.fixture(scope="module")
def trained():
    a, b = two_sources()
    records = pd.concat([a, b], ignore_index=True)
    model = engine.train(records, seed=1)
    return a, b, records, model


def _true(pairs: pd.DataFrame) -> pd.Series:
    return pairs.record_id_l.str[1:] == pairs.record_id_r.str[1:]


def test_trained_model_links_the_two_sources(trained):
    a, b, records, model = trained
    assert 0.5 <= model.recommended_threshold < 1
    pairs = engine.predict(model, records, threshold=model.recommended_threshold)
    assert {"match_weight", "match_probability", "mw_surname", "gamma_surname"} <= set(pairs)
    found = _true(pairs).sum()
    assert found >= 0.97 * len(b)
    assert (~_true(pairs)).sum() <= 0.01 * len(b)


def test_model_round_trips_through_json(trained):
    _, _, records, model = trained
    again = engine.LinkageModel.from_json(model.to_json())
    assert again.recommended_threshold == model.recommended_threshold
    first = engine.predict(model, records, threshold=0.5)
    second = engine.predict(again, records, threshold=0.5)
    pd.testing.assert_frame_equal(first, second)


def test_incremental_predict_never_compares_existing_with_existing(trained):
    a, b, _, model = trained
    new = b.head(50)
    pairs = engine.predict(model, new, existing=a, threshold=0.01)
    new_ids = set(new.record_id)
    assert len(pairs)
    assert (pairs.record_id_l.isin(new_ids) | pairs.record_id_r.isin(new_ids)).all()
    assert _true(pairs[pairs.match_probability >= model.recommended_threshold]).sum() >= 45


def test_link_only_keeps_pairs_across_sources(trained):
    _, _, records, model = trained
    pairs = engine.predict(model, records, threshold=0.01, link_only=True)
    assert (pairs.source_l != pairs.source_r).all()


def test_cluster_gives_every_record_one_cluster_named_by_its_smallest_member():
    records = pd.DataFrame({"source": ["a", "a", "b", "b"], "record_id": ["2", "1", "9", "3"]})
    pairs = pd.DataFrame(
        {
            "source_l": ["a", "a"],
            "record_id_l": ["2", "1"],
            "source_r": ["b", "b"],
            "record_id_r": ["9", "3"],
            "match_probability": [0.99, 0.2],
        }
    )
    clusters = engine.cluster(records, pairs, threshold=0.5).set_index(["source", "record_id"])
    assert len(clusters) == 4
    assert clusters.loc[("a", "2"), "cluster_id"] == clusters.loc[("b", "9"), "cluster_id"]
    assert clusters.loc[("a", "2"), "cluster_id"] == "a|2"
    assert clusters.loc[("a", "1"), "cluster_id"] == "a|1"
    assert clusters.loc[("b", "3"), "cluster_id"] == "b|3"


def _surname_m(model: engine.LinkageModel) -> dict[str, float]:
    (surname,) = [c for c in model.settings["comparisons"] if c["output_column_name"] == "surname"]
    return {
        level["label_for_charts"]: level["m_probability"]
        for level in surname["comparison_levels"]
        if not level.get("is_null_level")
    }


def test_reviewers_accepted_pairs_teach_m_which_disagreements_occur_among_matches():
    a, b = two_sources()
    records = pd.concat([a, b], ignore_index=True)
    both = a.merge(b, left_on=a.record_id.str[1:], right_on=b.record_id.str[1:])
    typos = both[both.surname_x.str.upper() != both.surname_y.str.upper()]
    labels = pd.DataFrame(
        {
            "source_l": typos.source_x,
            "record_id_l": typos.record_id_x,
            "source_r": typos.source_y,
            "record_id_r": typos.record_id_y,
            "is_match": True,
        }
    ).head(30)
    rejected = labels.assign(record_id_r="B9999", is_match=False)  # not trained on
    unlabelled = engine.train(records, seed=1)
    labelled = engine.train(records, seed=1, labels=pd.concat([labels, rejected]))
    before, after = _surname_m(unlabelled), _surname_m(labelled)
    assert labelled.labelled_matches == 30 and unlabelled.labelled_matches == 0
    # Every accepted pair has a one-letter typo in the surname: "equal" loses weight to the
    # near levels, and each comparison's m still sums to what it did.
    assert after["surname equal"] < before["surname equal"] - 0.1
    assert after["Jaro-Winkler >= 0.92"] > before["Jaro-Winkler >= 0.92"] + 0.1
    assert sum(after.values()) == pytest.approx(sum(before.values()))
    # The model remembers how many labels trained it.
    assert engine.LinkageModel.from_json(labelled.to_json()).labelled_matches == 30


def test_too_few_accepted_pairs_leave_the_model_as_it_was():
    a, b = two_sources()
    records = pd.concat([a, b], ignore_index=True)
    few = pd.DataFrame(
        {
            "source_l": "a",
            "record_id_l": a.record_id.head(engine.MIN_LABELLED_MATCHES - 1),
            "source_r": "b",
            "record_id_r": "B" + a.record_id.head(engine.MIN_LABELLED_MATCHES - 1).str[1:],
            "is_match": True,
        }
    )
    unlabelled = engine.train(records, seed=1)
    labelled = engine.train(records, seed=1, labels=few)
    assert labelled.labelled_matches == 0
    assert labelled.settings["comparisons"] == unlabelled.settings["comparisons"]

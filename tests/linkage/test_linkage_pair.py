"""The held-out council/GP pair: the households and mess it promises are really there."""

from civicshare.synthetic.linkage_pair import build_linkage_pair


def test_pair_holds_families_and_truth(tmp_path):
    pair = build_linkage_pair(people=1500, seed=3)
    people = pair.people.set_index("person_id")
    twins = pair.relatives("twins")
    assert twins
    for a, b in twins:
        assert people.at[a, "date_of_birth"] == people.at[b, "date_of_birth"]
        assert people.at[a, "household_id"] == people.at[b, "household_id"]
        assert people.at[a, "given_name"] != people.at[b, "given_name"]
    namesakes = pair.relatives("namesake_parent_child")
    assert namesakes
    for son, father in namesakes:
        assert people.at[son, "given_name"] == people.at[father, "given_name"]
        assert people.at[son, "date_of_birth"] != people.at[father, "date_of_birth"]
    # NHS numbers are missing from most council rows and few GP rows.
    assert pair.council["nhs_number"].isna().mean() > 0.7
    assert pair.gp["nhs_number"].isna().mean() < 0.1
    assert pair.council["nhs_number"].dropna().map(type).eq(str).all()
    true = pair.true_pairs()
    assert pair.evaluate(true) == {
        "links": len(true),
        "true_links": len(true),
        "correct": len(true),
        "precision": 1.0,
        "recall": 1.0,
    }
    # One cluster per household merges every pair of twins that both have a record.
    household = people["household_id"]
    clusters = pair.truth.assign(cluster_id=pair.truth["entity_id"].map(household))
    assert pair.merged(clusters, "twins") > 0
    assert pair.merged(pair.truth.rename(columns={"entity_id": "cluster_id"}), "twins") == 0
    paths = pair.write(tmp_path)
    assert paths["council"].read_text().startswith("record_id,given_name,surname")


def test_same_seed_same_files():
    first, second = build_linkage_pair(300, seed=9), build_linkage_pair(300, seed=9)
    assert first.council.equals(second.council)
    assert first.gp.equals(second.gp)

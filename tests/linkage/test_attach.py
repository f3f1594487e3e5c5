"""Household attachment's rule (linkage.person_index.attach.choose): a record without a date
of birth joins the one indexed resident of its property who agrees by name, or nobody."""

from __future__ import annotations

from datetime import date

import pandas as pd

from civicshare.linkage.person_index.attach import choose, one_letter_apart, property_keys

TODAY = date(2026, 12, 3)
HOME = {"uprn": "100120005703", "address": "3 Lark Road, Astwood Bank", "postcode": "B96 1PT"}
NEXT_DOOR = {"uprn": "100120005704", "address": "5 Lark Road, Astwood Bank", "postcode": "B96 1PT"}


def resident(record_id, key, given, surname, born="1960-05-01", *, source="hw-icb/gp", **home):
    where = {**HOME, "uprn": None, **home}  # a GP record has an address, no UPRN
    return {
        "source": source,
        "record_id": record_id,
        "person_key": key,
        "given_name": given,
        "surname": surname,
        "date_of_birth": born,
        **where,
    }


def account(record_id, given, surname, **home):
    return {
        "source": "redditch-bc/council-tax-redditch",
        "record_id": record_id,
        "given_name": given,
        "surname": surname,
        **{**HOME, **home},
    }


def run(records, indexed, **options):
    return choose(pd.DataFrame(records), pd.DataFrame(indexed), today=TODAY, **options)


def attached_to(choice, record_id):
    found = choice.attached.get(("redditch-bc/council-tax-redditch", record_id))
    return found[0].person_key if found else None


def test_the_one_resident_who_agrees_by_name_is_attached_with_its_evidence():
    indexed = [
        resident("G1", "P-IAN", "IAN", "WALKER"),
        resident("G2", "P-LOUISE", "LOUISE", "WALKER"),
        resident("G3", "P-ELSEWHERE", "IAN", "WALKER", **NEXT_DOOR),
    ]
    choice = run([account("A1", "Ian", "Walker")], indexed)
    candidate, residents = choice.attached[("redditch-bc/council-tax-redditch", "A1")]
    assert candidate.person_key == "P-IAN"
    assert candidate.anchors == (("hw-icb/gp", "G1"),)
    assert (candidate.level, candidate.property, residents) == ("exact", "address", 2)


def test_nickname_typo_postcode_slip_and_swapped_fields_still_find_the_resident():
    indexed = [
        resident("G1", "P-ROBERT", "ROBERT", "JOHNSON"),
        resident("G2", "P-SUSAN", "SUSAN", "JOHNSON"),
    ]
    records = [
        account("A1", "Bob", "Johnson"),
        account("A2", "Robret", "Johnson"),  # neighbouring letters swapped
        account("A3", "Robert", "Johnson", uprn=None, postcode="B96 1PX"),  # postcode slip
        account("A4", "Johnson", "Robert"),  # given name and surname swapped at entry
    ]
    choice = run(records, indexed)
    assert [attached_to(choice, r) for r in ("A1", "A2", "A3", "A4")] == ["P-ROBERT"] * 4
    levels = [
        choice.attached[("redditch-bc/council-tax-redditch", r)][0].level
        for r in ("A1", "A2", "A3", "A4")
    ]
    assert levels == ["nickname", "one letter apart", "exact", "names swapped"]


def test_same_name_father_and_son_are_ambiguous_and_not_attached():
    indexed = [
        resident("G1", "P-FATHER", "JOHN", "SMITH", "1950-01-01"),
        resident("G2", "P-SON", "JOHN", "SMITH", "1980-01-01"),
    ]
    choice = run([account("A1", "John", "Smith")], indexed)
    assert attached_to(choice, "A1") is None
    ambiguous = choice.ambiguous[("redditch-bc/council-tax-redditch", "A1")]
    assert {c.person_key for c in ambiguous} == {"P-FATHER", "P-SON"}


def test_a_reviewers_decision_settles_an_ambiguous_record():
    indexed = [
        resident("G1", "P-FATHER", "JOHN", "SMITH", "1950-01-01"),
        resident("G2", "P-SON", "JOHN", "SMITH", "1980-01-01"),
    ]
    record = ("redditch-bc/council-tax-redditch", "A1")
    by_reviewer = run(
        [account("A1", "John", "Smith")], indexed, accepted={record: ("hw-icb/gp", "G2")}
    )
    assert attached_to(by_reviewer, "A1") == "P-SON"
    one_rejected = run(
        [account("A1", "John", "Smith")], indexed, rejected={(record, ("hw-icb/gp", "G1"))}
    )
    assert attached_to(one_rejected, "A1") == "P-SON"


def test_twins_with_initials_only_are_not_guessed_but_distinct_names_attach():
    indexed = [
        resident("G1", "P-JACK", "JACK", "BROWN", "1990-03-03"),
        resident("G2", "P-JAMES", "JAMES", "BROWN", "1990-03-03"),
    ]
    choice = run([account("A1", "J", "Brown"), account("A2", "James", "Brown")], indexed)
    assert attached_to(choice, "A1") is None
    assert ("redditch-bc/council-tax-redditch", "A1") in choice.ambiguous
    assert attached_to(choice, "A2") == "P-JAMES"


def test_an_initial_attaches_only_when_no_other_resident_shares_it():
    indexed = [
        resident("G1", "P-KAREN", "KAREN", "THOMAS"),
        resident("G2", "P-MARK", "MARK", "THOMAS"),
    ]
    assert attached_to(run([account("A1", "Mrs K", "Thomas")], indexed), "A1") == "P-KAREN"


def test_an_exact_name_beats_a_resident_one_letter_apart():
    indexed = [
        resident("G1", "P-ANDREW", "ANDREW", "HILL"),
        resident("G2", "P-ANDREA", "ANDREA", "HILL"),
    ]
    assert attached_to(run([account("A1", "Andrew", "Hill")], indexed), "A1") == "P-ANDREW"


def test_two_known_names_one_letter_apart_are_two_people():
    """JOHN and JOAN are both given names (in the nickname table, in no common group): a
    husband's account is not attached to his late wife's record kept at their home."""
    indexed = [resident("G1", "P-JOAN", "JOAN", "BALL")]
    choice = run([account("A1", "John", "Ball"), account("A2", "Jaon", "Ball")], indexed)
    assert attached_to(choice, "A1") is None
    assert choice.no_name == 1
    assert attached_to(choice, "A2") == "P-JOAN"  # a slip of the pen still finds her


def test_a_mother_and_daughter_of_one_first_name_differ_by_second_name_and_age():
    indexed = [
        resident("G1", "P-DAUGHTER", "MILLIE LUCY", "HARRISON", "2016-11-24"),
        resident("C1", "P-DAUGHTER", "MILLIE", "HARRISON", None, source="children/cp"),
    ]
    # The mother is not in the index at this address: her elector record attaches to nobody.
    choice = run([account("A1", "Millie Poppy", "Harrison")], indexed)
    assert attached_to(choice, "A1") is None
    assert not choice.ambiguous
    # Grown up, the daughter is still another Millie: her GP record names her Millie Lucy.
    indexed[0]["date_of_birth"] = "1990-11-24"
    assert attached_to(run([account("A1", "Millie Poppy", "Harrison")], indexed), "A1") is None
    assert attached_to(run([account("A1", "Millie", "Harrison")], indexed), "A1") == "P-DAUGHTER"


def test_a_person_who_moved_is_not_attached_at_another_property():
    indexed = [
        resident("G1", "P-MOVED", "GRACE", "TAYLOR", address="12 Saxon Lane", postcode="B60 1RG")
    ]
    choice = run(
        [
            account(
                "A1",
                "Grace",
                "Taylor",
                address="2 Offmore Road, Bromsgrove",
                postcode="B60 1RG",
                uprn="100120001955",
            )
        ],
        indexed,
    )
    assert attached_to(choice, "A1") is None
    assert choice.no_household == 1


def test_a_stranger_at_an_indexed_household_is_not_attached():
    indexed = [resident("G1", "P-IAN", "IAN", "WALKER")]
    choice = run([account("A1", "Frank", "Henderson")], indexed)
    assert attached_to(choice, "A1") is None
    assert choice.no_name == 1


def test_property_keys_and_one_letter_apart():
    assert property_keys("100120005703", "3 Lark Road, Astwood Bank", "B96 1PT") == [
        ("uprn", "U:100120005703"),
        ("address", "A:B96 1|3 LARK ROAD"),
    ]
    assert property_keys(None, "The Willows, Chestnut Close", "wr2 1pu") == [
        ("address", "A:WR2 1|THE WILLOWS CHESTNUT")
    ]
    assert one_letter_apart("JOHN", "JOHNN") and one_letter_apart("JOHN", "JHON")
    assert not one_letter_apart("JOHN", "JANE")

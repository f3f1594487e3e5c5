"""A partner's record of the person at another address (an elector still registered where the
deceased used to live: a name, no date of birth) is put to a reviewer, never sent on the name
alone (linkage.person_index.elsewhere)."""

from __future__ import annotations

import pandas as pd

from civicshare.linkage.person_index import elsewhere

DEATH = ("worcestershire-cc/death-registrations", "D1")
WYRE = "wyre-forest-dc/electoral-register-wyre-forest"


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["source", "record_id", "given_name", "surname"])


def test_electors_whose_name_agrees_become_candidates_and_initials_do_not():
    records = _frame([(*DEATH, "Patricia Elizabeth", "JONES")])
    unplaced = _frame(
        [
            (WYRE, "FH-1", "Patricia Elizabeth", "Jones"),  # the same name
            (WYRE, "FH-2", "Patricia", "jones "),  # no second name to disagree
            (WYRE, "FH-3", "Patricia Mary", "Jones"),  # another Patricia Jones
            (WYRE, "FH-4", "P", "Jones"),  # a bare initial: not enough
            (WYRE, "FH-5", "Patricia Elizabeth", "Jonas"),  # another surname
            ("mercia-water/priority-services-register", "W-1", "Patricia", "Jones"),
        ]
    )
    found = elsewhere.candidates(records, unplaced, partners={"wyre-forest-dc"})
    assert found == {DEATH: [((WYRE, "FH-1"), "exact"), ((WYRE, "FH-2"), "exact")]}


def test_a_name_shared_by_many_unplaced_records_is_not_asked_about():
    records = _frame([(*DEATH, "John", "Smith")])
    many = _frame([(WYRE, f"FH-{i}", "John", "Smith") for i in range(elsewhere.MAX_CANDIDATES + 1)])
    assert elsewhere.candidates(records, many) == {}
    assert len(elsewhere.candidates(records, many.iloc[:-1])[DEATH]) == elsewhere.MAX_CANDIDATES


def test_a_maiden_or_double_barrelled_surname_finds_the_elector_at_home():
    records = pd.DataFrame(
        [(*DEATH, "Joanne Sarah", "HOLLAND", ["DAVIES"])],
        columns=["source", "record_id", "given_name", "surname", "other_surnames"],
    )
    unplaced = _frame(
        [
            (WYRE, "BC-91", "Joanne Sarah", "Davies-Holland"),  # double-barrelled
            (WYRE, "BC-92", "Joanne", "Davies"),  # her maiden name
            (WYRE, "BC-93", "Joanne Sarah", "Hollins"),  # neither
        ]
    )
    found = elsewhere.candidates(records, unplaced)
    assert found == {DEATH: [((WYRE, "BC-91"), "exact"), ((WYRE, "BC-92"), "exact")]}
    # without the maiden surname only the double-barrelled record agrees
    assert elsewhere.candidates(records.drop(columns="other_surnames"), unplaced) == {
        DEATH: [((WYRE, "BC-91"), "exact")]
    }

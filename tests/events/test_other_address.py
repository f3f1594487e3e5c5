"""A partner's record of the person at another address (an elector still registered where the
deceased used to live: a name, no date of birth) is put to a reviewer, never sent on the name
alone (linkage.person_index.elsewhere)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from civicshare import db
from civicshare.linkage.models import IndexedRecord, LinkageRun, ReviewItem
from civicshare.linkage.person_index import confidence, elsewhere

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


FIRE = "hw-fire/home-fire-safety-visits"
GP = "hw-icb/gp-registrations"


def _indexed(rows) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=["source", "record_id", "given_name", "surname", "date_of_birth", "person_key"],
    )


def test_a_record_linked_to_nobody_with_the_name_and_birthday_becomes_a_candidate():
    records = pd.DataFrame(
        [(*DEATH, "Vera", "JONES", "1952-02-25", "P-VERA")],
        columns=["source", "record_id", "given_name", "surname", "date_of_birth", "person_key"],
    )
    indexed = _indexed(
        [
            (*DEATH, "Vera", "JONES", "1952-02-25", "P-VERA"),
            (GP, "GPR-1", "Vera", "Jones", "1952-02-25", "P-VERA"),  # linked already
            (FIRE, "HFSV-1", "Ms V", "Jones", "1952-02-25", "P-ALONE-1"),  # her old house
            (FIRE, "HFSV-2", "Ms V", "Jones", "1952-02-26", "P-ALONE-2"),  # another birthday
            (FIRE, "HFSV-3", "Mr W", "Jones", "1952-02-25", "P-ALONE-3"),  # another initial
            (FIRE, "HFSV-4", "Mrs V", "Jones", "1952-02-25", "P-TWO"),  # linked to someone
            (GP, "GPR-2", "Violet", "Jones", "1952-02-25", "P-TWO"),
            ("mercia-water/priority-services-register", "W-1", "V", "Jones", "1952-02-25", "P-W"),
        ]
    )
    found = elsewhere.unlinked_candidates(records, indexed, partners={"hw-fire", "hw-icb"})
    assert found == {DEATH: [((FIRE, "HFSV-1"), "initial")]}
    # a register of life events is never a candidate: it tells nobody
    assert elsewhere.unlinked_candidates(records, indexed, registers={FIRE}) == {
        DEATH: [(("mercia-water/priority-services-register", "W-1"), "initial")]
    }


def test_a_record_linked_to_nobody_is_asked_about_once_and_the_event_waits(sessions):
    council_tax = "malvern-hills-dc/council-tax-malvern-hills"
    indexed = _indexed(
        [
            (*DEATH, "Vera", "JONES", "1952-02-25", "P-VERA"),
            (FIRE, "HFSV-1", "Ms V", "Jones", "1952-02-25", "P-ALONE"),
            # alone among the model's records, but a council tax account is attached to it
            (FIRE, "HFSV-2", "Mrs Vera", "Jones", "1952-02-25", "P-HOUSEHOLD"),
        ]
    )
    with db.session_scope(sessions) as session:
        run = LinkageRun()
        session.add(run)
        session.flush()
        for source, record_id, key in [
            (*DEATH, "P-VERA"),
            (FIRE, "HFSV-1", "P-ALONE"),
            (FIRE, "HFSV-2", "P-HOUSEHOLD"),
            (council_tax, "CT-9", "P-HOUSEHOLD"),
        ]:
            session.add(
                IndexedRecord(
                    source=source, snapshot_version=3, record_id=record_id, person_key=key,
                    evidence="x", run_id=run.id,
                )
            )  # fmt: skip
        session.flush()
        records = indexed.iloc[:1]
        assert elsewhere.ask_unlinked(session, records, indexed, {"hw-fire"}) == 1
        assert elsewhere.ask_unlinked(session, records, indexed, {"hw-fire"}) == 0  # once
        (item,) = session.scalars(select(ReviewItem)).all()
        ends = {(item.source_l, item.record_id_l), (item.source_r, item.record_id_r)}
        assert ends == {DEATH, (FIRE, "HFSV-1")}
        assert item.waterfall["asked_by"] == elsewhere.ASKED_BY_UNLINKED
        assert item.snapshot_version_l == item.snapshot_version_r == 3
        found = confidence.match_many(session, [DEATH], 0.99, beyond=True)[DEATH]
        assert found.same_person == [] and found.open_reviews == 1

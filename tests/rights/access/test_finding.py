"""Finding a person's records: the rules for what agrees (matching.compare) and the search of
every dataset the person index reads, council tax accounts and electoral registers included
(finding.find_records)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from civicshare import db
from civicshare.rights.access import finding, matching, service
from civicshare.rights.access.models import EXPORTED, Match
from tests.rights.access.conftest import IG_LEAD, acting, true_person, truth_dir

ANN = dict(given_name="Ann", surname="Lee", date_of_birth="1968-08-09", nhs_number="")
HOME = dict(address="3 Lark Road", postcode="B61 1AA")


def _account(**held) -> dict:
    """A council tax account as the person index reads it: a name at a property, no date of
    birth."""
    return {"given_name": "ANN", "surname": "LEE", "address": "3 LARK ROAD, CATSHILL",
            "postcode": "B61 1AA", **held}  # fmt: skip


def test_a_council_tax_account_under_the_previous_surname_at_the_address_is_confident():
    person = matching.details(**ANN, **HOME, previous_surname="Barker")
    compared = matching.compare(person, _account(surname="BARKER"))
    assert compared.confident
    assert "previous surname" in compared.describe()
    # Without the previous surname it is only the given name at the address: not even listed.
    assert not matching.compare(
        matching.details(**ANN, **HOME), _account(surname="BARKER")
    ).agreed >= {"surname"}


def test_a_record_at_the_previous_address_given_agrees_on_the_address():
    person = matching.details(
        **ANN, **HOME, previous_address="9 Mill Lane", previous_postcode="WR1 2BB"
    )
    compared = matching.compare(
        person, _account(address="9 MILL LANE, WORCESTER", postcode="WR1 2BB")
    )
    assert compared.confident and "previous address" in compared.describe()


def test_a_namesake_at_another_address_is_at_most_listed_never_confident():
    person = matching.details(**ANN, **HOME)
    elsewhere = matching.compare(
        person, _account(address="12 OAK ROAD, PERSHORE", postcode="WR10 1XY")
    )
    assert not elsewhere.confident
    assert elsewhere.candidate  # listed for the IG lead: the name alone, nothing contradicts
    next_door = matching.compare(person, _account(address="5 LARK ROAD, CATSHILL"))
    assert not next_door.confident  # same street and postcode, another house


def test_a_nickname_agrees_and_a_day_month_swap_is_only_uncertain():
    person = matching.details(given_name="Robert", surname="Hall", date_of_birth="1970-03-07")
    record = {"given_name": "BOB", "surname": "HALL", "date_of_birth": "1970-03-07",
              "postcode": "B61 1AA"}  # fmt: skip
    assert "given_name" in matching.compare(person, record).agreed
    swapped = matching.compare(
        matching.details(given_name="Robert", surname="Hall", date_of_birth="1970-07-03",
                         postcode="B61 1AA"),
        record,
    )  # fmt: skip
    assert not swapped.confident and swapped.candidate
    assert "day and month swapped" in swapped.describe()
    assert "date_of_birth" not in swapped.conflicts


def test_a_double_barrelled_surname_agrees_with_either_half():
    person = matching.details(**ANN, **HOME, previous_surname="Barker")
    assert matching.compare(person, _account(surname="BARKER-LEE")).confident


def _property(county, uprn) -> tuple[str, str]:
    rows = pq.read_table(Path(county.data_dir) / "synthetic/geography/properties.parquet")
    row = next(r for r in rows.to_pylist() if r["uprn"] == uprn)
    return row["address_line_1"], row["postcode"]


def _undated_under_old_surname(county) -> tuple[str, str, int]:
    """(dataset, record, person id) of a council tax account or an elector held under the old
    surname (the demo county of 600 has electors so held, no accounts)."""
    paths = sorted(truth_dir(county).glob("council-tax-*.parquet"))
    for path in paths + sorted(truth_dir(county).glob("electoral-register-*.parquet")):
        table = pq.read_table(path).to_pylist()
        for row in table:
            if row["err_old_surname"] and row["person_id"] is not None:
                dataset = path.stem
                return dataset, str(row["record_id"]), row["person_id"]
    raise AssertionError("no council tax account or elector under an old surname")


def test_a_register_record_under_the_previous_surname_is_found(county, county_sessions):
    dataset, account, person_id = _undated_under_old_surname(county)
    p = true_person(county, person_id)
    address, postcode = _property(county, p["uprn"])
    person = matching.details(
        given_name=p["forename"], surname=p["surname"], date_of_birth=str(p["date_of_birth"]),
        nhs_number=p["nhs_number"] or "", address=address, postcode=postcode,
        previous_surname=p["maiden_surname"] or "",
    )  # fmt: skip
    with db.session_scope(county_sessions) as session:
        ig_lead = acting(session, IG_LEAD, "worcestershire-cc")
        searched = {plan.source for plan in finding.search_plans(session, county)}
        source = next(s for s in searched if s.endswith("/" + dataset))
        request = service.open_request(session, county, ig_lead, person)
        found = {(r.source, r.record_id): r for r in request.records}
        assert (source, account) in found
        # Exported unless another account there has the same name (then listed, as designed).
        record = found[(source, account)]
        assert record.match == Match.confident or "same name there" in record.how
        session.rollback()


def test_someone_of_the_same_name_elsewhere_gets_none_of_the_residents_records(
    county, county_sessions
):
    """A namesake: a resident's own name, but another date of birth and another address."""
    people = pq.read_table(truth_dir(county) / "people.parquet").to_pylist()
    resident = next(p for p in people if p["age"] >= 30 and p["previous_uprn"] is None)
    namesake = matching.details(
        given_name=resident["forename"], surname=resident["surname"],
        date_of_birth="1901-01-01", address="99 Nowhere Street", postcode="ZZ9 9ZZ",
    )  # fmt: skip
    with db.session_scope(county_sessions) as session:
        ig_lead = acting(session, IG_LEAD, "worcestershire-cc")
        request = service.open_request(session, county, ig_lead, namesake)
        assert not [r for r in request.records if r.match in EXPORTED]
        session.rollback()


def test_a_bare_initial_is_never_confident_by_the_rules_alone():
    person = matching.details(**ANN, **HOME)
    compared = matching.compare(person, _account(given_name="MS A"))
    assert compared.initial and "given_name" in compared.agreed
    assert not compared.confident and compared.candidate
    assert not matching.compare(person, _account(given_name="MR B")).agreed >= {"given_name"}


def test_a_spouses_account_at_the_house_is_never_made_the_persons_by_a_link():
    """The person index may attach a household's undated records to one member; subject access
    must not export a wife's council tax account to her husband because of it."""
    anthony = matching.details(
        given_name="Anthony", surname="Lee", date_of_birth="1923-04-02", **HOME
    )
    spouse = matching.compare(anthony, _account(given_name="JENNIFER"))
    assert spouse.contradicts and not spouse.confident
    assert matching.compare(anthony, _account(given_name="MRS J")).contradicts
    assert not matching.compare(anthony, _account(given_name="ANTHONY")).contradicts
    assert not matching.compare(anthony, _account(given_name="TONY")).contradicts  # nickname
    # Another given name but the same date of birth: a typo'd name, not someone else.
    assert not matching.compare(
        anthony, _account(given_name="JENNIFER", date_of_birth="1923-04-02")
    ).contradicts
    found = finding.Found(contradicted={("council-tax", "A1")})
    found.add(("council-tax", "A1"), Match.confident, "linked by the person index to D1")
    assert found.records[("council-tax", "A1")][0] == Match.uncertain

"""Where and who each dataset says come from its contract: for every shipped contract the
derived reader is the table the incidents service used to hard-code."""

from __future__ import annotations

from civicshare.datasets.contracts import Contract, example_contracts
from civicshare.incidents.service import priority, readers

# The hard-coded table the readers replaced (uprn, address, postcode, verified, names).
OLD = {
    "priority-services-register": (
        priority.psr_needs,
        None,
        "address_1",
        "postcode",
        "registered_date",
        ("title", "first_name", "surname"),
    ),
    "asc-clients": (priority.asc_needs, None, "Address", "Post Code", None, ("Client Name",)),
    "community-health": (
        priority.community_needs,
        None,
        "address_line_1",
        "postcode",
        "referral_date",
        ("patient_forename", "patient_surname"),
    ),
    "home-fire-safety-visits": (
        priority.fire_visit_needs,
        "uprn",
        "address",
        "postcode",
        "visit_date",
        ("occupier_name",),
    ),
    "over-65-register": (
        priority.over65_needs,
        None,
        None,
        "postcode",
        None,
        ("forename", "surname"),
    ),
}


def test_readers_derived_from_the_shipped_contracts_are_the_old_table():
    derived = {}
    for contract in example_contracts():
        reader = readers.reader_for(contract)
        if reader is not None:
            derived[contract.name] = reader
    assert set(derived) == set(OLD)
    for name, (needs, uprn, address, postcode, verified, names) in OLD.items():
        reader = derived[name]
        got = (reader.needs, reader.uprn, reader.address, reader.postcode, reader.verified)
        assert got == (needs, uprn, address, postcode, verified), name
        assert reader.names == names, name


def test_only_social_care_closes_records_and_the_rest_are_always_current():
    by_name = {c.name: readers.reader_for(c) for c in example_contracts()}
    asc = by_name["asc-clients"]
    assert asc.current({"Client Status": "Open"}) and asc.current({})
    assert not asc.current({"Client Status": " Closed "})
    for name in OLD.keys() - {"asc-clients"}:
        assert by_name[name].current({"Client Status": "Closed"}), name


def test_a_renamed_column_is_read_from_the_contract_not_a_table():
    contract = next(c for c in example_contracts() if c.name == "over-65-register")
    body = contract.model_dump(mode="json")
    for column in body["columns"]:
        if column["name"] == "postcode":
            column["name"] = "post_code"
    body["columns"].append({"name": "address_line", "type": "string", "identifier": "address"})
    reader = readers.reader_for(Contract.model_validate(body))
    assert (reader.postcode, reader.address) == ("post_code", "address_line")
    body["name"] = "not-a-dataset-incidents-know"
    assert readers.reader_for(Contract.model_validate(body)) is None

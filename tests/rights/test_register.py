"""The public register in plain English, on the demo county: every item of every agreement in
force by its plain name (checked against the agreements and their contracts), answered without
sign-in as pages, JSON and CSV; the documents in force public, drafts not."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from civicshare import db
from civicshare.agreements import service as agreements
from civicshare.agreements.conditions import columns_of, plain_name
from civicshare.app import create_app
from civicshare.rights import service as rights


@pytest.fixture(scope="module")
def web(county):
    with TestClient(create_app(county), raise_server_exceptions=False) as client:
        yield client  # nobody signed in


def _expected(session) -> dict[str, list[tuple[str, str, str, str]]]:
    """From the agreements themselves: per reference, (provider, dataset, column, plain name)
    for every data item."""
    out = {}
    for version in agreements.active_versions(session):
        columns = columns_of(version)
        out[version.reference] = [
            (i.provider.key, i.dataset, i.column,
             rights.PERSON_KEY_NAME if i.column == "person_key"
             else plain_name(columns, i.provider.key, i.dataset, i.column))
            for i in version.data_items
        ]  # fmt: skip
    return out


def test_every_item_of_every_agreement_in_force_is_listed_by_its_plain_name(
    county, county_sessions
):
    with db.session_scope(county_sessions) as session:
        expected = _expected(session)
        entries = {e["reference"]: e for e in rights.register(session)}
    assert set(entries) == set(expected) and len(expected) >= 5
    for reference, items in expected.items():
        listed = [
            (d["provider_key"], d["dataset"], i["column"], i["name"])
            for d in entries[reference]["datasets"]
            for i in d["items"]
        ]
        assert sorted(listed) == sorted(items), reference
    # Every item's name is its contract's description: none falls back to the column name.
    with db.session_scope(county_sessions) as session:
        for version in agreements.active_versions(session):
            columns = columns_of(version)
            undescribed = [
                (i.dataset, i.column) for i in version.data_items
                if i.column != "person_key"
                and not columns[(i.provider.key, i.dataset)][i.column].description.strip()
            ]  # fmt: skip
            assert not undescribed, version.reference
    for entry in entries.values():
        contacts = entry["contacts"]
        assert contacts and all(c["name"] and "@" in c["email"] for c in contacts)


def test_the_register_answers_without_sign_in_as_pages_json_and_csv(web, county_sessions):
    with db.session_scope(county_sessions) as session:
        expected = _expected(session)
    answer = web.get("/register.json")
    assert answer.status_code == 200
    assert {e["reference"] for e in answer.json()["agreements"]} == set(expected)
    reference, items = next((r, i) for r, i in sorted(expected.items()) if len(i) > 3)
    page = web.get(f"/register/agreements/{reference}")
    assert page.status_code == 200, page.text
    for *_, name in items:
        assert name.replace("&", "&amp;").replace("'", "&#39;") in page.text
    assert "Data protection officers" in page.text and "mailto:dpo@" in page.text
    for link in ("document", "document.pdf"):
        shown = web.get(f"/register/agreements/{reference}/{link}")
        assert shown.status_code == 200, (link, shown.text[:200])
    assert web.get(f"/register/agreements/{reference}/document.pdf").content[:4] == b"%PDF"
    assert "Data sharing charter" in web.get("/register/charter").text
    rows = list(csv.DictReader(io.StringIO(web.get("/register/items.csv").text)))
    assert len(rows) == sum(len(i) for i in expected.values())
    assert {r["How it is treated"] for r in rows} <= {
        "shared as is", "pseudonymised", "generalised", "withheld",
    }  # fmt: skip
    partner = web.get("/register/partners/hw-icb")
    assert partner.status_code == 200 and "dpo@hw-icb.example" in partner.text


def test_a_draft_or_unknown_agreement_is_not_public(web, county_sessions):
    assert web.get("/register/agreements/ISA-9999").status_code == 404
    assert web.get("/register/agreements/ISA-9999/document.pdf").status_code == 404
    assert web.get("/register/partners/no-such-partner").status_code == 404

"""Requests a fuzzer found answered with a 500: each is now a 4xx that names the field."""

from __future__ import annotations

import pytest

from tests.conftest import sign_in

ADMIN = "admin@county.example"


@pytest.fixture
def admin(client, member):
    member(ADMIN, {"worcestershire-cc": ["admin", "ig_lead"]})
    return {"x-csrf-token": sign_in(client, ADMIN)}


def fields(response) -> str:
    return " ".join(e["location"] for e in response.json().get("errors", []))


def test_an_id_beyond_the_stores_range_is_a_422_naming_it(client, admin):
    response = client.delete("/api/tokens/9999999999999999999", headers=admin)
    assert response.status_code == 422, response.text
    assert "path.token_id" in fields(response)
    assert client.delete("/api/tokens/2147483647", headers=admin).status_code == 404


def test_a_partner_cannot_be_renamed_to_null(client, admin):
    response = client.patch("/api/partners/worcestershire-cc", json={"name": None}, headers=admin)
    assert response.status_code == 422, response.text
    assert "name cannot be null" in response.json()["detail"]
    # A field that may be empty can still be cleared.
    cleared = client.patch(
        "/api/partners/worcestershire-cc", json={"ods_code": None}, headers=admin
    )
    assert cleared.status_code == 200, cleared.text


def test_an_agreement_field_that_needs_a_value_cannot_be_null(client, admin):
    response = client.post(
        "/api/agreements",
        json={"title": "Discharge planning", "purpose": None, "parties": None, "start_date": None},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    assert "parties, purpose cannot be null" in response.json()["detail"]
    made = client.post(
        "/api/agreements", json={"title": "Discharge planning", "start_date": None}, headers=admin
    )
    assert made.status_code in (200, 201), made.text

"""The datasets API and pages: who may push, streamed uploads, the report."""

from __future__ import annotations

from sqlalchemy import select

from civicshare import db
from civicshare.datasets import service
from civicshare.datasets.models import DatasetSnapshot
from tests.conftest import sign_in
from tests.datasets.conftest import GOOD_ROWS, HEADER, simple_contract

BAD = "A4,9434765918,Green,31/02/1950,WR5 1PS,1,x,1,Y,2025-01-02 10:00,"


def _setup(member):
    member("provider@acute.example", {"worcs-acute": ["data_provider"]})
    member("provider@fire.example", {"hw-fire": ["data_provider"]})
    member("analyst@acute.example", {"worcs-acute": ["analyst"]})


def test_a_provider_registers_and_pushes_by_streamed_upload(client, member):
    _setup(member)
    csrf = sign_in(client, "provider@acute.example", "worcs-acute")
    headers = {"x-csrf-token": csrf}
    response = client.post("/api/datasets", json=simple_contract(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["contract_version"] == 1

    def body():
        yield HEADER.encode()
        for row in GOOD_ROWS:
            yield (row + "\n").encode()

    response = client.put(
        "/api/datasets/worcs-acute/test-people/snapshots?filename=people.csv",
        content=body(),
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["snapshot_version"] == 1
    assert response.json()["rows_accepted"] == 3

    response = client.put(
        "/api/datasets/worcs-acute/test-people/snapshots?format=csv",
        content=(HEADER + BAD + "\n").encode(),
        headers=headers,
    )
    assert response.status_code == 422
    report = response.json()
    assert report["outcome"] == "rejected"
    assert {(p["row"], p["column"]) for p in report["problems"]} == {
        (1, "nhs"),
        (1, "dob"),
        (1, "visits"),
    }
    assert "9434765918" not in response.text
    listed = client.get("/api/datasets?partner=worcs-acute").json()
    assert [d["current_version"] for d in listed if d["name"] == "test-people"] == [1]
    staging = client.app.state.settings.data_dir / "snapshots" / ".tmp"
    assert list(staging.iterdir()) == []


def test_a_provider_of_another_partner_cannot_push_or_register(client, member):
    _setup(member)
    csrf = sign_in(client, "provider@acute.example", "worcs-acute")
    client.post("/api/datasets", json=simple_contract(), headers={"x-csrf-token": csrf})
    client.post("/sign-out", data={"csrf_token": csrf})

    fire = type(client)(client.app, raise_server_exceptions=False)
    csrf = sign_in(fire, "provider@fire.example", "hw-fire")
    response = fire.put(
        "/api/datasets/worcs-acute/test-people/snapshots?format=csv",
        content=(HEADER + GOOD_ROWS[0] + "\n").encode(),
        headers={"x-csrf-token": csrf},
    )
    assert response.status_code == 403
    assert "only a data provider or admin of that partner" in response.json()["detail"]
    response = fire.post("/api/datasets", json=simple_contract(), headers={"x-csrf-token": csrf})
    assert response.status_code == 403

    analyst = type(client)(client.app, raise_server_exceptions=False)
    csrf = sign_in(analyst, "analyst@acute.example", "worcs-acute")
    response = analyst.put(
        "/api/datasets/worcs-acute/test-people/snapshots?format=csv",
        content=(HEADER + GOOD_ROWS[0] + "\n").encode(),
        headers={"x-csrf-token": csrf},
    )
    assert response.status_code == 403
    with db.session_scope(db.make_sessionmaker(client.app.state.engine)) as session:
        assert session.scalars(select(DatasetSnapshot)).all() == []


def test_the_upload_page_shows_the_report(client, member):
    _setup(member)
    with db.session_scope(db.make_sessionmaker(client.app.state.engine)) as session:
        service.register_contract(session, simple_contract())
    csrf = sign_in(client, "provider@acute.example", "worcs-acute")
    page = client.get("/datasets/worcs-acute/test-people")
    assert page.status_code == 200 and "Send a new version" in page.text
    response = client.post(
        "/datasets/worcs-acute/test-people/upload",
        data={"csrf_token": csrf},
        files={"file": ("people.csv", (HEADER + "\n".join(GOOD_ROWS + [BAD]) + "\n").encode())},
    )
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert "fails the NHS number check digit" in response.text
    assert "9434765918" not in response.text
    response = client.post(
        "/datasets/worcs-acute/test-people/upload",
        data={"csrf_token": csrf},
        files={"file": ("people.csv", (HEADER + "\n".join(GOOD_ROWS) + "\n").encode())},
    )
    assert response.status_code == 200 and "Version 1 accepted" in response.text
    assert "Test people" in client.get("/datasets").text

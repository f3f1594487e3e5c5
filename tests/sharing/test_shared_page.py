"""The "Shared with you" page offers a download only where one would be given: an emergency
agreement's data is offered to nobody here (it flows only inside an incident, to responders,
who are pointed to incidents), and a viewer, who may receive nothing, is offered no download."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from civicshare import db, demo
from civicshare.accounts import service as accounts
from civicshare.accounts.service import actor_for
from civicshare.app import create_app
from civicshare.config import Settings
from civicshare.partners import service as partners
from civicshare.sharing.pages import receivable
from tests.conftest import demo_store, post_sign_in, sqlite_settings

VIEWER = "viewer@worcestershire-cc.example"
PEOPLE = [
    "analyst@worcestershire-cc.example",  # analyst at the county
    "crew.manager@hw-fire.example",  # responder at the fire service
    "emergency.planning@worcestershire-cc.example",  # responder at the county
    "provider@worcs-acute.example",  # data provider at the acute trust
    "admin@worcestershire-cc.example",  # admin and IG lead at the county
    VIEWER,  # viewer at the county: governance only
]
RESPONDERS = {"crew.manager@hw-fire.example", "emergency.planning@worcestershire-cc.example"}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Settings:
    settings = demo_store(sqlite_settings(tmp_path_factory.mktemp("county") / "data"))
    engine = db.make_engine(settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        person = partners.create_person(session, email=VIEWER, display_name="Vic Viewer")
        accounts.set_password(session, person, demo.DEMO_PASSWORD)
        county = partners.get_by_key(session, "worcestershire-cc")
        partners.add_membership(session, person, county, ["viewer"], job_title="Councillor")
    engine.dispose()
    return settings


@pytest.fixture(scope="module")
def client(store):
    with TestClient(create_app(store)) as client:
        yield client


def offers_for(store: Settings, email: str) -> list[dict]:
    """What the page lists for `email`'s one membership: agreement, provider, dataset, the
    purpose codes, and whether the agreement is an emergency one."""
    engine = db.make_engine(store.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        person = partners.get_person_by_email(session, email)
        (membership,) = person.memberships
        found = [
            {
                "agreement": o["agreement"],
                "provider": o["provider"].key,
                "dataset": o["dataset"],
                "purposes": [p["code"] for p in o["purposes"]],
                "emergency": o["emergency"],
            }
            for o in receivable(session, actor_for(membership, "web"))
        ]
    engine.dispose()
    return found


def section(page: str, offer: dict) -> str:
    field = f"purpose-{offer['agreement']}-{offer['provider']}-{offer['dataset']}"
    start = page.index(f'aria-labelledby="{field}-heading"')
    return page[start : page.index("</section>", start)]


@pytest.mark.parametrize("email", PEOPLE)
def test_a_download_is_offered_exactly_where_one_is_given(store, client, email):
    client.cookies.clear()
    assert post_sign_in(client, email, demo.DEMO_PASSWORD).status_code == 303
    page = client.get("/share")
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    offers = offers_for(store, email)
    if not offers:
        assert 'id="no-offers"' in page.text
    offered = 0
    for offer in offers:
        shown = section(page.text, offer)
        form = f'action="/share/{offer["provider"]}/{offer["dataset"]}"' in shown
        offered += form
        download = client.post(
            f"/share/{offer['provider']}/{offer['dataset']}",
            data={"csrf_token": csrf, "agreement": offer["agreement"],
                  "purpose": offer["purposes"][0] if offer["purposes"] else "",
                  "output_format": "csv"},
        )  # fmt: skip
        given = download.status_code == 200 and "attachment" in download.headers.get(
            "content-disposition", ""
        )
        assert form == given, (email, offer, download.status_code)
        if offer["emergency"]:
            assert not form
            assert "available only inside an incident, to responders" in shown
            assert ('href="/incidents"' in shown) == (email in RESPONDERS)
        elif not form:
            assert "refusal" in shown
    if email == VIEWER:
        assert offered == 0
        assert "you hold no role that may receive shared data" in page.text
    elif email == "analyst@worcestershire-cc.example":
        assert offered > 0  # the analyst's ordinary agreements still offer downloads


def test_every_responder_sees_the_emergency_agreement_here_and_is_sent_to_incidents(store):
    for email in RESPONDERS:
        assert any(o["emergency"] for o in offers_for(store, email)), email

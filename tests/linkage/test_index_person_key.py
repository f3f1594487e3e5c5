"""The person key as an agreement data item: a per-agreement token of the person index's key.

Two datasets shared under one agreement join on it; extracts under two agreements do not; an
agreement that does not list it does not give it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from civicshare import db, demo
from civicshare.accounts.service import actor_for
from civicshare.agreements import service as agreements
from civicshare.agreements.demo import draft_demo_agreement, take_through_lifecycle
from civicshare.config import Settings
from civicshare.linkage import service as index
from civicshare.partners import service as partners
from civicshare.sharing.delivery import Denied, share
from civicshare.sharing.service import ShareRequest
from tests.conftest import demo_store

PURPOSE = "discharge-planning"  # the hospital discharge template's first permitted purpose
ACUTE, COMMUNITY = ("worcs-acute", "acute-admissions"), ("hw-health-care", "community-health")


def _agreement(session, leads, title: str, treatment: str = "pseudonymised") -> str:
    actors = {key: actor_for(m, "cli") for key, m in leads.items()}
    start = date.today() - timedelta(days=5)
    version = draft_demo_agreement(
        session, actors["worcestershire-cc"], "hospital-discharge", title, start
    )
    items = [
        {"provider": provider, "dataset": dataset, "column": "person_key", "treatment": treatment,
         "personal": True}
        for provider, dataset in (ACUTE, COMMUNITY)
    ]  # fmt: skip
    agreements.update_draft(
        session,
        actors["worcestershire-cc"],
        version,
        {
            "parties": [
                {"partner": "worcs-acute", "role": "provider"},
                {"partner": "hw-health-care", "role": "provider"},
                {"partner": "worcestershire-cc", "role": "recipient"},
            ],
            "data_items": items,
            "article9": None,  # the person key alone is not special category data
            "schedule1": [],
            "row_scope": {"description": "Every patient of both trusts"},  # no age limit
        },
        reason="The person key only",
    )
    take_through_lifecycle(session, actors, version, "active", start)
    return version.agreement.reference


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("county") / "data"
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir.parent / 'store.db'}")
    demo_store(settings, people=600, seed=5)
    engine = db.make_engine(settings.effective_database_url)
    sessions = db.make_sessionmaker(engine)
    with db.session_scope(sessions) as session:
        index.run(session, settings)  # demo.prepare builds it already; then this does nothing
        leads = demo.ig_leads_by_partner(session)
        refs = {
            "x": _agreement(session, leads, "Discharge planning joined by person (X)"),
            "y": _agreement(session, leads, "Discharge planning joined by person (Y)"),
            "raw": _agreement(session, leads, "The person key in clear", "identifiable"),
        }
        analyst = partners.get_person_by_email(session, "analyst@worcestershire-cc.example")
        actor = actor_for(analyst.memberships[0], "session")
    yield settings, sessions, refs, actor
    engine.dispose()


def pull(store, dataset, agreement, columns=("person_key",)) -> list[str | None]:
    settings, sessions, _refs, actor = store
    request = ShareRequest(
        actor=actor,
        purpose=PURPOSE,
        provider=dataset[0],
        dataset=dataset[1],
        columns=columns,
        agreement=agreement,
    )
    with db.session_scope(sessions) as session:
        delivery = share(session, settings, request, via="api")
        return delivery.table.column("person_key").to_pylist()


def test_two_datasets_under_one_agreement_join_on_the_person_key(store):
    settings, sessions, refs, _actor = store
    acute, community = pull(store, ACUTE, refs["x"]), pull(store, COMMUNITY, refs["x"])
    with db.session_scope(sessions) as session:
        keys_acute = set(index.person_keys_of(session, "/".join(ACUTE)).values())
        keys_community = set(index.person_keys_of(session, "/".join(COMMUNITY)).values())
    assert None not in acute and None not in community  # every record has been indexed
    # The tokens join exactly where the index says the same person is in both datasets.
    expected = len(keys_acute & keys_community)
    assert expected > 0
    assert len(set(acute) & set(community)) == expected
    assert len(set(acute)) == len(keys_acute)
    # Tokens, not the index's keys: the key itself never leaves.
    assert not (set(acute) & keys_acute) and all(len(t) == 64 for t in acute)


def test_extracts_under_two_agreements_share_no_key(store):
    _settings, _sessions, refs, _actor = store
    under_x = set(pull(store, ACUTE, refs["x"])) | set(pull(store, COMMUNITY, refs["x"]))
    under_y = set(pull(store, ACUTE, refs["y"])) | set(pull(store, COMMUNITY, refs["y"]))
    assert under_x and under_y and not (under_x & under_y)


def test_an_agreement_without_the_person_key_refuses_it(store):
    settings, sessions, _refs, actor = store
    request = ShareRequest(
        actor=actor,
        purpose=PURPOSE,
        provider="worcs-acute",
        dataset="acute-admissions",
        columns=("NHS_NO", "person_key"),
        agreement="ISA-0001",
    )
    with pytest.raises(Denied) as denied, db.session_scope(sessions) as session:
        share(session, settings, request, via="api")
    assert denied.value.decision.clause == "data items"
    assert "person_key" in denied.value.decision.reason


def test_the_person_key_in_clear_is_never_delivered(store):
    _settings, _sessions, refs, _actor = store
    with pytest.raises(Denied) as denied:
        pull(store, ACUTE, refs["raw"])
    assert denied.value.decision.clause == "cannot execute"
    assert "only pseudonymised" in denied.value.decision.reason

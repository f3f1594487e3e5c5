"""The fast paths of a households view (one read of governance state for its decisions, one
query for its snapshots, the JSON body without a second encoding pass) change nothing seen."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from civicshare import db
from civicshare.datasets import service as datasets
from civicshare.incidents import api, service
from civicshare.incidents.service import drawing
from civicshare.partners import service as partners
from civicshare.partners.models import PartnerStatus
from civicshare.sharing.service import decide
from tests.incidents.test_incidents import FIRE, actor, open_circle


def test_each_decision_of_a_view_is_what_decide_alone_gives(
    store, store_sessions, centre, monkeypatch
):
    made = []

    def recording(session, request, today=None):
        decision = decide(session, request, today)
        made.append(decision)
        return decision

    monkeypatch.setattr(drawing, "decide", recording)
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 400)
        service.households(session, store, fire, incident)
        assert len(made) >= 5
        assert "sharing.governance" not in session.info
        for decision in made:
            alone = decide(session, decision.request)
            assert dataclasses.replace(alone, decided_at=None) == dataclasses.replace(
                decision, decided_at=None
            )


def test_current_snapshots_equal_current_snapshot_one_by_one(store, store_sessions):
    with db.session_scope(store_sessions) as session:
        wanted = [
            ("mercia-water", "priority-services-register"),
            ("hw-icb", "over-65-register"),
            ("hw-fire", "home-fire-safety-visits"),
            ("hw-fire", "no-such-dataset"),
            ("nowhere", "over-65-register"),
        ]
        together = datasets.current_snapshots(session, wanted, store)
        assert list(together) == wanted
        for provider, name in wanted:
            assert together[(provider, name)] == datasets.current_snapshot(
                session, provider, name, store
            )
        assert together[wanted[0]] is not None and together[wanted[-1]] is None


def test_a_provider_suspended_between_two_views_is_withheld_from_the_second(
    store, store_sessions, centre
):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 400)
        assert not service.households(session, store, fire, incident).withheld
        water = partners.get_by_key(session, "mercia-water")
        water.status = PartnerStatus.suspended
        result = service.households(session, store, fire, incident)
        assert [w.dataset for w in result.withheld] == ["priority-services-register"]
        session.rollback()  # the county is shared by the other tests


def test_the_json_body_is_what_the_encoder_gave(store, store_sessions, centre):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 400)
        result = service.households(session, store, fire, incident)
        assert result.households
        body = api.result_body(result)
        assert JSONResponse(body).body == JSONResponse(jsonable_encoder(body)).body


@contextmanager
def water_suspended(sessions):
    """Mercia Water suspended in a committed transaction of its own, then restored (the county
    is shared by the other tests)."""
    with db.session_scope(sessions) as session:
        water = partners.get_by_key(session, "mercia-water")
        was, water.status = water.status, PartnerStatus.suspended
    try:
        yield
    finally:
        with db.session_scope(sessions) as session:
            partners.get_by_key(session, "mercia-water").status = was


def _token_client(store, store_sessions, centre):
    from fastapi.testclient import TestClient

    from civicshare.accounts import service as accounts
    from civicshare.app import create_app

    with db.session_scope(store_sessions) as session:
        person = partners.get_person_by_email(session, FIRE)
        secret, _ = accounts.create_api_token(
            session, person.memberships[0], name="fast paths", scopes=["incidents:read"], days=1
        )
        incident = open_circle(session, actor(session, FIRE), centre, 400)
        reference, agreement = incident.reference, incident.agreement
    client = TestClient(create_app(store))
    client.headers["Authorization"] = f"Bearer {secret}"
    return client, f"/api/incidents/{reference}/households", agreement


def test_a_suspension_committed_elsewhere_stops_the_very_next_api_request(
    store, store_sessions, centre
):
    """What a view holds (the agreement read once for may_see and the view, the governance
    read, the executed grants) lasts one transaction: a suspension committed by someone else
    between two requests refuses the second, and resuming lets the third through."""
    from civicshare.agreements import service as agreements
    from civicshare.agreements.models import Status as AgreementStatus

    client, url, reference = _token_client(store, store_sessions, centre)
    admin = "admin@worcestershire-cc.example"
    with client:
        assert client.get(url).status_code == 200
        assert client.get(url).status_code == 200
        with db.session_scope(store_sessions) as session:
            version = agreements.active_version(session, reference)
            agreements.suspend(
                session, actor(session, admin), version, reason="Checking a complaint"
            )
        try:
            refused = client.get(url)
            assert refused.status_code == 403
            assert "not an emergency agreement in force" in refused.json()["detail"]
        finally:
            with db.session_scope(store_sessions) as session:
                version = next(
                    v
                    for v in agreements.get(session, reference).versions
                    if v.status == AgreementStatus.suspended
                )
                agreements.resume(session, actor(session, admin), version, reason="Resolved")
        assert client.get(url).status_code == 200


def test_a_provider_suspended_elsewhere_is_withheld_from_the_very_next_api_request(
    store, store_sessions, centre
):
    client, url, _ = _token_client(store, store_sessions, centre)
    with client:
        assert client.get(url).json()["withheld"] == []
        with water_suspended(store_sessions):
            withheld = client.get(url).json()["withheld"]
            assert [w["dataset"] for w in withheld] == ["priority-services-register"]
        assert client.get(url).json()["withheld"] == []


def test_may_see_and_the_view_read_no_agreement_rows_while_governance_is_unchanged(
    store, store_sessions, centre
):
    """may_see() (a party to any version of the incident's agreement) and the view's emergency
    version come from the governance state decide() reads (sharing.governance), kept between
    transactions while the "governance" change stamp stands."""
    from sqlalchemy import event

    seen = []

    def count(_conn, _cursor, statement, *_):
        if "FROM agreement" in statement:
            seen.append(statement)

    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 400)
        service.households(session, store, fire, incident)  # executes, if not yet
        session.commit()
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            session.info.pop("incidents.may_see", None)  # asked afresh, as by a new request
            assert service.may_see(session, fire, incident)
            service.households(session, store, fire, incident)
            assert seen == []
        finally:
            event.remove(engine, "before_cursor_execute", count)


def test_the_snapshot_look_up_is_cached_and_a_suspension_still_stops_the_very_next_request(
    store, store_sessions, centre
):
    """Between two requests nothing behind the "snapshots" change stamp changed, so the second
    reads no snapshot row; an agreement suspended elsewhere is still refused on the very next
    request (every request decides afresh), and resumed, the one after is served again."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from civicshare.agreements import service as agreements
    from civicshare.agreements.models import Status as AgreementStatus

    client, url, reference = _token_client(store, store_sessions, centre)
    admin = "admin@worcestershire-cc.example"
    read = []

    def count(_conn, _cursor, statement, *_):
        if "FROM dataset_snapshots" in statement or "FROM partners JOIN datasets" in statement:
            read.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        with client:
            first = client.get(url)
            assert first.status_code == 200
            read.clear()
            again = client.get(url)
            assert again.status_code == 200 and again.json() | {"generated_at": None} == (
                first.json() | {"generated_at": None}
            )
            assert read == []  # the snapshots came from the cache
            with db.session_scope(store_sessions) as session:
                version = agreements.active_version(session, reference)
                agreements.suspend(session, actor(session, admin), version, reason="Complaint")
            try:
                refused = client.get(url)
                assert refused.status_code == 403
            finally:
                with db.session_scope(store_sessions) as session:
                    version = next(
                        v
                        for v in agreements.get(session, reference).versions
                        if v.status == AgreementStatus.suspended
                    )
                    agreements.resume(session, actor(session, admin), version, reason="Done")
            assert client.get(url).status_code == 200
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def test_the_governance_state_is_kept_between_requests_until_a_change_elsewhere(
    store, store_sessions, centre, monkeypatch
):
    """The second request reads no governance state (partners, agreements, objections: kept
    against the "governance" change stamp); a provider suspended by someone else is read
    afresh and withheld from the very next request."""
    from civicshare.sharing import governance

    read = []
    read_state = governance.read_state
    monkeypatch.setattr(governance, "read_state", lambda s: read.append(1) or read_state(s))
    client, url, _ = _token_client(store, store_sessions, centre)
    with client:
        first = client.get(url).json()
        read.clear()
        again = client.get(url).json()
        assert read == []  # kept
        assert again | {"generated_at": None} == first | {"generated_at": None}
        with water_suspended(store_sessions):
            withheld = client.get(url).json()["withheld"]
            assert [w["dataset"] for w in withheld] == ["priority-services-register"]
            assert read == [1]  # read afresh after the change
        assert client.get(url).json()["withheld"] == []

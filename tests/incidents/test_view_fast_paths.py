"""The fast paths of a households view (one read of governance state for its decisions, one
query for its snapshots, the JSON body without a second encoding pass) change nothing seen."""

from __future__ import annotations

import dataclasses

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from civicshare import db
from civicshare.datasets import service as datasets
from civicshare.incidents import api, service
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

    monkeypatch.setattr(service, "decide", recording)
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

"""Incidents on the demo county: households through decide -> execute under the emergency
agreement, exactly those in the area (rim and edges included), each view decided, audited and
logged; break-glass, its review, and closing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from civicshare import db
from civicshare.accounts.service import actor_for
from civicshare.agreements import service as agreements
from civicshare.app import create_app
from civicshare.audit.models import AuditRecord
from civicshare.dataplane import query as compiler
from civicshare.incidents import service
from civicshare.incidents.geometry import Area
from civicshare.incidents.models import BreakGlass, BreakGlassReview, IncidentEvent, ReviewStatus
from civicshare.incidents.service import drawing
from civicshare.partners import service as partners

FIRE = "crew.manager@hw-fire.example"
POLICE = "duty.inspector@west-mercia-police.example"
ANALYST = "analyst@worcestershire-cc.example"
WATER_IG = "ig.lead@mercia-water.example"
ACUTE_IG = "ig.lead@worcs-acute.example"
AGREEMENT_TITLE = "Vulnerable households at an incident"


def actor(session, email, partner_key=None):
    person = partners.get_person_by_email(session, email)
    membership = next(
        m for m in person.memberships if partner_key is None or m.partner.key == partner_key
    )
    return actor_for(membership, "cli")


def agreement_ref(session) -> str:
    from civicshare.agreements.models import AgreementVersion

    version = session.scalars(
        select(AgreementVersion).where(AgreementVersion.title == AGREEMENT_TITLE)
    ).first()
    return version.agreement.reference


def busiest_point(store) -> tuple[float, float]:
    """The property with the most vulnerable records within 500 m: a busy place to test."""
    gaz = service.gazetteer(store)
    with db.session_scope(db.make_sessionmaker(db.make_engine(store.effective_database_url))) as s:
        a = actor(s, FIRE)
        incident = service.open_incident(
            s,
            a,
            title="Probe",
            kind="other",
            area=Area.circle(*gaz_centre(gaz), 20_000),
            agreement=agreement_ref(s),
        )
        layer = service.draw_layer(s, store, a, incident)
        s.rollback()
    best = max(
        range(len(layer.x)),
        key=lambda i: int(
            ((layer.x - layer.x[i]) ** 2 + (layer.y - layer.y[i]) ** 2 <= 500**2).sum()
        ),
    )
    return float(layer.x[best]), float(layer.y[best])


def gaz_centre(gaz):
    return float(gaz.index.x.mean()), float(gaz.index.y.mean())


def open_circle(session, who, centre, radius, agreement=None, title="House fire"):
    return service.open_incident(
        session,
        who,
        title=title,
        kind="fire",
        area=Area.circle(*centre, radius),
        agreement=agreement or agreement_ref(session),
    )


def keys_by_brute_force(layer, area: Area) -> set[str]:
    """Every record placed by the layer, tested one by one in exact rational arithmetic."""
    keys = set()
    for i in range(len(layer.x)):
        x, y = Fraction(float(layer.x[i])), Fraction(float(layer.y[i]))
        if area.kind == "circle":
            dx, dy = x - Fraction(area.origin[0]), y - Fraction(area.origin[1])
            inside = dx * dx + dy * dy <= Fraction(area.radius_m) ** 2
        else:
            import shapely

            inside = bool(shapely.intersects_xy(area.shape, float(x), float(y)))
        if inside:
            keys.add(service.household_key(layer, i))
    return keys


def test_households_are_exactly_those_a_brute_force_check_finds(store, store_sessions, centre):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 600)
        result = service.households(session, store, fire, incident)
        layer = service.draw_layer(session, store, fire, incident)
        assert len(result.households) >= 3
        assert {h["key"] for h in result.households} == keys_by_brute_force(layer, result.area)
        order = [(h["priority"], h["distance_m"]) for h in result.households]
        assert order == sorted(order)
        for h in result.households:
            assert h["priority"] == min(service.RANK[n] for n in h["needs"])
            assert h["precision"] in ("uprn", "postcode") and h["sources"]
            assert all(s["last_verified"] for s in h["sources"])
        counted = {
            k: sum(k in h["needs"] for h in result.households) for k, _ in service.CATEGORIES
        }
        assert result.counts == counted
        # The priority-1 need is drawn from partners' data: oxygen or powered equipment.
        assert {s["dataset"] for h in result.households for s in h["sources"]} >= {
            "priority-services-register"
        }


def test_a_household_exactly_on_the_radius_is_in_and_one_metre_changes_it(
    store, store_sessions, centre
):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 300)
        houses = service.households(session, store, fire, incident).households
        target = next(h for h in houses if h["precision"] == "uprn" and h["distance_m"] > 20)
        gaz = service.gazetteer(store)
        at = gaz.find_uprn(target["uprn"])
        bx, by = float(gaz.index.x[at]), float(gaz.index.y[at])
        cx, cy = centre
        # A centre due east of the household: its distance is exactly representable.
        cx = bx + 150.0
        radius = cx - bx
        for r, expected in ((radius, True), (radius + 1, True), (radius - 1, False)):
            service.update_area(session, fire, incident, Area.circle(cx, by, r), f"radius {r}")
            keys = {h["key"] for h in service.households(session, store, fire, incident).households}
            assert (target["key"] in keys) is expected, r


def test_a_household_on_a_polygon_edge_is_in_and_a_metre_beyond_is_out(
    store, store_sessions, centre
):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 300)
        houses = service.households(session, store, fire, incident).households
        target = next(h for h in houses if h["precision"] == "uprn")
        gaz = service.gazetteer(store)
        at = gaz.find_uprn(target["uprn"])
        bx, by = float(gaz.index.x[at]), float(gaz.index.y[at])
        for shift, expected in ((0.0, True), (1.0, False), (-1.0, True)):
            left = bx + shift
            ring = [
                (left, by - 200),
                (left + 400, by - 200),
                (left + 400, by + 200),
                (left, by + 200),
                (left, by - 200),
            ]
            service.update_area(session, fire, incident, Area.from_polygons([[ring]]), "cordon")
            result = service.households(session, store, fire, incident)
            keys = {h["key"] for h in result.households}
            assert (target["key"] in keys) is expected, shift
            layer = service.draw_layer(session, store, fire, incident)
            assert keys == keys_by_brute_force(layer, result.area)


def test_every_view_is_decided_logged_and_audited_and_execution_is_reused(
    store, store_sessions, centre, monkeypatch
):
    calls = {"decide": 0, "run": 0}
    real_decide, real_run = drawing.decide, compiler.run

    def decide(*args, **kwargs):
        calls["decide"] += 1
        return real_decide(*args, **kwargs)

    def run(*args, **kwargs):
        calls["run"] += 1
        return real_run(*args, **kwargs)

    monkeypatch.setattr(drawing, "decide", decide)
    monkeypatch.setattr(compiler, "run", run)
    cache = service.DrawCache()  # what the app holds on app.state
    with db.session_scope(store_sessions) as session:
        police = actor(session, POLICE)
        incident = open_circle(session, police, centre, 400)
        audits = session.scalar(select(func.count(AuditRecord.id)))
        first = service.households(session, store, police, incident, cache=cache)
        datasets = len(
            {
                (s.provider_key, s.dataset)
                for s in service.draw_layer(session, store, police, incident, cache).sources
            }
        )
        executed = calls["run"]
        assert datasets == 5 and executed >= 5  # one each (and a retry where a key fails)
        decided = calls["decide"]
        second = service.households(session, store, police, incident, cache=cache)
        assert calls["run"] == executed  # the same grants of the same snapshots: not again
        assert calls["decide"] > decided  # but decided again
        assert second.households == first.households
        viewed = session.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "incident_households_viewed",
                AuditRecord.entity_id == incident.reference,
            )
        ).all()
        assert len(viewed) == 2
        assert viewed[-1].row_count == len(first.households)
        assert viewed[-1].output_sha256 == first.output_sha256
        assert session.scalar(select(func.count(AuditRecord.id))) > audits
        events = [e.action for e in service.events(session, incident)]
        assert events == ["opened", "viewed", "viewed"]


def test_a_new_snapshot_misses_the_cache_and_the_cache_is_bounded(
    store, store_sessions, centre, monkeypatch
):
    import dataclasses

    from civicshare.datasets import service as datasets

    runs = []
    real_run = compiler.run
    monkeypatch.setattr(compiler, "run", lambda *a, **k: runs.append(1) or real_run(*a, **k))
    cache = service.DrawCache()
    with db.session_scope(store_sessions) as session:
        police = actor(session, POLICE)
        incident = open_circle(session, police, centre, 400)
        first = service.households(session, store, police, incident, cache=cache)
        executed = len(runs)
        assert executed >= 5 and cache.sizes()["executed"] == 5
        real_current = datasets.current_snapshots

        def pushed_again(*args, **kwargs):  # the same rows as a new file: a new snapshot
            found = real_current(*args, **kwargs)
            return {k: s and dataclasses.replace(s, file_sha256="0" * 64) for k, s in found.items()}

        monkeypatch.setattr(datasets, "current_snapshots", pushed_again)
        second = service.households(session, store, police, incident, cache=cache)
        assert len(runs) >= executed + 5  # executed again, not answered from memory
        assert second.households == first.households
        assert cache.sizes()["executed"] == 10
        session.rollback()
    small = service.DrawCache(max_executed=2, max_layers=1)
    for i in range(4):
        small.keep_executed(("grant", i), None)
        small.keep_layer(("layer", i), None)
    assert small.sizes() == {"executed": 2, "layers": 1, "without_key": 0}
    assert list(small._executed) == [("grant", 2), ("grant", 3)]  # the oldest fell out


def test_the_app_holds_one_cache_and_each_app_its_own(store):
    one, two = create_app(store), create_app(store)
    assert service.draw_cache(one) is service.draw_cache(one)
    assert one.state.incident_draws is service.draw_cache(one)
    assert service.draw_cache(two) is not service.draw_cache(one)


def test_a_suspended_agreement_stops_the_flow_at_once(store, store_sessions, centre):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 400)
        assert service.households(session, store, fire, incident).households
        version = agreements.active_version(session, incident.agreement)
        ig = actor(session, "admin@worcestershire-cc.example")
        agreements.suspend(session, ig, version, reason="Checking a complaint about the data")
        with pytest.raises(service.IncidentError) as refused:
            service.households(session, store, fire, incident)
        assert refused.value.status == 403
        agreements.resume(session, ig, version, reason="Complaint resolved")
        assert service.households(session, store, fire, incident).households


def test_a_suspended_provider_is_withheld_with_the_reason(store, store_sessions, centre):
    from civicshare.partners.models import PartnerStatus

    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 400)
        water = partners.get_by_key(session, "mercia-water")
        water.status = PartnerStatus.suspended
        session.flush()
        result = service.households(session, store, fire, incident)
        assert [w.dataset for w in result.withheld] == ["priority-services-register"]
        assert "suspended" in result.withheld[0].reason
        assert all(
            s["dataset"] != "priority-services-register"
            for h in result.households
            for s in h["sources"]
        )
        session.rollback()


def test_only_responders_of_a_recipient_open_incidents_and_see_households(
    store, store_sessions, centre
):
    with db.session_scope(store_sessions) as session:
        analyst = actor(session, ANALYST)
        with pytest.raises(service.IncidentError, match="not a responder"):
            open_circle(session, analyst, centre, 100)
        # A responder at a partner that is no recipient of any emergency agreement.
        person = partners.create_person(
            session, email="porter@worcs-acute.example", display_name="Pat"
        )
        partners.add_membership(
            session, person, partners.get_by_key(session, "worcs-acute"), ["responder"]
        )
        session.flush()
        outsider = actor(session, "porter@worcs-acute.example")
        with pytest.raises(service.IncidentError, match="No active emergency agreement") as refused:
            open_circle(session, outsider, centre, 100)
        assert refused.value.status == 403
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 100)
        with pytest.raises(service.IncidentError) as refused:
            service.get_for(session, outsider, incident.reference)
        assert refused.value.status == 403
        assert refused.value.message == (
            f"Worcestershire Acute Hospitals NHS Trust is not party to {incident.agreement}, "
            f"the agreement {incident.reference} acts under."
        )
        # The county is a party: the county's analyst is refused for the role they lack.
        with pytest.raises(service.IncidentError) as lacks_role:
            service.get_for(session, analyst, incident.reference)
        assert lacks_role.value.status == 403
        assert lacks_role.value.message == (
            f"Acting for Worcestershire County Council, a party to {incident.agreement}, you are "
            f"neither a responder nor an IG lead: only they see {incident.reference}."
        )
        ig = actor(session, WATER_IG)
        assert service.get_for(session, ig, incident.reference) is incident  # sees it and its log
        with pytest.raises(service.IncidentError, match="not a responder"):
            service.households(session, store, ig, incident)
        session.rollback()


def test_break_glass_names_people_is_logged_and_queued_for_the_providers_ig_leads(
    store, store_sessions, centre
):
    with db.session_scope(store_sessions) as session:
        police = actor(session, POLICE)
        incident = open_circle(session, police, centre, 600, title="Gas leak")
        houses = service.households(session, store, police, incident).households
        house = next(
            h for h in houses if any(s["partner_key"] == "mercia-water" for s in h["sources"])
        )
        with pytest.raises(service.IncidentError, match="break-glass") as refused:
            service.people_at(session, store, police, incident, house["key"])
        assert refused.value.status == 403
        with pytest.raises(service.IncidentError) as short:
            service.break_glass(session, police, incident, "need it")
        assert short.value.field == "reason"
        grant = service.break_glass(
            session, police, incident, "Officers evacuating the street need to know who is inside"
        )
        assert grant.expires_at - grant.opened_at == timedelta(hours=12)
        found = service.people_at(session, store, police, incident, house["key"])
        water = [p for p in found["people"] if p["dataset"] == "priority-services-register"]
        assert water and all(p["name"] != "(name not shared)" for p in water)
        # Exactly what the agreement grants: no date of birth from the water company.
        assert set(water[0]["details"]) <= {
            "title",
            "first_name",
            "surname",
            "address_1",
            "postcode",
            "needs_codes",
            "contact_phone",
            "registered_date",
        }
        assert "date_of_birth" not in water[0]["details"]
        with pytest.raises(service.IncidentError):
            service.people_at(session, store, police, incident, "100000000000")  # not in the area
        session.flush()

        water_ig = actor(session, WATER_IG)
        queue = service.review_queue(session, water_ig, pending_only=True)
        mine = [r for r in queue if r.break_glass_id == grant.id]
        assert len(mine) == 1 and mine[0].records_seen == len(water)
        assert mine[0].datasets == ["priority-services-register"]
        assert not [
            r
            for r in service.review_queue(session, actor(session, ACUTE_IG))
            if r.break_glass_id == grant.id
        ]
        with pytest.raises(service.IncidentError) as missing:
            service.review(session, water_ig, mine[0].id, "inappropriate", "")
        assert missing.value.field == "comment"
        with pytest.raises(service.IncidentError):
            service.review(session, actor(session, ACUTE_IG), mine[0].id, "appropriate", "")
        done = service.review(session, water_ig, mine[0].id, "appropriate", "Proportionate")
        assert (
            done.status == ReviewStatus.appropriate
            and done.reviewed_by_id == water_ig.membership_id
        )
        actions = [e.action for e in service.events(session, incident)]
        assert actions == ["opened", "viewed", "break_glass", "named_detail", "reviewed"]
        audited = session.scalars(
            select(AuditRecord.action).where(AuditRecord.entity_id == incident.reference)
        ).all()
        assert "incident_break_glass" in audited and "incident_named_detail_viewed" in audited

        # Expired: refused again.
        session.get(BreakGlass, grant.id).expires_at = datetime.now(UTC) - timedelta(minutes=1)
        session.flush()
        with pytest.raises(service.IncidentError, match="break-glass"):
            service.people_at(session, store, police, incident, house["key"])


def test_closing_ends_break_glass_and_stops_sharing(store, store_sessions, centre):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 200)
        grant = service.break_glass(session, fire, incident, "Crews entering the flats need names")
        with pytest.raises(service.IncidentError) as short:
            service.close_incident(session, fire, incident, "done")
        assert short.value.field == "note"
        service.close_incident(session, fire, incident, "Fire out; stood down at 04:10")
        assert grant.ended_at is not None
        with pytest.raises(service.IncidentError, match="closed") as refused:
            service.households(session, store, fire, incident)
        assert refused.value.status == 409
        assert service.active_break_glass(session, fire, incident) is None
        assert (
            session.scalar(
                select(func.count(IncidentEvent.id)).where(
                    IncidentEvent.incident_id == incident.id, IncidentEvent.action == "closed"
                )
            )
            == 1
        )


def test_api_opens_lists_exports_and_refuses_bad_geojson_naming_the_field(
    store, store_sessions, centre
):
    from civicshare.accounts import service as accounts

    with db.session_scope(store_sessions) as session:
        person = partners.get_person_by_email(session, FIRE)
        secret, _ = accounts.create_api_token(
            session,
            person.memberships[0],
            name="t",
            scopes=["incidents:read", "incidents:write", "incidents:break-glass"],
            days=1,
        )
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(store)) as client:
        bad = client.post(
            "/api/incidents",
            headers=headers,
            json={
                "title": "Flood",
                "kind": "flood",
                "geojson": {
                    "type": "Polygon",
                    "coordinates": [[[-2.2, 52.1], [-2.1, 52.1], [-2.2, 52.1]]],
                },
            },
        )
        assert bad.status_code == 422
        assert bad.headers["X-Civicshare-Field"] == "geojson.coordinates[0]"
        assert "at least 4 positions" in bad.json()["detail"]
        with db.session_scope(store_sessions) as session:
            reference = agreement_ref(session)
        opened = client.post(
            "/api/incidents",
            headers=headers,
            json={
                "title": "Flats fire",
                "kind": "fire",
                "easting": centre[0],
                "northing": centre[1],
                "radius_m": 500,
                "agreement": reference,
            },
        )
        assert opened.status_code == 201, opened.text
        incident = opened.json()["reference"]
        body = client.get(f"/api/incidents/{incident}/households", headers=headers).json()
        assert body["households"] and body["agreement"] == reference
        csv_text = client.get(
            f"/api/incidents/{incident}/households?format=csv", headers=headers
        ).text
        lines = csv_text.strip().splitlines()
        assert lines[0].startswith("priority,priority_label,distance_m,address")
        assert len(lines) == 1 + len(body["households"])
        geo = client.get(f"/api/incidents/{incident}/households?format=geojson", headers=headers)
        features = json.loads(geo.text)["features"]
        assert geo.headers["content-type"].startswith("application/geo+json")
        assert features[0]["properties"]["kind"] == "circle"
        assert len(features) == 1 + len(body["households"])
        assert "names" not in geo.text and "first_name" not in geo.text
        assert (
            client.post(
                f"/api/incidents/{incident}/break-glass", headers=headers, json={"reason": "short"}
            ).status_code
            == 400
        )
        log = client.get(f"/api/incidents/{incident}/log", headers=headers).json()
        assert [e["action"] for e in log] == ["opened", "viewed", "viewed", "viewed"]


def test_records_of_one_person_join_by_the_person_key_and_postcode_only_ones_move_to_the_property(
    store, store_sessions, centre
):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 20_000)
        layer = service.draw_layer(session, store, fire, incident)
        tokens = [
            layer.sources[int(layer.source_of[i])].person[int(layer.row_of[i])]
            for i in range(len(layer.x))
        ]
        assert sum(t is not None for t in tokens) > len(tokens) // 2  # the key is granted
        moved = [i for i in range(len(layer.x)) if layer.placed_by[i] == "person key"]
        assert moved, "some postcode-only records should join a property through the person key"
        for i in moved:
            source = layer.sources[int(layer.source_of[i])]
            assert source.precision[int(layer.row_of[i])] == "postcode"  # as the data placed it
            same = [
                j
                for j in range(len(layer.x))
                if tokens[j] == tokens[i] and j != i and layer.placed_by[j] in ("uprn", "address")
            ]
            assert same and layer.uprn[i] == layer.uprn[same[0]]
            assert (layer.x[i], layer.y[i]) == (layer.x[same[0]], layer.y[same[0]])
        session.rollback()


def test_without_a_person_index_the_households_still_come(store, store_sessions, centre):
    from civicshare.dataplane.query import PERSON_INDEX

    mapping = store.data_dir / PERSON_INDEX
    aside = mapping.with_suffix(".aside")
    mapping.rename(aside)
    try:
        with db.session_scope(store_sessions) as session:
            fire = actor(session, FIRE)
            incident = open_circle(session, fire, centre, 600)
            result = service.households(session, store, fire, incident)
            assert result.withheld == [] and result.households
            layer = service.draw_layer(session, store, fire, incident)
            assert all(p is None for s in layer.sources for p in s.person)
            session.rollback()
    finally:
        aside.rename(mapping)


def test_emergency_data_flows_only_inside_an_incident_and_only_to_responders(store, store_sessions):
    from civicshare.sharing.service import ShareRequest, decide

    with db.session_scope(store_sessions) as session:
        reference = agreement_ref(session)
        planner = actor(session, "emergency.planning@worcestershire-cc.example")
        analyst = actor(session, ANALYST)

        def ask(who, incident=None):
            return decide(
                session,
                ShareRequest(
                    actor=who,
                    purpose="incident-response",
                    note="Find who needs help at the fire",
                    provider="hw-fire",
                    dataset="home-fire-safety-visits",
                    agreement=reference,
                    incident=incident,
                ),
            )

        # Outside an incident the emergency agreement does not apply, even for a responder.
        for who in (planner, analyst):
            refused = ask(who)
            assert not refused.allowed and refused.clause == "no active agreement"
        # Inside one it applies, to responders only.
        assert ask(planner, incident="INC-0001").allowed
        refused = ask(analyst, incident="INC-0001")
        assert not refused.allowed and refused.clause == "no active agreement"


def test_a_partner_sees_its_own_records_by_name_without_break_glass_and_others_only_with_it(
    store, store_sessions, centre
):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        incident = open_circle(session, fire, centre, 20_000, title="Wildfire")
        houses = service.households(session, store, fire, incident).households

        def partners_at(house):
            return {s["partner_key"] for s in house["sources"]}

        mixed = next(h for h in houses if "hw-fire" in partners_at(h) and len(partners_at(h)) > 1)
        found = service.people_at(session, store, fire, incident, mixed["key"])
        assert found["break_glass"] is None
        assert found["people"] and all(p["own"] for p in found["people"])
        assert {p["dataset"] for p in found["people"]} == {"home-fire-safety-visits"}
        assert found["needs_break_glass"] > 0
        others_only = next(h for h in houses if "hw-fire" not in partners_at(h))
        with pytest.raises(service.IncidentError, match="break-glass"):
            service.people_at(session, store, fire, incident, others_only["key"])
        session.flush()
        assert (
            session.scalar(
                select(func.count(BreakGlassReview.id))
                .join(BreakGlass)
                .where(BreakGlass.incident_id == incident.id)
            )
            == 0
        )

        grant = service.break_glass(session, fire, incident, "Evacuating the whole village now")
        found = service.people_at(session, store, fire, incident, mixed["key"])
        assert found["needs_break_glass"] == 0
        assert {p["own"] for p in found["people"]} == {True, False}
        session.flush()
        reviewed = {
            r.partner.key
            for r in session.scalars(
                select(BreakGlassReview).where(BreakGlassReview.break_glass_id == grant.id)
            )
        }
        assert reviewed == partners_at(mixed) - {"hw-fire"}
        session.rollback()


# -- an area far outside the partnership's: refused unless confirmed, with the reason ---------

CENTRAL_LONDON = (530_000.0, 180_000.0)


def test_an_incident_in_central_london_is_refused_unless_confirmed(store, store_sessions, centre):
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        with pytest.raises(service.IncidentError) as refused:
            service.open_incident(
                session, fire, title="Fire, Trafalgar Square", kind="fire",
                area=Area.circle(*CENTRAL_LONDON, 500), agreement=agreement_ref(session),
                settings=store,
            )  # fmt: skip
        assert refused.value.field == "confirm_outside_area" and refused.value.status == 422
        assert "km from the nearest property or district" in str(refused.value)
        assert service.distance_outside(store, Area.circle(*CENTRAL_LONDON, 500)) > 100_000

        incident = service.open_incident(
            session, fire, title="Fire, Trafalgar Square", kind="fire",
            area=Area.circle(*CENTRAL_LONDON, 500), agreement=agreement_ref(session),
            settings=store, confirm_outside_area=True,
        )  # fmt: skip
        opened = service.events(session, incident)[0]
        assert "confirmed outside the partnership's area" in opened.summary
        assert opened.details["outside_area"]["confirmed"] is True
        record = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.action == "incident_opened")
            .order_by(AuditRecord.seq.desc())
        ).first()
        assert record.entity_id == incident.reference
        assert record.details["outside_area"]["distance_m"] > 100_000

        # Inside the county: opened as before, nothing recorded about the area.
        inside = open_circle(session, fire, centre, 500)
        assert "outside_area" not in service.events(session, inside)[0].details
        session.rollback()


def test_the_api_and_the_command_line_refuse_central_london_naming_the_flag(
    store, store_sessions, operator_store_env
):
    from typer.testing import CliRunner

    from civicshare.accounts import service as accounts
    from civicshare.cli import app as cli_app

    with db.session_scope(store_sessions) as session:
        person = partners.get_person_by_email(session, FIRE)
        secret, _ = accounts.create_api_token(
            session, person.memberships[0], name="t", scopes=["incidents:write"], days=1
        )
        reference = agreement_ref(session)
    body = {"title": "Fire, Trafalgar Square", "kind": "fire", "easting": CENTRAL_LONDON[0],
            "northing": CENTRAL_LONDON[1], "radius_m": 500, "agreement": reference}  # fmt: skip
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(store)) as client:
        refused = client.post("/api/incidents", headers=headers, json=body)
        assert refused.status_code == 422
        assert refused.headers["X-Civicshare-Field"] == "confirm_outside_area"
        assert "outside the partnership's area" in refused.json()["detail"]
        confirmed = client.post(
            "/api/incidents", headers=headers, json={**body, "confirm_outside_area": True}
        )
        assert confirmed.status_code == 201, confirmed.text

    args = ["incidents", "open", "--title", "Fire, Trafalgar Square", "--kind", "fire",
            "--easting", "530000", "--northing", "180000", "--radius", "500",
            "--agreement", reference, "--token", secret]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 2, result.output
    assert "--confirm-outside-area" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli_app, [*args, "--confirm-outside-area"])
    assert result.exit_code == 0, result.output
    assert "Opened INC-" in result.output


def test_titles_notes_and_break_glass_reasons_holding_an_identifier_are_refused(
    store, store_sessions, centre
):
    # They go into the audit log, and a title into the purpose of every share the incident makes.
    nhs_number = "943 476 5919"  # a valid check digit
    with db.session_scope(store_sessions) as session:
        fire = actor(session, FIRE)
        with pytest.raises(service.IncidentError, match="NHS number") as title:
            open_circle(session, fire, centre, 200, title=f"Fall, {nhs_number}")
        assert (title.value.status, title.value.field) == (422, "title")
        incident = open_circle(session, fire, centre, 200)
        seq = session.scalar(select(func.max(AuditRecord.seq)))
        with pytest.raises(service.IncidentError, match="must not contain identifiers") as why:
            service.break_glass(session, fire, incident, f"Mr Jones {nhs_number} lives here")
        assert (why.value.status, why.value.field) == (422, "reason")
        assert nhs_number not in str(why.value)
        with pytest.raises(service.IncidentError, match="postcode") as note:
            service.close_incident(session, fire, incident, "Stood down at WR1 2AB, 04:10")
        assert (note.value.status, note.value.field) == (422, "note")
        assert session.scalar(select(func.max(AuditRecord.seq))) == seq  # nothing recorded
        session.rollback()

"""The whole incident flow on SQLite and on PostgreSQL: open, see households, break glass,
see named detail, review, close; the store keeps the log and the reviews."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from civicshare import db
from civicshare.incidents import service
from civicshare.incidents.geometry import Area
from civicshare.incidents.models import BreakGlassReview, IncidentEvent, ReviewStatus
from civicshare.partners import service as partners
from tests.conftest import demo_store
from tests.incidents.test_incidents import FIRE, WATER_IG, actor, agreement_ref


def test_open_view_break_glass_review_close(settings, sessions):
    demo_store(settings, people=800, seed=9)
    with db.session_scope(sessions) as session:
        fire = actor(session, FIRE)
        gaz = service.gazetteer(settings)
        # Centre on a property where the water company knows of a need.
        ref = agreement_ref(session)
        probe = service.open_incident(
            session,
            fire,
            title="Probe",
            kind="other",
            area=Area.circle(gaz.index.x.mean(), gaz.index.y.mean(), 20_000),
            agreement=ref,
        )
        houses = service.households(session, settings, fire, probe).households
        target = next(
            h for h in houses if any(s["partner_key"] == "mercia-water" for s in h["sources"])
        )
        service.close_incident(session, fire, probe, "Probe finished, closing it")
        incident = service.open_incident(
            session,
            fire,
            title="Chimney fire",
            kind="fire",
            area=Area.circle(target["easting"], target["northing"], 50),
            agreement=ref,
        )
        reference = incident.reference
        found = service.households(session, settings, fire, incident)
        assert target["key"] in {h["key"] for h in found.households}
        service.break_glass(session, fire, incident, "Crew entering the property needs names")
        people = service.people_at(session, settings, fire, incident, target["key"])["people"]
        assert people
    with db.session_scope(sessions) as session:
        water_ig = actor(session, WATER_IG)
        pending = service.review_queue(session, water_ig, pending_only=True)
        assert [r.break_glass.incident.reference for r in pending] == [reference]
        service.review(session, water_ig, pending[0].id, "appropriate", "")
    with db.session_scope(sessions) as session:
        incident = service.get_incident(session, reference)
        service.close_incident(session, actor(session, FIRE), incident, "Stood down at 04:10")
    with db.session_scope(sessions) as session:
        incident = service.get_incident(session, reference)
        actions = session.scalars(
            select(IncidentEvent.action)
            .where(IncidentEvent.incident_id == incident.id)
            .order_by(IncidentEvent.id)
        ).all()
        assert actions == ["opened", "viewed", "break_glass", "named_detail", "reviewed", "closed"]
        reviews = {r.partner.key: r for r in session.scalars(select(BreakGlassReview))}
        assert reviews["mercia-water"].status == ReviewStatus.appropriate
        assert reviews["mercia-water"].records_seen >= 1
        assert all(
            r.status == ReviewStatus.pending for k, r in reviews.items() if k != "mercia-water"
        )
    # The governance state decide() reads is kept between views (sharing.governance); a
    # partner suspended on another connection, as another worker process would, is still
    # withheld from the very next view.
    with db.session_scope(sessions) as session:
        fire = actor(session, FIRE)
        again = service.open_incident(
            session,
            fire,
            title="Second call",
            kind="fire",
            area=Area.circle(target["easting"], target["northing"], 50),
            agreement=ref,
        )
        assert not service.households(session, settings, fire, again).withheld
    elsewhere = db.make_engine(settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(elsewhere)) as session:
            water = partners.get_by_key(session, "mercia-water")
            partners.set_status(session, water, "suspended", date.today())
    finally:
        elsewhere.dispose()
    with db.session_scope(sessions) as session:
        incident = service.get_incident(session, again.reference)
        found = service.households(session, settings, actor(session, FIRE), incident)
        assert [w.dataset for w in found.withheld] == ["priority-services-register"]

"""The demo partnership's agreements: several states, idempotent, valid under the rules."""

from __future__ import annotations

from sqlalchemy import select

from civicshare import db
from civicshare.agreements import service
from civicshare.agreements.demo import seed_demo_agreements
from civicshare.agreements.models import Agreement, Status
from civicshare.partners import service as partners
from civicshare.partners.models import Role
from civicshare.synthetic.partnership import PARTNERS


def ig_leads(session) -> dict:
    partners.upsert(
        session,
        [
            {k: v for k, v in p.items() if k in ("key", "name", "type", "ods_code", "district")}
            | {"status": "endorsed"}
            for p in PARTNERS
        ],
    )
    leads = {}
    for p in PARTNERS:
        person = partners.create_person(
            session, email=f"ig.lead@{p['key']}.example", display_name=f"IG lead of {p['key']}"
        )
        leads[p["key"]] = partners.add_membership(
            session, person, partners.get_by_key(session, p["key"]), [Role.ig_lead]
        )
    return leads


def test_the_demo_has_agreements_in_every_state_and_is_idempotent(sessions):
    with db.session_scope(sessions) as session:
        leads = ig_leads(session)
        assert seed_demo_agreements(session, leads) == 7
    with db.session_scope(sessions) as session:
        assert seed_demo_agreements(session, leads) == 0
        agreements = session.scalars(select(Agreement).order_by(Agreement.reference)).all()
        states = {a.reference: [v.status for v in a.versions] for a in agreements}
        assert sorted(states.values()) == sorted(
            [
                [Status.active, Status.draft],
                [Status.active],
                [Status.submitted],
                [Status.draft],
                [Status.suspended],
                [Status.expired],
                [Status.revoked],
            ]
        )
        register = service.register_entries(session)
        assert len(register) == 2
        emergency = next(e for e in register if e["emergency"])
        assert "Civil Contingencies Act 2004 s6" in emergency["statutory_powers"]
        assert len(service.review_due(session, within_days=90)) >= 1
        assert service.ropa_rows(session)

"""The demo partnership's agreements: several states, idempotent, valid under the rules."""

from __future__ import annotations

from sqlalchemy import select

from civicshare import db
from civicshare.agreements import service
from civicshare.agreements.demo import seed_demo_agreements
from civicshare.agreements.library import WORKS_PROMOTERS
from civicshare.agreements.models import Agreement, Status
from civicshare.datasets.contracts import example_contracts
from civicshare.demo import demo_dpo
from civicshare.partners import service as partners
from civicshare.partners.models import Role
from civicshare.synthetic.partnership import PARTNERS


def ig_leads(session) -> dict:
    partners.upsert(
        session,
        [
            {k: v for k, v in p.items() if k in ("key", "name", "type", "ods_code", "district")}
            | {"status": "endorsed", **demo_dpo(p)}
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
        assert seed_demo_agreements(session, leads) == 13
    with db.session_scope(sessions) as session:
        assert seed_demo_agreements(session, leads) == 0
        agreements = session.scalars(select(Agreement).order_by(Agreement.reference)).all()
        states = {a.reference: [v.status for v in a.versions] for a in agreements}
        assert sorted(states.values()) == sorted(
            [
                [Status.active, Status.draft],  # hospital discharge, an amendment drafted
                [Status.active],  # emergency: vulnerable people at risk
                [Status.active],  # street works
                [Status.active],  # single person discount review, every district
                [Status.active],  # post-hospital care planning
                [Status.submitted],
                [Status.draft],
                [Status.active],  # death notifications: suspended, then resumed
                [Status.expired],
                [Status.revoked],
                [Status.active],  # birth notifications
                [Status.active],  # change of address notifications (with the new address)
                [Status.active],  # change of address alerts (without it)
            ]
        )
        register = service.register_entries(session)
        # the active ones: death, birth and address notices, discount review, care planning
        assert len(register) == 9
        emergency = next(e for e in register if e["emergency"])
        assert "Civil Contingencies Act 2004 s6" in emergency["statutory_powers"]
        assert len(service.review_due(session, within_days=90)) >= 1
        assert service.ropa_rows(session)


def test_the_demo_street_works_agreement_grants_every_works_dataset_to_every_promoter(sessions):
    with db.session_scope(sessions) as session:
        seed_demo_agreements(session, ig_leads(session))
        active = [
            v
            for a in session.scalars(select(Agreement)).all()
            for v in a.versions
            if a.template_key == "street-works" and v.status == Status.active
        ]
        assert len(active) == 1
        version = active[0]
        promoters = {key for key, _, _ in WORKS_PROMOTERS}
        assert {p.partner.key: p.role.value for p in version.parties} == dict.fromkeys(
            promoters, "both"
        )
        granted: dict[tuple[str, str], set[str]] = {}
        for item in version.data_items:
            granted.setdefault((item.provider.key, item.dataset), set()).add(item.column)
            assert item.personal is False
        works_datasets = {(key, d) for key, _, ds in WORKS_PROMOTERS for d in ds}
        assert set(granted) == works_datasets
        contracts = {(c.partner, c.name): c for c in example_contracts()}
        for key in works_datasets:
            # every column of the dataset's contract is granted, and nothing else
            assert granted[key] == {c.name for c in contracts[key].columns}, key
        assert [p["code"] for p in version.purposes] == ["works-coordination"]

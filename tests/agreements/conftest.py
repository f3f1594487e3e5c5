"""A small partnership with an IG lead per partner, and helpers to draft agreements."""
# ruff: noqa: E501  (tables of cases read best one per line)

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from civicshare import db
from civicshare.accounts.service import Actor, actor_for
from civicshare.agreements import service
from civicshare.demo import demo_dpo
from civicshare.partners import service as partners
from civicshare.partners.models import Role

TODAY = date.today()

PARTNERS = [
    {"key": "worcs-acute", "name": "Worcestershire Acute Hospitals NHS Trust", "type": "nhs_trust"},
    {"key": "worcestershire-cc", "name": "Worcestershire County Council", "type": "county_council"},
    {"key": "west-mercia-police", "name": "West Mercia Police", "type": "police"},
    {"key": "hw-fire", "name": "Hereford & Worcester Fire and Rescue Service", "type": "fire_and_rescue"},
    {"key": "hw-health-care", "name": "Herefordshire and Worcestershire Health and Care NHS Trust", "type": "nhs_trust"},
]  # fmt: skip


@dataclass
class World:
    acute: Actor  # IG lead, acute trust
    county: Actor  # IG lead, county council
    police: Actor  # IG lead, police
    fire: Actor  # IG lead, fire
    county_viewer: Actor  # viewer, county council
    dual_as_acute: Actor  # one person: IG lead for the acute trust ...
    dual_as_fire: Actor  # ... and a viewer for fire
    membership_ids: dict[str, int]


def _actor(session, key, email, name, roles) -> Actor:
    person = partners.get_person_by_email(session, email) or partners.create_person(
        session, email=email, display_name=name
    )
    membership = partners.add_membership(session, person, partners.get_by_key(session, key), roles)
    return actor_for(membership, "session")


@pytest.fixture
def world(sessions) -> World:
    with db.session_scope(sessions) as session:
        partners.upsert(session, [{**p, "status": "endorsed", **demo_dpo(p)} for p in PARTNERS])
        w = World(
            acute=_actor(session, "worcs-acute", "ana@acute.example", "Ana Acute", [Role.ig_lead]),
            county=_actor(session, "worcestershire-cc", "cal@cc.example", "Cal County", [Role.ig_lead]),
            police=_actor(session, "west-mercia-police", "pat@police.example", "Pat Police", [Role.ig_lead]),
            fire=_actor(session, "hw-fire", "fay@fire.example", "Fay Fire", [Role.ig_lead]),
            county_viewer=_actor(session, "worcestershire-cc", "vic@cc.example", "Vic Viewer", [Role.viewer]),
            dual_as_acute=_actor(session, "worcs-acute", "dee@dual.example", "Dee Dual", [Role.ig_lead]),
            dual_as_fire=_actor(session, "hw-fire", "dee@dual.example", "Dee Dual", [Role.viewer]),
            membership_ids={},
        )  # fmt: skip
    return w


def complete(version_changes: dict | None = None) -> dict:
    """Fields that, with the hospital discharge template, make a valid version."""
    return {
        "start_date": TODAY,
        "review_date": TODAY + timedelta(days=365),
        "dpia_outcome": "DPIA completed 1 November 2026: residual risk low after mitigations.",
        "dpia_completed_on": TODAY - timedelta(days=22),
        **(version_changes or {}),
    }


def draft(session, actor: Actor, template="hospital-discharge", **changes):
    version = service.create_draft(
        session, actor, title="Discharge planning", template_key=template
    )
    service.update_draft(session, actor, version, complete(changes), reason="dates and DPIA")
    return version


def make_active(session, w: World, **changes):
    """An active discharge agreement between the acute trust and the county."""
    version = draft(session, w.acute, **changes)
    service.submit(session, w.acute, version, today=TODAY)
    service.approve(session, w.acute, version)
    service.approve(session, w.county, version)
    service.endorse(  # by the IG group: an IG lead who neither drafted nor approved it
        session,
        w.police,
        version,
        meeting_date=TODAY,
        minute_reference="IGG/2026/11/4",
        today=TODAY,
    )
    service.activate(session, w.acute, version, today=TODAY)
    return version

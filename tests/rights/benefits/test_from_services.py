"""The figures count what the services really write: on the demo county, shares allowed and
refused through the choke point, and the demo's incidents, works clash notices and council tax
reviews (run through their services), each counted once and nothing else counted."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from civicshare import db
from civicshare.agreements import service as agreements
from civicshare.counciltax.models import DiscountCase
from civicshare.discharge import service as discharge
from civicshare.rights.benefits import demo, service
from civicshare.sharing import delivery
from civicshare.sharing.service import ShareRequest
from civicshare.works.models import ClashNotice

MODEL = "discharge-risk-model"


def this_month(session) -> dict[str, int]:
    month = service.recent_months(1)[0]
    return service.counts(session, month.start, month.end)


def pull(session, county, purpose: str) -> None:
    reference = next(
        v.reference for v in agreements.active_versions(session) if MODEL in v.purpose_codes()
    )
    request = ShareRequest(
        actor=discharge.service_actor(session), purpose=purpose, provider="worcs-acute",
        dataset="acute-admissions", columns=("SPELL_ID",), agreement=reference,
        scope="discharge:read",
    )  # fmt: skip
    delivery.share(session, county, request, via="cli")


def test_allowed_shares_count_and_refused_ones_do_not(county, county_sessions):
    with db.session_scope(county_sessions) as session:
        before = this_month(session)
        for _ in range(3):
            pull(session, county, MODEL)
        with pytest.raises(delivery.Denied):
            pull(session, county, "something-not-agreed")
    with db.session_scope(county_sessions) as session:
        after = this_month(session)
    assert after["deliveries"] - before["deliveries"] == 3
    assert {k: v for k, v in after.items() if k != "deliveries"} == {
        k: v for k, v in before.items() if k != "deliveries"
    }


def test_the_services_activity_is_counted_once_each(county, county_sessions):
    with db.session_scope(county_sessions) as session:
        before = this_month(session)
        assert demo.seed_benefits_activity(session, county)
    with db.session_scope(county_sessions) as session:
        after = this_month(session)
        cases = session.scalar(select(func.count()).select_from(DiscountCase))
        removed = session.scalar(
            select(func.count())
            .select_from(DiscountCase)
            .where(DiscountCase.outcome == "discount_removed")
        )
        clashes = session.scalar(select(func.count()).select_from(ClashNotice))
        assert not demo.seed_benefits_activity(session, county)  # once only
    looks = sum(times for *_, times in demo.INCIDENTS)
    assert after["incident_lists"] - before["incident_lists"] == looks
    assert after["deliveries"] > before["deliveries"]  # the lists read the partners' data
    assert (after["counciltax_found"], after["counciltax_confirmed"]) == (cases, removed)
    assert cases > removed > 0
    assert after["works_clashes"] == clashes > 0
    assert after["notifications"] == after["discharge_lists"] == 0

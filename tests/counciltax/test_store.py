"""The review's cases and outcomes in the store, on SQLite and PostgreSQL: a run stores its
ranked cases with the sources it read, a later run keeps outcomes, and a failed outcome
changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.accounts.service import actor_for
from civicshare.counciltax import service
from civicshare.counciltax.models import DiscountCase, DiscountReview
from civicshare.partners import service as partners
from tests.conftest import demo_store

REVENUES = "revenues@worcester-city.example"


@pytest.fixture
def county(settings):
    return demo_store(settings, people=600, seed=5)


def test_runs_and_outcomes_are_kept_in_the_store(county, sessions):
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, REVENUES)
        reviewer = actor_for(person.memberships[0], "cli")
    with db.session_scope(sessions) as session:
        first = service.review(session, county, reviewer, "worcester")
        assert first.cases and not first.withheld
        case_id = first.cases[0].id
    with db.session_scope(sessions) as session:
        review = session.scalars(select(DiscountReview)).one()
        assert review.cases_found == len(first.cases) and review.run_by == reviewer.label
        assert {s["dataset"] for s in review.sources} == {
            "worcester-city/council-tax-worcester",
            "worcester-city/electoral-register-worcester",
            "worcester-city/housing-tenancies-worcester",
            "hw-icb/gp-registrations",
        }
        service.record_outcome(session, reviewer, case_id, "discount_still_due", "Carer")
    with db.session_scope(sessions) as session, pytest.raises(service.CouncilTaxError):
        service.record_outcome(session, reviewer, case_id, "discount_removed", "x" * 2001)
    with db.session_scope(sessions) as session:
        second = service.review(session, county, reviewer, "worcester")
        assert [c.account_ref for c in second.cases] == [c.account_ref for c in first.cases]
        kept = session.get(DiscountCase, case_id)
        assert (kept.outcome, kept.outcome_note) == ("discount_still_due", "Carer")
        assert kept.review_id == second.review.id

"""`civicshare incidents` at the command line: an IG lead records a break-glass review as the
page does (logged and audited), and a token without the incidents scopes is refused by every
command that takes one."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.audit.models import AuditRecord
from civicshare.cli import app as cli_app
from civicshare.incidents import service
from civicshare.incidents.models import BreakGlassReview, IncidentEvent, ReviewStatus
from civicshare.partners import service as partners
from tests.incidents.test_incidents import ACUTE_IG, FIRE, POLICE, WATER_IG, actor, open_circle

runner = CliRunner()


def token(session, email: str, scopes: list[str]) -> str:
    person = partners.get_person_by_email(session, email)
    secret, _ = accounts.create_api_token(
        session, person.memberships[0], name="cli test", scopes=scopes, days=1
    )
    return secret


def incidents(*args: str):
    return runner.invoke(cli_app, ["incidents", *map(str, args)])


@pytest.fixture(scope="module")
def pending(store, store_sessions, centre) -> tuple[int, str]:
    """A break-glass by the police that saw the water company's records: the water company's
    pending review (its id) and the incident's reference."""
    with db.session_scope(store_sessions) as session:
        police = actor(session, POLICE)
        incident = open_circle(session, police, centre, 600, title="Gas leak, CLI review")
        houses = service.households(session, store, police, incident).households
        house = next(
            h for h in houses if any(s["partner_key"] == "mercia-water" for s in h["sources"])
        )
        grant = service.break_glass(
            session, police, incident, "Officers evacuating the street need to know who is inside"
        )
        service.people_at(session, store, police, incident, house["key"])
        session.flush()
        (review,) = session.scalars(
            select(BreakGlassReview).where(
                BreakGlassReview.break_glass_id == grant.id,
                BreakGlassReview.partner_id == actor(session, WATER_IG).partner_id,
            )
        ).all()
        return review.id, incident.reference


def test_an_ig_lead_records_a_review_from_the_command_line_logged_and_audited(
    store_sessions, operator_store_env, pending
):
    review_id, reference = pending
    with db.session_scope(store_sessions) as session:
        read = token(session, WATER_IG, ["incidents:read"])
        write = token(session, WATER_IG, ["incidents:write"])
        other_ig = token(session, ACUTE_IG, ["incidents:write"])

    listed = incidents("reviews", "--token", read)
    assert listed.exit_code == 0, listed.output
    assert reference in listed.output and "pending" in listed.output

    refusals = [
        (["--outcome", "appropriate", "--token", read], "incidents:write"),  # read-only token
        (["--outcome", "inappropriate", "--token", write], "(--comment)"),  # says what was wrong
        (["--outcome", "upheld", "--token", write], "(--outcome)"),  # not an outcome
        (["--outcome", "appropriate", "--token", other_ig], "There is no review"),  # not theirs
    ]
    for args, said in refusals:
        refused = incidents("review", review_id, *args)
        assert refused.exit_code == 2, refused.output
        assert said in refused.output and "Traceback" not in refused.output
    assert incidents("review", 999_999, "--outcome", "appropriate", "--token", write).exit_code == 2

    comment = "Not proportionate: only one house was evacuated; raised with the inspector"
    done = incidents(
        "review", review_id, "--outcome", "inappropriate", "--comment", comment, "--token", write
    )
    assert done.exit_code == 0, done.output
    assert f"Review {review_id}" in done.output and "inappropriate" in done.output

    with db.session_scope(store_sessions) as session:
        review = session.get(BreakGlassReview, review_id)
        water_ig = actor(session, WATER_IG)
        assert review.status == ReviewStatus.inappropriate and review.comment == comment
        assert review.reviewed_by_id == water_ig.membership_id
        logged = session.scalars(
            select(IncidentEvent.action).where(
                IncidentEvent.incident_id == review.break_glass.incident_id
            )
        ).all()
        assert logged[-1] == "reviewed"
        audited = session.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "incident_break_glass_reviewed",
                AuditRecord.entity_id == reference,
            )
        ).all()
        assert len(audited) == 1
        assert audited[0].details["review"] == review_id
        assert audited[0].details["outcome"] == "inappropriate"


COMMANDS = {
    "open": ["--title", "House fire", "--kind", "fire", "--easting", "385000",
             "--northing", "255000", "--radius", "100"],
    "list": [],
    "households": ["INC-0001"],
    "close": ["INC-0001", "--note", "Stood down at 04:10"],
    "log": ["INC-0001"],
    "reviews": [],
    "review": ["1", "--outcome", "appropriate"],
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_token_with_only_audit_read_is_refused_by_every_incidents_command(
    store_sessions, operator_store_env, command
):
    from civicshare.incidents.cli import app as incidents_app

    takes_token = {
        c.name or c.callback.__name__
        for c in incidents_app.registered_commands
        if any(p == "token" for p in c.callback.__code__.co_varnames)
    }
    assert takes_token == set(COMMANDS)  # a new command is added here too
    with db.session_scope(store_sessions) as session:
        # Who holds it does not matter: a responder and an IG lead are both refused.
        audit_only = token(session, FIRE if command != "review" else WATER_IG, ["audit:read"])
    refused = incidents(command, *COMMANDS[command], "--token", audit_only)
    assert refused.exit_code == 2, refused.output
    assert "does not have the scope incidents:" in refused.output
    assert "Traceback" not in refused.output

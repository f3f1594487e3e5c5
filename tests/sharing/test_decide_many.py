"""decide_many() / governance_read(): governance state read once for several decisions, each
decision exactly what decide() alone gives, and every change still seen by the next decision."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import event

from civicshare import db
from civicshare.agreements import service as agreements
from civicshare.partners import service as partners
from civicshare.sharing.service import decide, decide_many, governance_read
from tests.agreements.conftest import TODAY, make_active
from tests.sharing.test_decide import analyst_at, ask


def same(a, b) -> bool:
    """Equal decisions: everything but the moment each was made."""
    return dataclasses.replace(a, decided_at=None) == dataclasses.replace(b, decided_at=None)


def requests(session, world):
    analyst = analyst_at(session, "worcestershire-cc")
    token = dataclasses.replace(analyst, via="token", scopes=frozenset({"agreements:read"}))
    return [
        ask(analyst),
        ask(analyst, columns=("NHS_NO",)),
        ask(analyst, columns=("NHS_NO", "SPECIALTY")),
        ask(analyst, columns=("NHS_NO", "MOTHERS_MAIDEN_NAME")),
        ask(analyst, purpose="   "),
        ask(analyst, dataset="community-health"),
        ask(analyst, provider="nowhere"),
        ask(analyst, agreement="ISA-9999"),
        ask(analyst, columns=("NHS_NO",), group_by=("DOB",)),
        ask(analyst, incident="INC-0001"),
        ask(world.county_viewer),
        ask(token),
        ask(analyst_at(session, "hw-fire")),
        ask(analyst_at(session, "worcs-acute")),
    ]


@pytest.mark.parametrize("when", [0, 1, "expired"])
def test_decide_many_equals_decide_one_by_one(sessions, world, when):
    with db.session_scope(sessions) as session:
        version = make_active(session, world)
        if when == 1:
            make_active(session, world)  # two covering agreements: ambiguous unless named
        today = version.review_date + timedelta(days=1) if when == "expired" else TODAY
        asked = requests(session, world)
        if when == 1:
            named = version.agreement.reference
            asked.append(ask(asked[0].actor, agreement=named))
            asked.append(ask(asked[0].actor, agreement=named, purpose="marketing"))
        one_by_one = [decide(session, r, today) for r in asked]
        together = decide_many(session, asked, today)
        assert len(together) == len(one_by_one)
        for a, b in zip(one_by_one, together, strict=True):
            assert same(a, b), (a.reason, b.reason)
        with governance_read(session):
            inside = [decide(session, r, today) for r in asked]
        assert all(same(a, b) for a, b in zip(one_by_one, inside, strict=True))
        clauses = {d.clause for d in one_by_one}
        assert {"provider", "role", "token scope", "no active agreement"} <= clauses
        if when != "expired":  # a purpose is checked against the one agreement acted under
            assert "purpose" in clauses
        if when == 0:
            assert {"data items", "aggregate"} <= clauses
        if when == 1:
            assert "ambiguous" in clauses
        assert any(d.allowed for d in one_by_one) is (when != "expired")


def test_governance_is_read_once_for_many_decisions(sessions, world):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        analyst = analyst_at(session, "worcestershire-cc")
        asked = [ask(analyst)] * 5
        decide_many(session, asked, TODAY)  # warm the session either way
        statements: list[str] = []

        def count(*args):
            statements.append(args[2])

        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            for r in asked:
                decide(session, r, TODAY)
            alone = len(statements)
            statements.clear()
            decide_many(session, asked, TODAY)
            together = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert together < alone


@pytest.mark.parametrize("action", ["suspend", "revoke"])
def test_suspension_inside_a_block_stops_the_very_next_decision(sessions, world, action):
    with db.session_scope(sessions) as session:
        version = make_active(session, world)
        analyst = analyst_at(session, "worcestershire-cc")
        with governance_read(session):
            assert decide(session, ask(analyst), TODAY).allowed
            getattr(agreements, action)(
                session, world.acute, version, reason="data breach at recipient"
            )
            decision = decide(session, ask(analyst), TODAY)
            assert not decision.allowed and decision.clause == "no active agreement"
        assert not decide_many(session, [ask(analyst)], TODAY)[0].allowed


def test_a_partner_suspended_inside_a_block_neither_provides_nor_receives(sessions, world):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        analyst = analyst_at(session, "worcestershire-cc")
        with governance_read(session):
            assert decide(session, ask(analyst), TODAY).allowed
            partners.set_status(
                session, partners.get_by_key(session, "worcs-acute"), "suspended", TODAY
            )
            decision = decide(session, ask(analyst), TODAY)
            assert decision.clause == "partner status" and "provider" in decision.reason


def test_each_block_reads_afresh_and_a_commit_inside_one_reads_again(sessions, world):
    with db.session_scope(sessions) as session:
        analyst = analyst_at(session, "worcestershire-cc")
        assert not decide_many(session, [ask(analyst)], TODAY)[0].allowed  # nothing active yet
        with governance_read(session):
            assert not decide(session, ask(analyst), TODAY).allowed
            make_active(session, world)
            session.commit()  # a new transaction: the block reads governance again
            assert decide(session, ask(analyst), TODAY).allowed
        assert decide_many(session, [ask(analyst)], TODAY)[0].allowed
        assert "sharing.governance" not in session.info  # nothing outlives the block

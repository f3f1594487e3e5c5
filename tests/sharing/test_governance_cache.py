"""The governance state decide() reads, kept per process against the "governance" change stamp
(sharing.governance), on both backends: every write behind the stamp replaces its token, the
state is reused while the token stands, a change committed on another connection (as another
worker process would) is seen by the very next decision, and every decision made from the kept
state equals decide() reading partners and agreements afresh."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text

from civicshare import db
from civicshare.agreements import service as agreements
from civicshare.agreements.models import AgreementDataItem, AgreementVersion
from civicshare.linkage.models import IndexedRecord, LinkageRun, PersonKey
from civicshare.partners import service as partners
from civicshare.rights.models import NationalOptOut, Objection
from civicshare.sharing import governance
from civicshare.sharing.service import decide
from tests.agreements.conftest import TODAY, make_active
from tests.sharing.test_decide import PURPOSE, analyst_at, ask
from tests.sharing.test_decide_many import requests, same

PLANNING = "service-planning"
PURPOSES = [
    {"code": PURPOSE, "description": "Plan the care of people leaving hospital."},
    {
        "code": PLANNING,
        "description": "Plan next winter's services (planning: the national data opt-out applies).",
    },
]
SOURCE = "worcs-acute/acute-admissions"


@pytest.fixture(autouse=True)
def nothing_kept_between_tests():
    governance.clear()
    yield
    governance.clear()


def token(sessions) -> str:
    with db.session_scope(sessions) as session:
        return db.change_stamp(session, governance.STAMP)


def refuse_residents(session) -> None:
    """One resident objecting to discharge planning and one with the national data opt-out,
    both held by the person index in the acute trust's admissions."""
    run = LinkageRun()
    session.add(run)
    session.flush()
    for key, record in (("p-objects", "A1"), ("p-opted-out", "A2")):
        session.add(PersonKey(key=key))
        session.add(
            IndexedRecord(
                source=SOURCE,
                snapshot_version=1,
                record_id=record,
                person_key=key,
                evidence="0" * 64,
                run_id=run.id,
            )
        )
    session.add(Objection(person_key="p-objects", purpose=PURPOSE, reason="Asked us not to"))
    session.add(NationalOptOut(person_key="p-opted-out", source=SOURCE, snapshot_version=1))


@pytest.fixture
def reading(monkeypatch):
    """Each time the state is read from the store (not taken from what the process keeps)."""
    seen: list[governance.GovernanceState] = []
    read_state = governance.read_state

    def counted(session):
        seen.append(read_state(session))
        return seen[-1]

    monkeypatch.setattr(governance, "read_state", counted)
    return seen


def test_every_write_behind_the_stamp_replaces_its_token_and_a_rollback_does_not(sessions, world):
    with db.session_scope(sessions) as session:
        make_active(session, world)
        refuse_residents(session)
    before = token(sessions)
    assert before and len(before) == 32
    for table in db.STAMPED[governance.STAMP]:
        (pk,) = db.Base.metadata.tables[table].primary_key.columns.keys()
        touch = text(f"UPDATE {table} SET {pk} = {pk} WHERE {pk} = (SELECT min({pk}) FROM {table})")
        with db.session_scope(sessions) as session:
            assert session.execute(touch).rowcount == 1
            inside = db.change_stamp(session, governance.STAMP)
            assert inside != before  # the writer sees its own new token at once
            session.rollback()
        assert token(sessions) == before, table  # rolled back: the committed token stands
        with db.session_scope(sessions) as session:
            session.execute(touch)
        after = token(sessions)
        assert after not in (before, inside), table
        before = after
    with db.session_scope(sessions) as session:
        partners.create_person(session, email="someone@example.org", display_name="Someone")
    assert token(sessions) == before  # a table decide() does not read


def _suspend_agreement(session, world, version_id):
    agreements.suspend(
        session, world.acute, session.get(AgreementVersion, version_id), reason="A breach"
    )


def _suspend_provider(session, world, version_id):
    partners.set_status(session, partners.get_by_key(session, "worcs-acute"), "suspended", TODAY)


def _drop_an_item(session, world, version_id):
    session.execute(
        delete(AgreementDataItem).where(
            AgreementDataItem.version_id == version_id, AgreementDataItem.column == "NHS_NO"
        )
    )


def _object(session, world, version_id):
    refuse_residents(session)


@pytest.mark.parametrize(
    "change",
    [_suspend_agreement, _suspend_provider, _drop_an_item, _object],
    ids=lambda f: f.__name__,
)
def test_the_state_is_reused_until_a_change_committed_elsewhere_then_the_very_next_decision_sees_it(
    sessions, world, database_url, reading, change
):
    with db.session_scope(sessions) as session:
        version_id = make_active(session, world).id
        analyst = analyst_at(session, "worcestershire-cc")
    reading.clear()
    with db.session_scope(sessions) as session:
        first = decide(session, ask(analyst), TODAY)
    assert first.allowed and first.grant.withheld == ()
    assert "NHS_NO" in [c.column for c in first.grant.columns]
    assert len(reading) == 1
    with db.session_scope(sessions) as session:
        assert same(decide(session, ask(analyst), TODAY), first)
    assert len(reading) == 1  # the same token: the state was reused, not read
    # Another engine: its own connections, as another worker process would have.
    elsewhere = db.make_engine(database_url)
    try:
        with db.session_scope(db.make_sessionmaker(elsewhere)) as session:
            change(session, world, version_id)
    finally:
        elsewhere.dispose()
    with db.session_scope(sessions) as session:
        after = decide(session, ask(analyst), TODAY)
        assert same(after, _reference(session, ask(analyst)))
    assert len(reading) == 2  # read afresh
    if change is _object:
        assert after.allowed and [w.reason for w in after.grant.withheld] == ["objection"]
        assert after.grant.withheld[0].person_keys == ("p-objects",)
    elif change is _drop_an_item:
        assert after.allowed and "NHS_NO" not in [c.column for c in after.grant.columns]
    else:
        assert not after.allowed


def _reference(session, request, today=TODAY):
    """decide() without the kept state: partners and agreements read through their domains."""
    kept = governance.KEPT.size
    governance.KEPT.size = 0
    try:
        return decide(session, request, today)
    finally:
        governance.KEPT.size = kept


def _active_versions(session):
    return session.scalars(
        select(AgreementVersion).where(AgreementVersion.status == "active")
    ).all()


def _two_agreements(session, world):
    make_active(session, world, purposes=PURPOSES)


def _suspended(session, world):
    agreements.suspend(session, world.acute, _active_versions(session)[0], reason="A breach")


def _revoked(session, world):
    agreements.revoke(session, world.acute, _active_versions(session)[0], reason="A breach")


def _provider_suspended(session, world):
    partners.set_status(session, partners.get_by_key(session, "worcs-acute"), "suspended", TODAY)


def _recipient_left(session, world):
    partners.set_status(session, partners.get_by_key(session, "worcestershire-cc"), "left", TODAY)


@pytest.mark.parametrize(
    "change",
    [None, _two_agreements, _suspended, _revoked, _provider_suspended, _recipient_left, "expired"],
    ids=lambda c: getattr(c, "__name__", str(c)),
)
def test_every_decision_from_the_kept_state_equals_decide_without_it(sessions, world, change):
    with db.session_scope(sessions) as session:
        version = make_active(session, world, purposes=PURPOSES)
        refuse_residents(session)
        today = version.review_date + timedelta(days=1) if change == "expired" else TODAY
        if callable(change):
            change(session, world)
        asked = requests(session, world)
        analyst = asked[0].actor
        asked += [
            ask(analyst, purpose=PLANNING),  # the opt-out applies
            ask(analyst, purpose="marketing"),  # not a purpose of the agreement
            ask(analyst, agreement=version.agreement.reference),
            ask(analyst, agreement=version.agreement.reference, purpose=PLANNING),
            ask(analyst, columns=("NHS_NO",), records=("A1",)),
            ask(dataclasses.replace(analyst, scopes=frozenset({"share:read"}), via="token")),
            ask(world.acute, provider="worcestershire-cc"),  # the wrong partner provides
        ]
    with db.session_scope(sessions) as session:
        reference = [_reference(session, r, today) for r in asked]
        kept = [decide(session, r, today) for r in asked]  # read once, then kept
        again = [decide(session, r, today) for r in asked]  # from the kept state
    assert len(governance.KEPT) == 1
    for r, a, b, c in zip(asked, reference, kept, again, strict=True):
        assert same(a, b) and same(a, c), (r, a.reason, b.reason)
    clauses = {d.clause for d in reference}
    if change is None:
        assert any(d.allowed for d in reference)
        assert {"purpose", "data items", "token scope", "role", "provider"} <= clauses
        withheld = {w.reason for d in reference if d.allowed for w in d.grant.withheld}
        assert withheld == {"objection", "national data opt-out"}
    elif change is _two_agreements:
        assert "ambiguous" in clauses
    elif change in (_provider_suspended, _recipient_left):
        assert "partner status" in clauses and not any(d.allowed for d in reference)
    else:
        assert not any(d.allowed for d in reference)

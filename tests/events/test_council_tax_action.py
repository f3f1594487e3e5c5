"""A death told to council tax says what the account needs, from the account itself: close it
when the deceased was the only liable person, remove the deceased and review the single
person discount when the account names a joint liable person. Checked against the synthetic
county's truth (`joint_liable` in truth/council-tax-<district>.parquet)."""

from __future__ import annotations

import pyarrow.parquet as pq
from sqlalchemy import select

from civicshare import db
from civicshare.events import service
from civicshare.events.models import EventNotification, EventType
from civicshare.synthetic import registrations
from tests.events.conftest import ADMIN, REGISTRAR, acting


def test_action_for_a_council_tax_account_on_a_death():
    assert service.action_for("council-tax-redditch", EventType.death, joint=False) == (
        service.SOLE_ACCOUNT
    )
    assert service.action_for("council-tax-redditch", EventType.death, joint=True) == (
        service.JOINT_ACCOUNT
    )
    # Not known (a contract naming no other liable person): the general action.
    assert service.action_for("council-tax-redditch") == service.ACTIONS["council-tax"]
    # A move has its own action, joint or not; another dataset is not an account.
    assert (
        service.action_for("council-tax-redditch", EventType.change_of_address, joint=True)
        == service.MOVE_ACTIONS["council-tax"]
    )
    assert service.action_for("housing-tenancies-redditch", joint=True) == "End the tenancy"


def accounts(county_dir) -> dict[tuple[str, str], tuple[int, bool]]:
    """(council tax dataset, account reference) -> (person id, joint) from the truth."""
    found = {}
    for path in sorted((county_dir / "truth").glob("council-tax-*.parquet")):
        table = pq.read_table(path, columns=["record_id", "person_id", "joint_liable"])
        for record_id, person, joint in zip(*(c.to_pylist() for c in table.columns), strict=True):
            found[(path.stem, record_id)] = (person, bool(joint))
    return found


def test_a_death_tells_council_tax_to_close_a_sole_account_and_to_remove_from_a_joint_one(
    county, county_sessions
):
    where = county.data_dir / "synthetic"
    held = accounts(where)
    kinds: dict[int, set[bool]] = {}
    for person, is_joint in held.values():
        kinds.setdefault(person, set()).add(is_joint)
    candidates = registrations.living_residents(where, 200, seed=13)
    joint = [p for p in candidates if kinds.get(p["person_id"]) == {True}][:4]
    sole = [p for p in candidates if kinds.get(p["person_id"]) == {False}][:4]
    assert len(joint) == 4 and len(sole) == 4
    body, entries = registrations.death_registrations(where, joint + sole, first_entry=930_001)
    with db.session_scope(county_sessions) as session:
        published = service.publish(
            session, county, acting(session, REGISTRAR), body, file_name="deaths.csv", via="cli"
        )
        registrations.review_by_truth(
            session, county, {e.person_key for e in published.events}, entries,
            acting(session, ADMIN),
        )  # fmt: skip
        service.recheck_held(session, county)
    with db.session_scope(county_sessions) as session:
        notifications = session.scalars(
            select(EventNotification).where(EventNotification.payload.is_not(None))
        ).all()
        seen = {True: 0, False: 0}
        for notification in notifications:
            reference = notification.payload["event"]["reference"]
            if reference not in entries:
                continue
            told = [
                held[(r["dataset"], r["record_id"])]
                for r in notification.payload["records"]
                if r["dataset"].startswith("council-tax-")
            ]
            if not told:
                continue
            # the deceased's own accounts, each with the action its liability calls for
            assert {person for person, _ in told} == {entries[reference]}
            expected = {service.JOINT_ACCOUNT if j else service.SOLE_ACCOUNT for _, j in told}
            for action in (service.JOINT_ACCOUNT, service.SOLE_ACCOUNT):
                assert (action in notification.action) == (action in expected), reference
            for _, is_joint in told:
                seen[is_joint] += 1
    # Most of these accounts are attached to the person by the index (both kinds are seen).
    assert seen[True] >= 2 and seen[False] >= 2, seen

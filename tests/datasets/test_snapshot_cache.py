"""The "snapshots" change stamp and the snapshot look-up cached against it, on both backends:
every write to the tables behind it replaces its token in the same transaction, so a snapshot
pushed, a contract registered or a partner changed is seen by the very next look-up, in this
process or any other."""

from __future__ import annotations

from sqlalchemy import text

from civicshare import db
from civicshare.datasets import service
from civicshare.partners import service as partners
from tests.datasets.conftest import GOOD_ROWS, simple_contract, write_csv

PAIR = ("worcs-acute", "test-people")


def token(sessions) -> str:
    with db.session_scope(sessions) as session:
        return db.change_stamp(session, "snapshots")


def look_up(sessions, settings):
    with db.session_scope(sessions) as session:
        return service.current_snapshots(session, [PAIR], settings)[PAIR]


def test_every_write_behind_the_stamp_replaces_its_token_and_a_rollback_does_not(
    seeded, settings, tmp_path
):
    first = token(seeded)
    assert first and len(first) == 32
    with db.session_scope(seeded) as session:
        service.register_contract(session, simple_contract())  # datasets, dataset_contracts
    registered = token(seeded)
    assert registered != first
    with db.session_scope(seeded) as session:
        service.push(session, settings, *PAIR, write_csv(tmp_path / "p.csv", GOOD_ROWS))
    pushed = token(seeded)
    assert pushed != registered
    with db.session_scope(seeded) as session:
        partners.get_by_key(session, "worcs-acute").name = "Worcestershire Acute (renamed)"
    renamed = token(seeded)
    assert renamed != pushed
    for table in db.STAMPED["snapshots"]:
        with db.session_scope(seeded) as session:
            session.execute(
                text(f"UPDATE {table} SET id = id WHERE id = (SELECT min(id) FROM {table})")
            )
            inside = db.change_stamp(session, "snapshots")
            assert inside != renamed  # the writer sees its own new token at once
            session.rollback()
        assert token(seeded) == renamed  # rolled back: the committed token stands
    with db.session_scope(seeded) as session:
        partners.create_person(session, email="someone@example.org", display_name="Someone")
    assert token(seeded) == renamed  # a table the look-up does not read


def test_the_look_up_is_reused_until_a_push_then_the_next_one_sees_the_new_version(
    seeded, settings, tmp_path
):
    with db.session_scope(seeded) as session:
        service.register_contract(session, simple_contract())
    assert look_up(seeded, settings) is None
    with db.session_scope(seeded) as session:
        service.push(session, settings, *PAIR, write_csv(tmp_path / "p.csv", GOOD_ROWS))
    first = look_up(seeded, settings)
    assert first.version == 1
    assert look_up(seeded, settings) is first  # the same token: the same objects
    with db.session_scope(seeded) as session:
        service.push(session, settings, *PAIR, write_csv(tmp_path / "q.csv", GOOD_ROWS[:2]))
    second = look_up(seeded, settings)
    assert (second.version, second.row_count) == (2, 2)
    with db.session_scope(seeded) as session:
        assert service.current_snapshot(session, *PAIR, settings) == second


def test_a_look_up_inside_a_unit_of_work_sees_its_own_pending_change(seeded, settings, tmp_path):
    with db.session_scope(seeded) as session:
        service.register_contract(session, simple_contract())
        service.push(session, settings, *PAIR, write_csv(tmp_path / "p.csv", GOOD_ROWS))
    cached = look_up(seeded, settings)
    with db.session_scope(seeded) as session:
        service.push(session, settings, *PAIR, write_csv(tmp_path / "q.csv", GOOD_ROWS[:1]))
        assert service.current_snapshots(session, [PAIR], settings)[PAIR].version == 2
        session.rollback()
    assert look_up(seeded, settings) == cached

"""The person index from the scheduler: a run when a snapshot is new, one run at a time."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from civicshare import db
from civicshare.app import run_person_index
from civicshare.linkage import service as index
from civicshare.linkage.models import LinkageRun
from civicshare.linkage.person_index.run import RUN_LOCK_SPACE
from tests.linkage.test_index import ACUTE, GP, keys, push


def runs(sessions) -> int:
    with db.session_scope(sessions) as session:
        return session.scalar(select(func.count()).select_from(LinkageRun))


def test_the_scheduled_run_links_what_is_new_and_nothing_else(seeded, settings, county):
    push(seeded, settings, county, GP)
    run_person_index(seeded, settings)
    assert runs(seeded) == 1 and keys(seeded, GP)
    run_person_index(seeded, settings)  # nothing new: no run recorded
    assert runs(seeded) == 1
    push(seeded, settings, county, ACUTE)
    run_person_index(seeded, settings)
    assert runs(seeded) == 2 and keys(seeded, ACUTE)


def test_a_second_run_is_refused_while_one_holds_the_index(seeded, settings, county):
    push(seeded, settings, county, GP)
    with db.session_scope(seeded) as holder:
        assert db.transaction_lock(holder, settings.data_dir, RUN_LOCK_SPACE, 0, wait=False)
        with db.session_scope(seeded) as session, pytest.raises(index.LinkageError) as refused:
            index.run(session, settings)
        assert refused.value.status == 409 and "in progress" in str(refused.value)
    # The first unit of work has ended: the lock is free again.
    with db.session_scope(seeded) as session:
        assert index.run(session, settings).run is not None

"""Concurrent writers on PostgreSQL keep one intact, gap-free chain."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.audit import service as audit
from civicshare.audit.models import AuditRecord

WRITERS = 8
APPENDS = 40


class Rollback(Exception):
    pass


@pytest.mark.postgres
def test_parallel_writers_keep_one_gap_free_chain(postgres_url):
    engine = db.make_engine(postgres_url)
    db.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    start = threading.Barrier(WRITERS)
    committed = [0] * WRITERS
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait()
            for append in range(APPENDS):
                try:
                    with db.session_scope(sessions) as session:
                        audit.record(
                            session,
                            None,
                            "share_decided",
                            "dataset",
                            f"writer-{number}",
                            details={"writer": number, "append": append},
                            checkpoint_every=50,
                        )
                        if append % 5 == 4:  # every fifth unit of work fails after auditing
                            raise Rollback
                    committed[number] += 1
                except Rollback:
                    pass
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    with db.session_scope(sessions) as session:
        seqs = session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)).all()
        result = audit.verify(session)
    written = sum(committed)
    assert written == WRITERS * APPENDS * 4 // 5
    checkpoints = result.checkpoints
    assert checkpoints >= written // 50
    assert seqs == list(range(1, written + checkpoints + 1))
    assert result.intact, result.message
    # Writers really interleaved: the chain is not eight runs one after another.
    with db.session_scope(sessions) as session:
        order = session.scalars(
            select(AuditRecord.entity_id)
            .where(AuditRecord.action == "share_decided")
            .order_by(AuditRecord.seq)
        ).all()
    switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
    assert switches > WRITERS
    engine.dispose()

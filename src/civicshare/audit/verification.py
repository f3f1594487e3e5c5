"""Proving the audit log intact: every record's hash and link, the chain head, and the signed
checkpoints; on a break, which record and what kind of tampering. Reads only."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.audit import chain, signing
from civicshare.audit.models import (
    CHECKPOINT_ACTION,
    CHECKPOINT_EVERY,
    HEAD_ID,
    AuditChainHead,
    AuditCheckpoint,
    AuditRecord,
)

log = logging.getLogger(__name__)


@dataclass
class Problem:
    kind: str  # edited, deleted, inserted, reordered, truncated, checkpoint, head
    message: str
    seq: int | None = None
    id: int | None = None


@dataclass
class VerifyResult:
    records: int = 0
    checkpoints: int = 0
    last_checkpoint_seq: int | None = None
    last_seq: int = 0
    seconds: float = 0.0
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)
    against: str | None = None  # what a saved checkpoint checked (checkpoints.verify_against)

    @property
    def intact(self) -> bool:
        return self.problem is None

    @property
    def message(self) -> str:
        if self.problem is not None:
            return f"Audit log TAMPERED: {self.problem.message}"
        if self.checkpoints:
            signed = (
                f"{self.checkpoints:,} signed checkpoint{'s' if self.checkpoints != 1 else ''}, "
                f"last at seq {self.last_checkpoint_seq:,}"
            )
        else:
            signed = "no signed checkpoints yet"
        plural = "s" if self.records != 1 else ""
        against = f"; {self.against}" if self.against else ""
        return f"Audit log intact: {self.records:,} record{plural}, {signed}{against}"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(intact=self.intact, message=self.message)
        return out


def _where(seq: int, id_: int | None) -> str:
    return f"record seq {seq:,}" + (f" (id {id_:,})" if id_ is not None else "")


def _stream(session: Session, batch: int, where: str = "", *params) -> Iterator[list[tuple]]:
    """Every record's (id, seq, prev_hash, record_hash, canonical text) in chain order (those
    `where` picks: a condition on seq with `?` for `params`, SQLite only)."""
    connection = session.connection()
    dialect = connection.dialect.name
    sql = chain.verify_sql(dialect, where)
    raw = connection.connection
    if dialect == "postgresql":
        cursor = raw.cursor(name="civicshare_audit_verify")
        cursor.itersize = batch
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(sql, params) if params else cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


# On SQLite the store builds each record's canonical text (most of the time) and Python hashes
# it, in one process: about 8 s of CPU for a million records. From SPLIT_FROM records on, a
# second process (`audit.segment`) walks the first half of the chain while this one walks the
# second half from the record before it; the first half's verdict comes first, exactly as a
# single walk would give it. Only for a store in a file, and only when this connection has
# written nothing uncommitted (the second process sees committed records only).
SPLIT_FROM = 200_000


def _split_point(session: Session, split: bool | None) -> tuple[str, int] | None:
    """(the store's file, the last seq the second process walks), or None to walk in one."""
    if split is False or (split is None and (os.cpu_count() or 1) < 2):
        return None
    raw = session.connection().connection.driver_connection
    if raw.in_transaction:
        return None
    files = {name: file for _, name, file in raw.execute("PRAGMA database_list")}
    path = files.get("main") or ""
    last = raw.execute("SELECT max(seq) FROM audit_records").fetchone()[0] or 0
    if not path or last < 2 or (split is None and last < SPLIT_FROM):
        return None
    return path, last // 2


def _first_half(path: str, last: int, batch: int) -> subprocess.Popen:
    import civicshare

    package_root = str(Path(civicshare.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "civicshare.audit.segment", path, str(last), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def _half_walked(process: subprocess.Popen) -> chain.Walked | None:
    out, err = process.communicate()
    try:
        if process.returncode != 0:
            raise ValueError(f"exit {process.returncode}: {err.strip()[-500:]}")
        found = json.loads(out.strip().splitlines()[-1])
        bad = tuple(found["bad"]) if found["bad"] is not None else None
        return chain.Walked(found["expected"], found["prev"], found["last_id"], bad)
    except (ValueError, IndexError, KeyError, TypeError) as error:
        log.warning("audit verify: the second process failed (%s); walking alone", error)
        return None


def _walk_sqlite(session: Session, batch: int, progress, split: bool | None) -> chain.Walked:
    planned = _split_point(session, split)
    if planned is None:
        return chain.walk(_stream(session, batch), progress=progress)
    path, last = planned
    process = _first_half(path, last, batch)
    try:
        joint = (
            session.connection()
            .exec_driver_sql(
                "SELECT id, record_hash FROM audit_records WHERE seq <= ? "
                "ORDER BY seq DESC, id DESC LIMIT 1",
                (last,),
            )
            .first()
        )
        start = chain.Walked(last + 1, joint[1], joint[0]) if joint is not None else None
        second = (
            chain.walk(_stream(session, batch, "seq > ?", last), start, progress)
            if start is not None
            else None
        )
    except BaseException:
        process.kill()
        process.wait()
        raise
    first = _half_walked(process) or chain.walk(_stream(session, batch, "seq <= ?", last))
    if first.bad is not None:
        return first
    if second is None or (first.expected, first.prev, first.last_id) != (
        start.expected,
        start.prev,
        start.last_id,
    ):
        # The halves do not meet (no records before the split, or written in between):
        # walk the whole chain here.
        return chain.walk(_stream(session, batch), progress=progress)
    return second


# On PostgreSQL the store checks the chain itself, in two fast statements: the order and links
# (seq against row_number(), prev_hash against lag(record_hash), in chain order, no hashing),
# then every record's SHA-256 over the canonical form (the built-in sha256(bytea), PostgreSQL
# 11+), which PostgreSQL may spread over parallel workers. When both find nothing, Python
# re-checks only the last record. When either finds something, one slower statement (both
# checks in chain order) returns the first record that does not fit, and Python re-checks and
# diagnoses it exactly as when streaming, so the first bad record and the messages are the same.
_LINKS_IN_POSTGRES = """
WITH chained AS (
    SELECT id, seq, prev_hash,
           row_number() OVER w AS expected,
           COALESCE(lag(record_hash) OVER w, '{genesis}') AS before_hash,
           lag(id) OVER w AS before_id
    FROM audit_records
    WINDOW w AS (ORDER BY seq, id)
), judged AS (
    SELECT *, (seq <> expected OR prev_hash <> before_hash) AS bad FROM chained
)
SELECT id, seq, expected, before_hash, before_id, bad
FROM judged
ORDER BY bad DESC, CASE WHEN bad THEN expected ELSE -expected END
LIMIT 1
"""
# FILTER (not WHERE … ORDER BY … LIMIT 1) so the planner scans in parallel, not by the index.
_HASHES_IN_POSTGRES = """
SELECT min(seq) FILTER (
    WHERE encode(sha256(convert_to({canonical}, 'UTF8')), 'hex') <> record_hash
)
FROM audit_records
WHERE seq <= %(last)s
"""
_FIRST_BAD_IN_POSTGRES = """
WITH chained AS (
    SELECT id, seq, prev_hash, record_hash,
           row_number() OVER w AS expected,
           COALESCE(lag(record_hash) OVER w, '{genesis}') AS before_hash,
           lag(id) OVER w AS before_id,
           encode(sha256(convert_to({canonical}, 'UTF8')), 'hex') AS computed
    FROM audit_records
    WINDOW w AS (ORDER BY seq, id)
)
SELECT id, expected, before_hash, before_id
FROM chained
WHERE seq <> expected OR prev_hash <> before_hash OR computed <> record_hash
ORDER BY expected
LIMIT 1
"""
_ONE_IN_POSTGRES = """
SELECT id, seq, prev_hash, record_hash, {canonical} FROM audit_records WHERE id = %(id)s
"""


def _checked_in_postgres(session: Session) -> tuple[tuple[int, str, int | None], list[tuple]]:
    """Where `verify`'s loop starts, (expected seq, previous hash, previous id), and the one row
    it must still look at: the first record that does not fit, else the last record (every
    record before it the store has already checked). No rows when the log is empty."""
    connection = session.connection()
    canonical = "'civicshare-audit-v1' || chr(10) || " + chain.canonical_sql("postgresql")
    cursor = connection.connection.cursor()
    try:
        cursor.execute(_LINKS_IN_POSTGRES.format(genesis=chain.GENESIS))
        found = cursor.fetchone()
        if found is None:
            return (1, chain.GENESIS, None), []
        id_, seq, expected, before_hash, before_id, bad = found
        if not bad:
            cursor.execute(_HASHES_IN_POSTGRES.format(canonical=canonical), {"last": seq})
            bad = cursor.fetchone()[0] is not None
        if bad:
            cursor.execute(
                _FIRST_BAD_IN_POSTGRES.format(genesis=chain.GENESIS, canonical=canonical)
            )
            first = cursor.fetchone()
            if first is not None:  # else it was fixed in between: re-check the last record
                id_, expected, before_hash, before_id = first
        cursor.execute(_ONE_IN_POSTGRES.format(canonical=canonical), {"id": id_})
        row = cursor.fetchone()
    finally:
        cursor.close()
    return (int(expected), before_hash, before_id), [row]


def verify(
    session: Session,
    *,
    public_key=None,
    batch: int = 20_000,
    progress: Callable[[int], None] | None = None,
    split: bool | None = None,
) -> VerifyResult:
    """Check every record against its hash and its predecessor, then every checkpoint.

    Stops at the first bad record and names it, with the kind of tampering where it can tell.
    `public_key` defaults to the gateway's (keys_dir/audit-signing.pub). On SQLite `split`
    walks the chain's two halves in two processes: None from SPLIT_FROM records on, True
    whenever the store allows it (a file, nothing uncommitted), False never."""
    import time as clock

    started = clock.perf_counter()
    result = VerifyResult()
    if session.connection().dialect.name == "postgresql":
        (expected, prev, last_id), rows = _checked_in_postgres(session)
        walked = chain.walk([rows], chain.Walked(expected, prev, last_id), progress)
    else:
        walked = _walk_sqlite(session, batch, progress, split)
    expected, prev = walked.expected, walked.prev
    if walked.bad is not None:
        id_, seq = walked.bad
        result.problem = _diagnose(session, id_, seq, expected, prev, walked.last_id)
        result.records = expected - 1
        result.seconds = clock.perf_counter() - started
        return result
    result.records = result.last_seq = expected - 1
    result.problem = _check_head(session, result.last_seq, prev) or _check_checkpoints(
        session, result, public_key
    )
    result.seconds = clock.perf_counter() - started
    return result


def _by_hash(session: Session, record_hash: str) -> AuditRecord | None:
    return session.scalars(
        select(AuditRecord).where(AuditRecord.record_hash == record_hash).limit(1)
    ).first()


def _hash_of(row: AuditRecord, **overrides: Any) -> str:
    values = {name: getattr(row, name) for name in chain.FIELDS}
    values.update(details=chain.json_text(row.details), columns=chain.json_text(row.columns))
    values.update(overrides)
    return chain.record_hash(values)


def _diagnose(
    session: Session, id_: int, seq: int, expected: int, prev: str, prev_id: int | None
) -> Problem:
    """Name the kind of tampering at the first record that does not fit (the slow path)."""
    where = _where(seq, id_)
    if seq < expected:
        return Problem(
            "inserted",
            f"{where}: seq {seq:,} appears more than once (a record was inserted)",
            seq,
            id_,
        )
    if seq > expected:
        if seq == expected + 1:
            missing = f"the record before it (seq {expected:,}) is missing"
        else:
            missing = f"the records before it (seq {expected:,}–{seq - 1:,}) are missing"
        return Problem("deleted", f"{where}: {missing} (deleted)", expected, id_)
    row = session.get(AuditRecord, id_)
    content_ok = row is not None and _hash_of(row) == row.record_hash
    linked_ok = row is not None and row.prev_hash == prev
    if row is not None and not content_ok:
        # Was it written at another place in the chain, and renumbered?
        for written in range(max(1, seq - 100), seq + 101):
            if written == seq or _hash_of(row, seq=written) != row.record_hash:
                continue
            if written < seq:
                return Problem(
                    "inserted",
                    f"{where}: it was written as seq {written:,} and renumbered; "
                    f"{seq - written:,} record(s) were inserted before it",
                    seq,
                    id_,
                )
            if _by_hash(session, row.prev_hash) is not None:
                return Problem(
                    "reordered",
                    f"{where}: it was written as seq {written:,}; records have been reordered",
                    seq,
                    id_,
                )
            return Problem(
                "deleted",
                f"{where}: it was written as seq {written:,} and renumbered; "
                f"{written - seq:,} record(s) before it were deleted",
                seq,
                id_,
            )
        if linked_ok:
            return Problem(
                "edited",
                f"{where}: its content does not match its hash (edited)",
                seq,
                id_,
            )
    if row is not None and not linked_ok:
        predecessor = _by_hash(session, row.prev_hash)
        if predecessor is not None and predecessor.seq != seq - 1:
            return Problem(
                "reordered",
                f"{where}: it was written after seq {predecessor.seq:,}, not after seq "
                f"{seq - 1:,} (reordered)",
                seq,
                id_,
            )
        if content_ok:
            return Problem(
                "inserted",
                f"{where}: the hash chain breaks here: it does not follow the record before it "
                "(inserted, or a record before it was edited and re-hashed)",
                seq,
                id_,
            )
    return Problem(
        "edited",
        f"{where}: its content does not match its hash and it does not follow the record "
        "before it (edited)",
        seq,
        id_,
    )


def _check_head(session: Session, last_seq: int, last_hash: str) -> Problem | None:
    head = session.get(AuditChainHead, HEAD_ID)
    if head is None:
        if last_seq == 0:
            return None
        return Problem("head", "the chain head is missing", None, None)
    if head.seq > last_seq:
        return Problem(
            "truncated",
            f"the log ends at seq {last_seq:,} but seq {head.seq:,} was written "
            f"(records after seq {last_seq:,} were deleted: truncated)",
            last_seq + 1,
            None,
        )
    if head.seq != last_seq or head.record_hash != last_hash:
        return Problem(
            "head",
            f"the chain head (seq {head.seq:,}) does not match the last record (seq "
            f"{last_seq:,}): records were appended or rewritten outside the gateway",
            last_seq,
            None,
        )
    return None


def _check_checkpoints(session: Session, result: VerifyResult, public_key) -> Problem | None:
    checkpoints = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.number)))
    result.checkpoints = len(checkpoints)
    if checkpoints:
        result.last_checkpoint_seq = checkpoints[-1].seq
    if public_key is None and checkpoints:
        public_key = signing.load_public_key()
        if public_key is None:
            return Problem(
                "checkpoint",
                f"{len(checkpoints):,} checkpoints cannot be checked: there is no public key "
                f"({signing.keys_dir() / signing.PUBLIC_NAME}); give one with --public-key",
            )
    hashes = (
        dict(
            session.execute(
                select(AuditRecord.seq, AuditRecord.record_hash).where(
                    AuditRecord.seq.in_([c.seq for c in checkpoints])
                )
            ).all()
        )
        if checkpoints
        else {}
    )
    expected_id = signing.key_id(public_key) if public_key is not None else None
    for number, entry in enumerate(checkpoints, start=1):
        name = f"checkpoint {entry.number:,} (seq {entry.seq:,})"
        if entry.number != number:
            return Problem(
                "checkpoint",
                f"checkpoint {number:,} is missing (deleted); the next is {entry.number:,}",
                entry.seq,
            )
        message = signing.checkpoint_message(entry.number, entry.seq, entry.record_hash, entry.at)
        if not signing.signature_ok(public_key, message, entry.signature):
            other = "" if entry.key_id == expected_id else f", signed by key {entry.key_id}"
            return Problem(
                "checkpoint",
                f"{name}: its signature is not valid for the gateway key {expected_id}{other}",
                entry.seq,
            )
        if entry.seq > result.last_seq:
            return Problem(
                "truncated",
                f"{name}: the log ends at seq {result.last_seq:,}, before this signed "
                "checkpoint (records after it were deleted: truncated after checkpoint)",
                result.last_seq + 1,
            )
        if hashes.get(entry.seq) != entry.record_hash:
            return Problem(
                "checkpoint",
                f"{name}: the record at seq {entry.seq:,} is not the one signed (the chain was "
                "rewritten after the checkpoint)",
                entry.seq,
            )
    recorded = session.execute(
        select(AuditRecord.seq, AuditRecord.details).where(AuditRecord.action == CHECKPOINT_ACTION)
    ).all()
    by_number = {c.number: c for c in checkpoints}
    for seq, details in recorded:
        number = (details or {}).get("number")
        entry = by_number.get(number)
        if entry is None or entry.seq != details.get("seq"):
            return Problem(
                "checkpoint",
                f"record seq {seq:,} says checkpoint {number} was signed, but that checkpoint is "
                "missing or different (deleted)",
                seq,
            )
    from civicshare.audit.service import checkpoint_every  # (service re-exports verify)

    behind = result.last_seq - (result.last_checkpoint_seq or 0)
    if result.last_seq and behind > 2 * (checkpoint_every() or CHECKPOINT_EVERY):
        result.warnings.append(
            f"The last {behind:,} records are not yet covered by a signed checkpoint; run "
            "`civicshare audit checkpoint` and check the signing key can be read."
        )
    return None

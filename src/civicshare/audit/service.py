"""Recording who did what, as which membership, and why; proving the record intact.

`record()` appends one record to the hash chain inside the caller's unit of work: it locks the
chain head (one row), so concurrent writers append one after another, and a transaction that
rolls back takes its record and its place in the chain with it. When the record cannot be
written, `record()` raises and the caller's whole unit of work fails: nothing is shared that the
log does not show (fail closed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from civicshare.audit import chain, signing
from civicshare.audit.models import OUTCOMES, AuditChainHead, AuditCheckpoint, AuditRecord
from civicshare.core.identity import Actor
from civicshare.db import utcnow

log = logging.getLogger(__name__)

SYSTEM = "system"
CHECKPOINT_ACTION = "audit_checkpoint_signed"
# A checkpoint is signed automatically when a record's seq is a multiple of this.
CHECKPOINT_EVERY = 1000
HEAD_ID = 1


class AuditWriteError(RuntimeError):
    """The audit record could not be written, so the change it describes must not happen."""


class IdentifierInAudit(ValueError):
    """Audit details must not carry identifiers of residents (NHS numbers and the like)."""


# -- writing -----------------------------------------------------------------------------------

# Ten digits standing alone (not inside a longer token such as a hex hash), spaced 3-3-4 or not.
_TEN_DIGITS = re.compile(r"(?<![0-9A-Za-z])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![0-9A-Za-z])")


# Anything _TEN_DIGITS can find in a key or value appears as it is in the JSON text (digits,
# spaces and hyphens are never escaped, and integers are written in decimal), so a text
# without this looser pattern holds no NHS number and need not be walked.
_DIGIT_RUN = re.compile(r"\d{3}[ -]?\d{3}[ -]?\d{4}")


def is_nhs_number(digits: str) -> bool:
    """Ten digits whose last is the modulus-11 check digit of the first nine."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _refuse_identifiers(where: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _refuse_identifiers(where, key)
            _refuse_identifiers(where, inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            _refuse_identifiers(where, inner)
    elif isinstance(value, str | int) and not isinstance(value, bool):
        for match in _TEN_DIGITS.finditer(str(value)):
            if is_nhs_number("".join(match.groups())):
                raise IdentifierInAudit(
                    f"The audit {where} hold what looks like an NHS number; the audit log "
                    "records column names, counts and hashes, never a resident's identifiers."
                )


# A full UK postcode: outward code (area, district) and inward code (sector digit, two unit
# letters, which are never C, I, K, M, O or V), with or without the space, in any case.
_POSTCODE = re.compile(
    r"(?<![0-9A-Za-z])[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9]([ABD-HJLNP-UW-Z]{2})(?![0-9A-Za-z])",
    re.IGNORECASE,
)
# "Q3 4th" reads as a postcode in any case; lower-case ordinals are taken as ordinals.
_ORDINALS = ("st", "nd", "rd", "th")

# What the audit log keeps of a purpose that was refused for holding an identifier.
REDACTED = "[redacted: held an identifier]"


def identifiers_in(text: str | None) -> list[str]:
    """The kinds of residents' identifiers a free text (a purpose, a reason, a note) holds:
    "an NHS number" (ten digits, spaced 3-3-4 or not, whose check digit is right) and
    "a postcode" (a full UK postcode). Names, addresses and dates cannot be told apart from
    ordinary words and dates, so they are not looked for."""
    found = []
    text = text or ""
    if any(is_nhs_number("".join(m.groups())) for m in _TEN_DIGITS.finditer(text)):
        found.append("an NHS number")
    if any(m.group(1) not in _ORDINALS for m in _POSTCODE.finditer(text)):
        found.append("a postcode")
    return found


def identifier_refusal(what: str, text: str | None) -> str | None:
    """Why `text` (a purpose, a reason: `what` names it) is refused, or None if it holds none
    of the identifiers `identifiers_in` looks for. The message never repeats the identifier."""
    found = identifiers_in(text)
    if not found:
        return None
    return (
        f"{what} must not contain identifiers such as an NHS number or a postcode "
        f"(this one holds {' and '.join(found)})"
    )


def redacted(text: str | None) -> str | None:
    """The text as the audit log may keep it: REDACTED if it holds an identifier."""
    return REDACTED if identifiers_in(text) else text


def _as_json(value: Any) -> Any:
    """What the JSON column will hand back (tuples become lists, keys become strings)."""
    return None if value is None else json.loads(json.dumps(value))


_ADVANCE = "UPDATE audit_chain_head SET seq = seq + {n} WHERE id = 1 RETURNING seq, record_hash"
_SET_HASH = "UPDATE audit_chain_head SET record_hash = {p} WHERE id = 1"
# Stored and hashed in this order: chain.FIELDS, then record_hash.
_INSERT = "INSERT INTO audit_records ({names}, record_hash) VALUES ({marks})"
_FACTS = chain.FIELDS[3:]  # after seq, prev_hash, at: the fields the caller gives
_COPY = f"COPY audit_records ({', '.join(chain.FIELDS)}, record_hash) FROM STDIN"


def _start_chain(session: Session) -> None:
    """A store made without the migration (create_all) has no head row: start the chain."""
    if session.scalar(select(func.count()).select_from(AuditRecord)):
        raise AuditWriteError("The audit chain head is missing but records exist.")
    session.execute(insert(AuditChainHead).values(id=HEAD_ID, seq=0, record_hash=chain.GENESIS))
    session.flush()


class _Writer:
    """Appends on the caller's DBAPI connection, inside the session's transaction.

    The append path skips SQLAlchemy's statement construction, caching and result objects
    (they were most of an append's cost): three fixed statements per record, or per batch in
    `append_many`, with the hashes computed in Python from the same texts that are stored."""

    def __init__(self, session: Session) -> None:
        session.flush()  # pending ORM changes go first, as an ORM statement would flush them
        connection = session.connection()
        self.session = session
        self.postgres = connection.dialect.name == "postgresql"
        mark = "%s" if self.postgres else "?"
        self.cursor = connection.connection.cursor()
        self.insert = _INSERT.format(
            names=", ".join(chain.FIELDS), marks=", ".join([mark] * (len(chain.FIELDS) + 1))
        )
        if self.postgres:
            self.insert += " RETURNING id"
        self.set_hash = _SET_HASH.format(p=mark)

    def advance(self, count: int) -> tuple[int, str]:
        """Lock the head and take `count` places: returns the last of them and the hash of the
        record before the first."""
        self.cursor.execute(_ADVANCE.format(n=int(count)))
        row = self.cursor.fetchone()
        if row is None:
            _start_chain(self.session)
            self.cursor.execute(_ADVANCE.format(n=int(count)))
            row = self.cursor.fetchone()
        return int(row[0]), row[1]

    def at(self) -> tuple[datetime, str, Any]:
        """Now: as a datetime, as the chain hashes it, and as the store is given it."""
        moment = utcnow()
        hashed = chain.utc_text(moment)
        # SQLAlchemy's SQLite DateTime stores 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC here).
        return moment, hashed, moment if self.postgres else hashed[:-1].replace("T", " ")


def _prepare(
    actor: Actor | None,
    action: str,
    entity_type: str,
    entity_id: Any = None,
    *,
    reason: str = "",
    details: dict[str, Any] | None = None,
    purpose: str | None = None,
    agreement_ref: str | None = None,
    agreement_version: int | None = None,
    dataset: str | None = None,
    columns: list[str] | None = None,
    row_count: int | None = None,
    output_sha256: str | None = None,
    outcome: str | None = None,
) -> tuple[dict[str, Any], list[Any], bytes]:
    """Check one record's facts; return them as the record's values, as the values to store
    (in _FACTS order) and as the canonical bytes of those fields."""
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    details = _as_json(details or {})
    columns = _as_json(list(columns)) if columns is not None else None
    details_text, columns_text = chain.json_text(details), chain.json_text(columns)
    # The exact (recursive) check only where the stored text has ten digits in a row at all.
    for where, value, written in (
        ("details", details, details_text),
        ("columns", columns, columns_text),
        ("purpose", purpose, purpose),
    ):
        if written is not None and _DIGIT_RUN.search(written):
            _refuse_identifiers(where, value)
    values: dict[str, Any] = {
        "action": action,
        "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id),
        "person_id": actor.person_id if actor else None,
        "membership_id": actor.membership_id if actor else None,
        "actor_label": actor.label if actor else SYSTEM,
        "actor_partner": actor.partner_key if actor else None,
        "reason": reason or "",
        "details": details,
        "purpose": purpose,
        "agreement_ref": agreement_ref,
        "agreement_version": agreement_version,
        "dataset": dataset,
        "columns": columns,
        "row_count": row_count,
        "output_sha256": output_sha256,
        "outcome": outcome,
    }
    stored = [values[name] for name in _FACTS]
    stored[_DETAILS] = details_text
    stored[_COLUMNS] = columns_text
    return values, stored, chain.netstrings(stored)


_DETAILS = _FACTS.index("details")
_COLUMNS = _FACTS.index("columns")


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    entity_type: str,
    entity_id: Any = None,
    *,
    reason: str = "",
    details: dict[str, Any] | None = None,
    purpose: str | None = None,
    agreement_ref: str | None = None,
    agreement_version: int | None = None,
    dataset: str | None = None,
    columns: list[str] | None = None,
    row_count: int | None = None,
    output_sha256: str | None = None,
    outcome: str | None = None,
    checkpoint_every: int | None = None,
) -> AuditRecord:
    """Append one record in the caller's unit of work: it commits or rolls back with the change.

    `actor` None means the gateway itself or an operator at the server's command line. The
    sharing facts (purpose, agreement, dataset as "partner-key/dataset-name", columns, row
    count, SHA-256 of the output, outcome "allowed" or "denied") are columns, so the log can be
    filtered by them. Raises
    AuditWriteError when the store refuses the record; the caller's transaction must then fail
    as a whole (session_scope and request_session do that).

    The returned record is the one written; it is not attached to the session."""
    values, stored, tail = _prepare(
        actor,
        action,
        entity_type,
        entity_id,
        reason=reason,
        details=details,
        purpose=purpose,
        agreement_ref=agreement_ref,
        agreement_version=agreement_version,
        dataset=dataset,
        columns=columns,
        row_count=row_count,
        output_sha256=output_sha256,
        outcome=outcome,
    )
    try:
        writer = _Writer(session)
        seq, prev_hash = writer.advance(1)
        # The time is taken under the head's lock, so `at` never goes backwards along the chain.
        moment, at_text, at_stored = writer.at()
        record_hash = hashlib.sha256(
            chain.PREFIX + chain.netstrings((str(seq), prev_hash, at_text)) + tail
        ).hexdigest()
        cursor = writer.cursor
        cursor.execute(writer.insert, (seq, prev_hash, at_stored, *stored, record_hash))
        new_id = cursor.fetchone()[0] if writer.postgres else cursor.lastrowid
        cursor.execute(writer.set_hash, (record_hash,))
    except (SQLAlchemyError, session.get_bind().dialect.loaded_dbapi.Error) as error:
        raise AuditWriteError(
            f"The audit record of {action} could not be written, so it was not done: {error}"
        ) from error
    every = CHECKPOINT_EVERY if checkpoint_every is None else checkpoint_every
    if every and seq % every == 0 and action != CHECKPOINT_ACTION:
        _automatic_checkpoint(session)
    values.update(seq=seq, prev_hash=prev_hash, at=moment, record_hash=record_hash)
    return AuditRecord(id=new_id, **values)


@dataclass
class Entry:
    """One record for `append_many`: the arguments `record()` takes."""

    actor: Actor | None
    action: str
    entity_type: str
    entity_id: Any = None
    facts: dict[str, Any] = field(default_factory=dict)


def append_many(
    session: Session, entries: list[Entry], *, checkpoint_every: int | None = None
) -> int:
    """Append many records in the caller's unit of work, as `record()` would one by one.

    For bulk writers (ingest, retention, benchmarks): the head is locked and advanced once per
    run between checkpoints, the rows go in with one executemany, and the head is set once.
    Every record is checked exactly as `record()` checks it before anything is written; all of
    them share the time taken under the lock. Automatic checkpoints fall where `record()` would
    put them. Returns the seq of the last of these records (an automatic checkpoint's record
    may follow it; 0 when `entries` is empty)."""
    prepared = [_prepare(e.actor, e.action, e.entity_type, e.entity_id, **e.facts) for e in entries]
    every = CHECKPOINT_EVERY if checkpoint_every is None else checkpoint_every
    sha256 = hashlib.sha256
    prefix = chain.PREFIX
    netstrings = chain.netstrings
    done, last = 0, 0
    while done < len(prepared):
        try:
            writer = _Writer(session)
            head, prev_hash = writer.advance(0)
            count = len(prepared) - done
            if every:
                count = min(count, every - head % every)
            last, _ = writer.advance(count)
            _moment, at_text, at_stored = writer.at()
            rows = []
            for seq in range(head + 1, last + 1):
                _values, stored, tail = prepared[done]
                record_hash = sha256(
                    prefix + netstrings((str(seq), prev_hash, at_text)) + tail
                ).hexdigest()
                rows.append((seq, prev_hash, at_stored, *stored, record_hash))
                prev_hash = record_hash
                done += 1
            if writer.postgres:
                # COPY: one statement streaming the rows (executemany was about 10,000 rows/s
                # here; a multi-row INSERT per 1,000 rows 2.5 times slower than that).
                with writer.cursor.copy(_COPY) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                writer.cursor.executemany(writer.insert, rows)
            writer.cursor.execute(writer.set_hash, (prev_hash,))
        except (SQLAlchemyError, session.get_bind().dialect.loaded_dbapi.Error) as error:
            raise AuditWriteError(
                f"The audit records ({len(entries):,}) could not be written, so they were not "
                f"done: {error}"
            ) from error
        if every and last % every == 0:
            _automatic_checkpoint(session)
    return last


def _automatic_checkpoint(session: Session) -> None:
    try:
        key = signing.load_or_create_private_key()
    except (OSError, ValueError) as error:
        # The record itself is written; verify warns when checkpoints fall behind.
        log.error("audit checkpoint skipped: the signing key cannot be read (%s)", error)
        return
    checkpoint(session, None, private_key=key)


def history(session: Session, entity_type: str, entity_id: Any) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.entity_type == entity_type, AuditRecord.entity_id == str(entity_id))
            .order_by(AuditRecord.seq)
        )
    )


# -- checkpoints -------------------------------------------------------------------------------


def checkpoint(session: Session, actor: Actor | None = None, *, private_key=None):
    """Sign the chain as it stands: (number, last seq, last record hash, time), with Ed25519.

    The checkpoint is itself recorded in the chain (action audit_checkpoint_signed), so
    deleting a checkpoint is caught too. Returns None when the log is empty."""
    key = private_key or signing.load_or_create_private_key()
    row = session.execute(
        text("UPDATE audit_chain_head SET seq = seq WHERE id = :id RETURNING seq, record_hash"),
        {"id": HEAD_ID},
    ).one_or_none()
    if row is None or row[0] == 0:
        return None
    seq, record_hash = int(row[0]), row[1]
    number = (session.scalar(select(func.max(AuditCheckpoint.number))) or 0) + 1
    at = utcnow()
    public = key.public_key()
    entry = AuditCheckpoint(
        number=number,
        seq=seq,
        record_hash=record_hash,
        at=at,
        key_id=signing.key_id(public),
        signature=signing.sign(key, signing.checkpoint_message(number, seq, record_hash, at)),
    )
    session.add(entry)
    session.flush()
    record(
        session,
        actor,
        CHECKPOINT_ACTION,
        "audit_checkpoint",
        number,
        details={"number": number, "seq": seq, "record_hash": record_hash, "key_id": entry.key_id},
    )
    return entry


# -- verifying ---------------------------------------------------------------------------------


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
        return f"Audit log intact: {self.records:,} record{plural}, {signed}"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(intact=self.intact, message=self.message)
        return out


def _where(seq: int, id_: int | None) -> str:
    return f"record seq {seq:,}" + (f" (id {id_:,})" if id_ is not None else "")


def _stream(session: Session, batch: int) -> Iterator[list[tuple]]:
    """Every record's (id, seq, prev_hash, record_hash, canonical text) in chain order."""
    connection = session.connection()
    dialect = connection.dialect.name
    prefix = (
        "'civicshare-audit-v1' || chr(10)"
        if dialect == "postgresql"
        else ("'civicshare-audit-v1' || char(10)")
    )
    sql = (
        f"SELECT id, seq, prev_hash, record_hash, {prefix} || {chain.canonical_sql(dialect)} "
        "FROM audit_records ORDER BY seq, id"
    )
    raw = connection.connection
    if dialect == "postgresql":
        cursor = raw.cursor(name="civicshare_audit_verify")
        cursor.itersize = batch
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


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
) -> VerifyResult:
    """Check every record against its hash and its predecessor, then every checkpoint.

    Stops at the first bad record and names it, with the kind of tampering where it can tell.
    `public_key` defaults to the gateway's (keys_dir/audit-signing.pub)."""
    import time as clock

    started = clock.perf_counter()
    result = VerifyResult()
    sha256 = hashlib.sha256
    expected, prev = 1, chain.GENESIS
    last_id = None
    if session.connection().dialect.name == "postgresql":
        (expected, prev, last_id), rows = _checked_in_postgres(session)
        batches: Iterator[list[tuple]] | list[list[tuple]] = [rows]
    else:
        batches = _stream(session, batch)
    for rows in batches:
        for id_, seq, prev_hash, record_hash, canonical in rows:
            if (
                seq != expected
                or prev_hash != prev
                or sha256(canonical.encode()).hexdigest() != record_hash
            ):
                result.problem = _diagnose(session, id_, seq, expected, prev, last_id)
                result.records = expected - 1
                result.seconds = clock.perf_counter() - started
                return result
            prev, last_id = record_hash, id_
            expected += 1
        if progress:
            progress(expected - 1)
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
    behind = result.last_seq - (result.last_checkpoint_seq or 0)
    if result.last_seq and behind > 2 * CHECKPOINT_EVERY:
        result.warnings.append(
            f"The last {behind:,} records are not yet covered by a signed checkpoint; run "
            "`civicshare audit checkpoint` and check the signing key can be read."
        )
    return None

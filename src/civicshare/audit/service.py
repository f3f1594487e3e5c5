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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from civicshare.audit import chain, signing
from civicshare.audit.models import (
    CHECKPOINT_ACTION,
    HEAD_ID,
    OUTCOMES,
    AuditChainHead,
    AuditCheckpoint,
    AuditRecord,
)
from civicshare.audit.verification import Problem, VerifyResult, verify  # noqa: F401  (re-exported)
from civicshare.core import metrics
from civicshare.core.identity import Actor
from civicshare.db import utcnow

log = logging.getLogger(__name__)

SYSTEM = "system"


_checkpoint_every: int | None = None


def use_checkpoint_every(every: int | None) -> None:
    """Sign a checkpoint automatically whenever seq reaches a multiple of `every` (0: never);
    None: the `audit_checkpoint_every` setting, read once. create_app sets it."""
    global _checkpoint_every
    _checkpoint_every = every


def checkpoint_every() -> int:
    """How many records between automatic checkpoints (0: none)."""
    global _checkpoint_every
    if _checkpoint_every is None:
        from civicshare.config import get_settings

        _checkpoint_every = get_settings().audit_checkpoint_every
    return _checkpoint_every


_every = checkpoint_every  # for record() and append_many, whose argument has the same name


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
    every = _every() if checkpoint_every is None else checkpoint_every
    if every and seq % every == 0 and action != CHECKPOINT_ACTION:
        _automatic_checkpoint(session)
    values.update(seq=seq, prev_hash=prev_hash, at=moment, record_hash=record_hash)
    _count(session, values)
    return AuditRecord(id=new_id, **values)


def _count(session: Session, values: dict[str, Any]) -> None:
    metrics.count_audited(
        session,
        values["action"],
        outcome=values.get("outcome"),
        agreement_ref=values.get("agreement_ref"),
        dataset=values.get("dataset"),
        row_count=values.get("row_count"),
    )


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
    every = _every() if checkpoint_every is None else checkpoint_every
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
                _count(session, _values)
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

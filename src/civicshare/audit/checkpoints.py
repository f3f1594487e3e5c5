"""Signed checkpoints as they leave the gateway: published, saved by partners, checked against.

A checkpoint is the gateway's signed statement "the log had `tree_size` records, and the last
of them hashed to `head_hash`, at `at`", in the manner of a transparency log's signed tree
head (Certificate Transparency, Sigstore Rekor). The store keeps its checkpoints, but whoever
can delete records from the store can delete checkpoints too; a copy kept outside the gateway
cannot be deleted that way, and `verify_against` proves the log still holds everything that
copy covers.

Checkpoints are made (see `service.checkpoint`): at a multiple of the `audit_checkpoint_every`
setting as records are appended; by the server every `audit_checkpoint_minutes` when records
were written since the last (`tick`, `every`); as the server shuts down and at the end of
`civicshare demo` (`checkpoint_if_new`); and by `civicshare audit checkpoint`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from civicshare import db
from civicshare.audit import chain, signing
from civicshare.audit import service as audit
from civicshare.audit.models import HEAD_ID, AuditChainHead, AuditCheckpoint, AuditRecord
from civicshare.audit.verification import Problem, VerifyResult

log = logging.getLogger(__name__)

FORMAT = signing.CHECKPOINT_PREFIX


# -- reading -----------------------------------------------------------------------------------


def latest(session: Session) -> AuditCheckpoint | None:
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.number.desc()).limit(1)
    ).first()


def recent(session: Session, *, limit: int = 100, before: int | None = None):
    """Checkpoints newest first; `before` a number: only those older than it."""
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.number.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditCheckpoint.number < before)
    return list(session.scalars(query))


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0


def uncovered(session: Session) -> tuple[int, AuditCheckpoint | None]:
    """How many records were written since the last checkpoint (its own record, which follows
    what it signs, not counted), and that checkpoint. Two reads by key; locks nothing."""
    head = session.scalar(select(AuditChainHead.seq).where(AuditChainHead.id == HEAD_ID)) or 0
    last = latest(session)
    covered = last.seq + 1 if last is not None else 0
    return max(0, head - covered), last


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def document(entry: AuditCheckpoint, public_key=None) -> dict[str, Any]:
    """A checkpoint as the register publishes it and `civicshare audit checkpoint --out`
    saves it: everything needed to check its signature, and the gateway's public key."""
    message = signing.checkpoint_message(entry.number, entry.seq, entry.record_hash, entry.at)
    return {
        "format": FORMAT,
        "number": entry.number,
        "tree_size": entry.seq,
        "head_hash": entry.record_hash,
        "at": chain.utc_text(entry.at),
        "key_id": entry.key_id,
        "signature": entry.signature,
        "signed_text": message.decode(),
        "public_key": signing.public_pem(public_key) if public_key is not None else None,
    }


# -- making ------------------------------------------------------------------------------------


def checkpoint_if_new(
    session: Session, actor=None, *, private_key=None
) -> tuple[AuditCheckpoint | None, bool]:
    """Sign a checkpoint when records were written since the last one; returns the latest
    checkpoint (None when the log is empty) and whether it was signed now. It takes the chain
    head's lock before it looks, so two processes deciding at once sign one checkpoint, not two."""
    session.execute(text("UPDATE audit_chain_head SET seq = seq WHERE id = :id"), {"id": HEAD_ID})
    new, last = uncovered(session)
    if not new:
        return last, False
    entry = audit.checkpoint(session, actor, private_key=private_key)
    return entry, entry is not None


def _key_or_none():
    try:
        return signing.load_or_create_private_key()
    except (OSError, ValueError) as error:
        log.error("audit checkpoint skipped: the signing key cannot be read (%s)", error)
        return None


def tick(sessions, minutes: float, *, now: datetime | None = None) -> float:
    """One look by the server's schedule: sign a checkpoint if records were written since the
    last one and it is at least `minutes` old (or there is none). Returns the seconds until
    the next look is due.

    The look is two reads by key in a short transaction of its own; only when a checkpoint is
    due does a second short transaction lock the chain head, as one append does."""
    interval = minutes * 60
    now = _aware(now or db.utcnow())
    with db.session_scope(sessions) as session:
        new, last = uncovered(session)
    if not new:
        return interval
    if last is not None:
        age = (now - _aware(last.at)).total_seconds()
        if age < interval:
            return max(1.0, interval - age)
    key = _key_or_none()
    if key is not None:
        with db.session_scope(sessions) as session:
            checkpoint_if_new(session, private_key=key)
    return interval


async def every(sessions, minutes: float) -> None:
    """Run `tick` in a worker thread, first after `minutes`, then when it says, until
    cancelled; a failed look is logged and tried again after `minutes`."""
    import asyncio

    delay = minutes * 60
    while True:
        await asyncio.sleep(delay)
        try:
            delay = await asyncio.to_thread(tick, sessions, minutes)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            log.error("scheduled audit checkpoint failed (%s: %s)", type(error).__name__, error)
            delay = minutes * 60


def at_shutdown(sessions) -> AuditCheckpoint | None:
    """The server's last act: sign what was written since the last checkpoint. Never raises
    (a store that has gone away is logged)."""
    key = _key_or_none()
    if key is None:
        return None
    try:
        with db.session_scope(sessions) as session:
            entry, made = checkpoint_if_new(session, private_key=key)
    except Exception as error:  # noqa: BLE001
        log.error("audit checkpoint at shutdown failed (%s: %s)", type(error).__name__, error)
        return None
    return entry if made else None


# -- checking a saved copy ---------------------------------------------------------------------


class BadCheckpoint(ValueError):
    """A saved checkpoint that cannot be read: not JSON, a field missing or of the wrong kind."""


@dataclass(frozen=True)
class Saved:
    """A checkpoint as saved outside the gateway (the fields `document` writes)."""

    number: int
    tree_size: int
    head_hash: str
    at: datetime
    key_id: str
    signature: str

    @property
    def message(self) -> bytes:
        return signing.checkpoint_message(self.number, self.tree_size, self.head_hash, self.at)

    @property
    def name(self) -> str:
        return (
            f"saved checkpoint {self.number:,} (seq {self.tree_size:,}, signed "
            f"{chain.utc_text(self.at)[:19].replace('T', ' ')} UTC)"
        )


def parse(data: Any) -> Saved:
    """A saved checkpoint from its JSON (as `document` writes it); BadCheckpoint names the
    field that is wrong."""
    if not isinstance(data, dict):
        raise BadCheckpoint(
            "a saved checkpoint is a JSON object, as GET /register/checkpoints/latest gives"
        )
    if data.get("format", FORMAT) != FORMAT:
        raise BadCheckpoint(f"format is {data.get('format')!r}; this gateway reads {FORMAT!r}")

    def field(name: str, kind: type):
        value = data.get(name)
        if value is None:
            raise BadCheckpoint(f"the field {name!r} is missing")
        if not isinstance(value, kind) or isinstance(value, bool):
            kind_name = "a whole number" if kind is int else "text"
            raise BadCheckpoint(f"the field {name!r} must be {kind_name}, not {value!r}")
        return value

    number, tree_size = field("number", int), field("tree_size", int)
    head_hash, at_text = field("head_hash", str), field("at", str)
    if number < 1 or tree_size < 1:
        raise BadCheckpoint("number and tree_size must be 1 or more")
    if len(head_hash) != 64 or head_hash.strip("0123456789abcdef"):
        raise BadCheckpoint("head_hash must be 64 lower-case hex digits")
    try:
        at = datetime.strptime(at_text, chain.TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise BadCheckpoint(
            f"at must be a UTC time such as 2026-11-23T09:30:00.000000Z, not {at_text!r}"
        ) from None
    return Saved(number, tree_size, head_hash, at, field("key_id", str), field("signature", str))


def verify_against(session: Session, saved: Saved, *, public_key=None) -> VerifyResult:
    """Check the log against a checkpoint saved outside the gateway: its signature under the
    gateway's public key (or `public_key`), then the whole log as `verify` does, then that
    the record at the checkpoint's tree size is there and is the one signed.

    Records the checkpoint covers that are missing (the log cut short, the head rewritten and
    the later checkpoints deleted with them) are named first; then any break in the chain;
    then a record at the tree size that differs from the one signed (a rewritten history)."""
    key = public_key or signing.load_public_key()
    if key is None:
        return VerifyResult(
            problem=Problem(
                "checkpoint",
                f"the {saved.name} cannot be checked: there is no public key "
                f"({signing.keys_dir() / signing.PUBLIC_NAME}); give one with --public-key",
            )
        )
    gateway_key = signing.key_id(key)
    if not signing.signature_ok(key, saved.message, saved.signature):
        named = "" if saved.key_id == gateway_key else f" (it names key {saved.key_id})"
        return VerifyResult(
            problem=Problem(
                "checkpoint",
                f"the {saved.name} is not signed by the gateway key {gateway_key}{named}: it "
                "was forged or altered, so the log was not checked against it",
                saved.tree_size,
            )
        )
    result = audit.verify(session, public_key=key)
    last_seq = session.scalar(select(func.max(AuditRecord.seq))) or 0
    if last_seq < saved.tree_size:
        missing = (
            f"seq {saved.tree_size:,}"
            if last_seq + 1 == saved.tree_size
            else f"seq {last_seq + 1:,}–{saved.tree_size:,}"
        )
        result.problem = Problem(
            "truncated",
            f"the {saved.name} covers {saved.tree_size:,} records but the log now ends at seq "
            f"{last_seq:,}: records {missing} are missing (the log was cut short: truncated)",
            last_seq + 1,
        )
        return result
    if result.problem is not None:
        return result
    signed = session.scalar(
        select(AuditRecord.record_hash).where(AuditRecord.seq == saved.tree_size)
    )
    if signed != saved.head_hash:
        result.problem = Problem(
            "checkpoint",
            f"the {saved.name}: the record at seq {saved.tree_size:,} is not the one signed "
            f"(its hash is {str(signed)[:16]}…, the checkpoint's {saved.head_hash[:16]}…): the "
            "log up to it was rewritten",
            saved.tree_size,
        )
        return result
    result.against = f"it holds the {saved.name}"
    return result

"""The hash chain's canonical form, version 1: what exactly is hashed, in Python and in SQL.

A record's hash is SHA-256 (lower-case hex) over these bytes:

    b"civicshare-audit-v1\\n" + field_1 + field_2 + ... + field_20

where each field is a netstring of its UTF-8 text, `<byte length>:<bytes>,`, or `~` when the
field is NULL. The fields, in this order, and their text:

     1 seq                decimal
     2 prev_hash          64 hex digits; the first record's is 64 zeros
     3 at                 UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ (always six fraction digits)
     4 action             text
     5 entity_type        text
     6 entity_id          text
     7 person_id          decimal
     8 membership_id      decimal
     9 actor_label        text
    10 actor_partner      text (the actor's partner key at the time)
    11 reason             text
    12 details            the JSON text exactly as stored in the column
    13 purpose            text
    14 agreement_ref      text
    15 agreement_version  decimal
    16 dataset            text
    17 columns            the JSON text exactly as stored in the column
    18 row_count          decimal
    19 output_sha256      text
    20 outcome            text

The store's surrogate `id` is not hashed: `seq` is the record's place in the chain. Netstrings
make the form unambiguous without any escaping, so an outside tool can rebuild it from a plain
`SELECT` and check it with any SHA-256 implementation.

`verify` does not rebuild the form in Python for every record: the store concatenates it in
SQL (`canonical_sql`); on SQLite Python hashes and compares, on PostgreSQL the store hashes it
too (`sha256()`). `canonical()` builds the same bytes in Python, and `netstrings()` is the fast
path appends use; a test holds SQL and Python to each other on both backends.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PREFIX = b"civicshare-audit-v1\n"
GENESIS = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

FIELDS = (
    "seq",
    "prev_hash",
    "at",
    "action",
    "entity_type",
    "entity_id",
    "person_id",
    "membership_id",
    "actor_label",
    "actor_partner",
    "reason",
    "details",
    "purpose",
    "agreement_ref",
    "agreement_version",
    "dataset",
    "columns",
    "row_count",
    "output_sha256",
    "outcome",
)
TIME_FIELDS = {"at"}
JSON_FIELDS = {"details", "columns"}
INT_FIELDS = {"seq", "person_id", "membership_id", "agreement_version", "row_count"}
# Written only with ASCII characters by the gateway (decimal, hex digits).
ASCII_FIELDS = INT_FIELDS | {"prev_hash"}


def utc_text(moment: datetime) -> str:
    """A moment as the chain writes it; naive datetimes (SQLite hands those back) are UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(TIME_FORMAT)


def json_text(value: Any) -> str | None:
    """JSON as SQLAlchemy's JSON type stores it (json.dumps with its defaults)."""
    return None if value is None else json.dumps(value)


def _netstring(text: str | None) -> bytes:
    if text is None:
        return b"~"
    data = text.encode()
    return b"%d:%s," % (len(data), data)


def netstrings(texts) -> bytes:
    """Fields as the canonical form writes them: each a netstring of its text, `~` for None.
    (The fast path of `canonical`; non-text values are written with str().)"""
    out = []
    for text in texts:
        if text is None:
            out.append(b"~")
        else:
            data = (text if isinstance(text, str) else str(text)).encode()
            out.append(b"%d:%s," % (len(data), data))
    return b"".join(out)


def canonical(values: dict[str, Any]) -> bytes:
    """The bytes hashed for one record. `details` and `columns` are given as stored JSON text;
    `at` as a datetime or as its UTC text."""
    parts = [PREFIX]
    for name in FIELDS:
        value = values.get(name)
        if value is None:
            parts.append(b"~")
        elif name in TIME_FIELDS and isinstance(value, datetime):
            parts.append(_netstring(utc_text(value)))
        else:
            parts.append(_netstring(str(value)))
    return b"".join(parts)


def record_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()


def canonical_sql(dialect: str) -> str:
    """A SQL expression over audit_records that yields the canonical text (without PREFIX)."""
    parts = []
    for name in FIELDS:
        if dialect == "postgresql":
            if name in TIME_FIELDS:
                text = f"""to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
            elif name in JSON_FIELDS or name in INT_FIELDS:
                text = f"{name}::text"
            else:
                text = name
            parts.append(f"COALESCE(octet_length({text})::text || ':' || {text} || ',', '~')")
        elif name in TIME_FIELDS:
            # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (ASCII).
            text = f"(replace({name}, ' ', 'T') || 'Z')"
            parts.append(f"COALESCE((length({name}) + 1) || ':' || {text} || ',', '~')")
        elif name in ASCII_FIELDS:
            # Digits and hex only: SQLite's length() (characters) is the byte length, and
            # skipping the CAST to a blob saves about a tenth of verify's SQL. (A tampered
            # value that is not ASCII changes the text, so its hash fails all the same.)
            parts.append(f"COALESCE(length({name}) || ':' || {name} || ',', '~')")
        else:
            parts.append(f"COALESCE(length(CAST({name} AS BLOB)) || ':' || {name} || ',', '~')")
    return " || ".join(parts)


def verify_sql(dialect: str, where: str = "") -> str:
    """Every record's (id, seq, prev_hash, record_hash, canonical text with PREFIX) in chain
    order; `where` an optional condition (e.g. on seq) that picks one part of the chain."""
    prefix = "'civicshare-audit-v1' || " + ("chr(10)" if dialect == "postgresql" else "char(10)")
    return (
        f"SELECT id, seq, prev_hash, record_hash, {prefix} || {canonical_sql(dialect)} "
        f"FROM audit_records {f'WHERE {where} ' if where else ''}ORDER BY seq, id"
    )


@dataclass
class Walked:
    """Where a walk along the chain stopped: the seq the next record must have, the hash it
    must link to and the id of the record before it; `bad` the (id, seq) of the first record
    that did not fit (its seq, its link or its hash), None when all did."""

    expected: int = 1
    prev: str = GENESIS
    last_id: int | None = None
    bad: tuple[int, int] | None = None


def walk(batches: Iterable[Sequence[tuple]], start: Walked | None = None, progress=None) -> Walked:
    """Check rows as `verify_sql` yields them, batch by batch, from `start` (the chain's
    beginning by default); stops at the first record that does not fit. The one loop both
    `verification.verify` and its second process (`audit.segment`) run."""
    state = start or Walked()
    expected, prev, last_id = state.expected, state.prev, state.last_id
    sha256 = hashlib.sha256
    for rows in batches:
        for id_, seq, prev_hash, record_hash, text in rows:
            if (
                seq != expected
                or prev_hash != prev
                or sha256(text.encode()).hexdigest() != record_hash
            ):
                return Walked(expected, prev, last_id, (id_, seq))
            prev, last_id = record_hash, id_
            expected += 1
        if progress:
            progress(expected - 1)
    return Walked(expected, prev, last_id)

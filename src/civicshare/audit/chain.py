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
        else:
            # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC.
            text = f"(replace({name}, ' ', 'T') || 'Z')" if name in TIME_FIELDS else name
            parts.append(f"COALESCE(length(CAST({text} AS BLOB)) || ':' || {text} || ',', '~')")
    return " || ".join(parts)

"""Person keys: random, stable, merged when records link (the older key stays)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from civicshare.linkage.models import (
    IndexedRecord,
    PersonKey,
)

# -- person keys ---------------------------------------------------------------------------


def new_person_key() -> str:
    """A random opaque key: P- and 16 base32 characters (80 random bits)."""
    return "P-" + base64.b32encode(os.urandom(10)).decode()


class Components:
    """Union-find over hashable nodes."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, node):
        parent = self.parent.setdefault(node, node)
        while parent != node:
            grand = self.parent.setdefault(parent, parent)
            self.parent[node] = grand
            node, parent = parent, grand
        return node

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def groups(self) -> dict:
        out: dict = {}
        for node in list(self.parent):
            out.setdefault(self.find(node), []).append(node)
        return out


def _oldest(session: Session, keys: Iterable[str]) -> str:
    rows = session.scalars(select(PersonKey).where(PersonKey.key.in_(list(keys)))).all()
    return min(rows, key=lambda k: (k.created_at, k.key)).key


def merge_keys(session: Session, keys: set[str], now: datetime) -> tuple[str, int]:
    """Merge several person keys into the oldest; returns it and how many were absorbed."""
    keep = _oldest(session, keys)
    others = sorted(keys - {keep})
    if others:
        session.execute(
            IndexedRecord.__table__.update()
            .where(IndexedRecord.person_key.in_(others))
            .values(person_key=keep)
        )
        for row in session.scalars(select(PersonKey).where(PersonKey.key.in_(others))):
            row.merged_into, row.merged_at = keep, now
    return keep, len(others)


def pair_key(source_l, record_l, source_r, record_r) -> tuple[str, str, str, str]:
    """One orientation for a pair, so a label matches whichever way round a run finds it."""
    a, b = (str(source_l), str(record_l)), (str(source_r), str(record_r))
    return (*a, *b) if a <= b else (*b, *a)


def is_pair(table, key: tuple[str, str, str, str]):
    """The SQL condition that a row of `table` (a link, review item or decision, with the
    source_l/record_id_l/source_r/record_id_r columns) is the pair `key` (from pair_key)."""
    return and_(
        table.source_l == key[0],
        table.record_id_l == key[1],
        table.source_r == key[2],
        table.record_id_r == key[3],
    )

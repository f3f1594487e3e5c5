"""Records at another address or under another surname: for a life event, a partner's record
of the person that no rule can tie to them, put to a reviewer.

An elector still registered at a previous address, or registered at a second property, or
still under her maiden surname (or a double-barrelled one) at home, has a name and a property
but no date of birth. Household attachment (`attach`) finds nobody of that
name at the property, so the record joins nobody, and the model never links it (it has no date
of birth). The only evidence is the name: never enough to tell a partner of a death on its own
(a county has many a John Smith), and not nothing either. So each such record whose name agrees
with the event's person under any of their surnames (the registration's maiden surname, and
either part of a double-barrelled one, count; `attach.name_level`: the same, a nickname, or one
letter apart; second given names that both exist must agree) becomes a review item asked by
life events; the event waits for it (`confidence.record_match` counts it as open) and the
partner is told only when a reviewer accepts. A name shared by more than `MAX_CANDIDATES` such
records is not asked about at all: a reviewer has nothing to choose between them by.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.linkage.models import IndexedRecord
from civicshare.linkage.person_index.attach import (
    LEVELS,
    given_names,
    name_level,
    name_question,
    pairs_asked_or_decided,
    surname_of,
)
from civicshare.linkage.person_index.keys import pair_key
from civicshare.linkage.standardised import nickname_groups

ASKED_BY = "life events: another address or surname"
ASKED_LEVELS = LEVELS[:3]  # exact, nickname, one letter apart (never a bare initial)
MAX_CANDIDATES = 5


def _nicknames() -> dict[str, set[str]]:
    """Each given name -> the nickname groups it is in (as household attachment reads them)."""
    groups = nickname_groups()
    return {name: set(g) for name, g in zip(groups["name"], groups["groups"], strict=True)}


def _surnames(text) -> set[str]:
    """The surname whole and each part of a double-barrelled one ("Davies-Holland")."""
    whole = surname_of(text)
    parts = {surname_of(part) for part in re.split(r"[-\s]+", str(text or ""))}
    return {s for s in {whole, *parts} if s}


def candidates(
    records: pd.DataFrame, unplaced: pd.DataFrame, partners: set[str] | None = None
) -> dict[tuple[str, str], list[tuple[tuple[str, str], str]]]:
    """For each of `records` (canonical: source, record_id, given_name, surname; optionally
    other_surnames, a list: a maiden surname), the unplaced records (source, record_id,
    given_name, surname) of `partners` whose name agrees under any of the person's surnames,
    either part of a double-barrelled one counting: record -> [(candidate, level)]. No I/O."""
    nicknames = _nicknames()
    by_surname: dict[str, list] = defaultdict(list)
    for row in unplaced.itertuples(index=False):
        if partners is not None and row.source.partition("/")[0] not in partners:
            continue
        for surname in _surnames(row.surname):
            by_surname[surname].append(((row.source, row.record_id), given_names(row.given_name)))
    found = {}
    for row in records.itertuples(index=False):
        given = given_names(row.given_name)
        surnames = {surname_of(row.surname)}
        surnames |= {surname_of(other) for other in (getattr(row, "other_surnames", None) or ())}
        agreeing: dict[tuple[str, str], str] = {}
        for surname in sorted(s for s in surnames if s):
            for candidate, other_given in by_surname.get(surname, ()):
                level = name_level(given, surname, other_given, surname, nicknames)
                if level in ASKED_LEVELS and candidate not in agreeing:
                    agreeing[candidate] = level
        if 0 < len(agreeing) <= MAX_CANDIDATES:
            found[(row.source, row.record_id)] = sorted(agreeing.items())
    return found


def ask(session: Session, records: pd.DataFrame, attachment, partners: set[str] | None) -> int:
    """Put each candidate pair of `records` (canonical records new to the index this run) to a
    reviewer, once (never a pair already asked or decided). `attachment`: the run's
    attach.Attached. Returns how many review items were made."""
    if attachment is None or attachment.unplaced is None or records is None or records.empty:
        return 0
    found = candidates(records, attachment.unplaced, partners)
    if not found:
        return 0
    indexed = {
        (r.source, r.record_id): r
        for r in session.scalars(
            select(IndexedRecord).where(
                IndexedRecord.source.in_({s for s, _ in found}),
                IndexedRecord.record_id.in_({r for _, r in found}),
            )
        )
    }
    asked = pairs_asked_or_decided(session)
    made = 0
    for record, agreeing in found.items():
        event_record = indexed.get(record)
        if event_record is None:
            continue
        for candidate, level in agreeing:
            key = pair_key(*record, *candidate)
            if key in asked:
                continue
            asked.add(key)
            versions = {
                record: event_record.snapshot_version,
                candidate: attachment.versions[candidate[0]],
            }
            session.add(
                name_question(event_record.run_id, key, versions, ASKED_BY, level, len(agreeing))
            )
            made += 1
    session.flush()
    return made

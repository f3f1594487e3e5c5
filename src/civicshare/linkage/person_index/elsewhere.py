"""Records at another address or under another surname, and records linked to nobody: for a
life event, a partner's record of the person that no rule can tie to them, put to a reviewer.

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

A record with a date of birth can be left alone too: a fire visit to "Ms V Jones" at the house
she left, which the model will not link on a bare initial at another address. Each record that
is the only one of its person, born on the event person's birthday, whose name agrees (a bare
initial counts here: the birthday agrees as well) is asked about likewise (`ask_unlinked`).
"""

from __future__ import annotations

import re
from collections import defaultdict

import pandas as pd
from sqlalchemy import func, select
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
ASKED_BY_UNLINKED = "life events: a record linked to nobody"
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


def _filed(pool: pd.DataFrame, partners: set[str] | None, by: str | None) -> dict[tuple, list]:
    """Each record of `pool` (source, record_id, given_name, surname, ...) of `partners`, filed
    under (its `by` column's value, or None, and a surname) for its surname whole and each
    part of a double-barrelled one: -> [(record, its given names)]."""
    filed: dict[tuple, list] = defaultdict(list)
    for row in pool.itertuples(index=False):
        if partners is not None and row.source.partition("/")[0] not in partners:
            continue
        for surname in _surnames(row.surname):
            filed[(_value(row, by), surname)].append(
                ((row.source, row.record_id), given_names(row.given_name))
            )
    return filed


def _agreeing(records: pd.DataFrame, filed: dict, by: str | None, surnames_of, levels) -> dict:
    """For each of `records`, the records `_filed` under (its `by` value, one of
    `surnames_of(row)`) whose name agrees at one of `levels`, when there are at most
    MAX_CANDIDATES of them: record -> [(candidate, level)]."""
    nicknames = _nicknames()
    found = {}
    for row in records.itertuples(index=False):
        record = (row.source, row.record_id)
        given = given_names(row.given_name)
        agreeing: dict[tuple[str, str], str] = {}
        for surname in sorted(s for s in surnames_of(row) if s):
            for candidate, other_given in filed.get((_value(row, by), surname), ()):
                level = name_level(given, surname, other_given, surname, nicknames)
                if level in levels and candidate != record and candidate not in agreeing:
                    agreeing[candidate] = level
        if 0 < len(agreeing) <= MAX_CANDIDATES:
            found[record] = sorted(agreeing.items())
    return found


def _value(row, column: str | None):
    return getattr(row, column) if column else None


def _others(row) -> list:
    return getattr(row, "other_surnames", None) or []


def candidates(
    records: pd.DataFrame, unplaced: pd.DataFrame, partners: set[str] | None = None
) -> dict[tuple[str, str], list[tuple[tuple[str, str], str]]]:
    """For each of `records` (canonical: source, record_id, given_name, surname; optionally
    other_surnames, a list: a maiden surname), the unplaced records (source, record_id,
    given_name, surname) of `partners` whose name agrees under any of the person's surnames,
    either part of a double-barrelled one counting: record -> [(candidate, level)]. No I/O."""
    return _agreeing(
        records,
        _filed(unplaced, partners, None),
        None,
        lambda row: {surname_of(row.surname), *(surname_of(o) for o in _others(row))},
        ASKED_LEVELS,
    )


def unlinked_candidates(
    records: pd.DataFrame,
    indexed: pd.DataFrame,
    partners: set[str] | None = None,
    registers: set[str] = frozenset(),
) -> dict[tuple[str, str], list[tuple[tuple[str, str], str]]]:
    """For each of `records` (canonical with date_of_birth; optionally other_surnames), the
    records of `indexed` (canonical with person_key) of `partners`, never of `registers`, that
    are the only record of their person, born on the same day, whose name agrees under any of
    the person's surnames: at any level, a bare initial too, since the date of birth agrees as
    well (a fire visit to "Ms V Jones" at the house she left). record -> [(candidate, level)].
    No I/O."""
    counts = indexed["person_key"].value_counts()
    alone = indexed[
        indexed["person_key"].map(counts).eq(1)
        & indexed["date_of_birth"].notna()
        & ~indexed["source"].isin(registers)
    ]
    return _agreeing(
        records[records["date_of_birth"].fillna("") != ""],
        _filed(alone, partners, "date_of_birth"),
        "date_of_birth",
        lambda row: _surnames(row.surname).union(*(_surnames(o) for o in _others(row))),
        LEVELS,
    )


def ask(session: Session, records: pd.DataFrame, attachment, partners: set[str] | None) -> int:
    """Put each candidate pair of `records` (canonical records new to the index this run) to a
    reviewer, once (never a pair already asked or decided). `attachment`: the run's
    attach.Attached. Returns how many review items were made."""
    if attachment is None or attachment.unplaced is None or records is None or records.empty:
        return 0
    found = candidates(records, attachment.unplaced, partners)
    if not found:
        return 0
    indexed = _indexed(session, set(found))
    versions = {
        **{record: r.snapshot_version for record, r in indexed.items()},
        **{c: attachment.versions[c[0]] for agreeing in found.values() for c, _ in agreeing},
    }
    return _put(session, found, indexed, versions, ASKED_BY)


def ask_unlinked(
    session: Session,
    records: pd.DataFrame,
    indexed: pd.DataFrame | None,
    partners: set[str] | None,
    registers: set[str] = frozenset(),
) -> int:
    """Put to a reviewer, once, each record of `partners` that the index linked to nobody and
    whose name and date of birth agree with one of `records` (`unlinked_candidates`): the model
    weighs a different address and a bare initial too heavily to link them, and a person is
    never told on a name and a birthday alone. Returns how many review items were made."""
    if indexed is None or records is None or records.empty:
        return 0
    found = unlinked_candidates(records, indexed, partners, registers)
    if not found:
        return 0
    candidates_of = {c for agreeing in found.values() for c, _ in agreeing}
    stored = _indexed(session, set(found) | candidates_of)
    # alone in the run's records, but a record attached by household shares the person's key
    keys = {stored[c].person_key for c in candidates_of if c in stored}
    shared = set(
        session.scalars(
            select(IndexedRecord.person_key)
            .where(IndexedRecord.person_key.in_(keys))
            .group_by(IndexedRecord.person_key)
            .having(func.count() > 1)
        )
    )
    found = {
        record: kept
        for record, agreeing in found.items()
        if (
            kept := [
                (c, level)
                for c, level in agreeing
                if c in stored and stored[c].person_key not in shared
            ]
        )
    }
    versions = {record: r.snapshot_version for record, r in stored.items()}
    return _put(session, found, stored, versions, ASKED_BY_UNLINKED)


def _indexed(session: Session, records: set[tuple[str, str]]) -> dict:
    """(source, record_id) -> IndexedRecord, for these records."""
    return {
        (r.source, r.record_id): r
        for r in session.scalars(
            select(IndexedRecord).where(
                IndexedRecord.source.in_({s for s, _ in records}),
                IndexedRecord.record_id.in_({r for _, r in records}),
            )
        )
        if (r.source, r.record_id) in records
    }


def _put(session: Session, found: dict, indexed: dict, versions: dict, asked_by: str) -> int:
    """Each pair of `found` (record -> [(candidate, level)]) made a review item once, in the run
    of the record's IndexedRecord (`indexed`); the ends' snapshot versions from `versions`.
    Returns how many were made."""
    asked = pairs_asked_or_decided(session)
    made = 0
    for record, agreeing in found.items():
        if record not in indexed:
            continue
        for candidate, level in agreeing:
            key = pair_key(*record, *candidate)
            if key in asked:
                continue
            asked.add(key)
            ends = {record: versions[record], candidate: versions[candidate]}
            session.add(
                name_question(indexed[record].run_id, key, ends, asked_by, level, len(agreeing))
            )
            made += 1
    session.flush()
    return made

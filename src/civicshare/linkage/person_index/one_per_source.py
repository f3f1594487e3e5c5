"""One person, at most one record of a dataset that declares it holds no one twice.

A dataset's contract says ``one_record_per_person: true`` when no person appears twice in its
files (a GP list, a council's residents file). Twins at one address with one date of birth and
names a nickname explains (Emily and Millie) are then two people in that dataset, whatever the
model says of them. Before a run groups its links into people, the links it would store go
through ``engine.one_person_per_source``: no link between two records of such a dataset, at
most one link from a record to each other such dataset (maximum total match weight), and a
person that would still hold two of its records (joined through a dataset that may repeat a
person, such as hospital admissions) split at the weakest link.

The index is incremental: a person already in it is not split by a later run. Its records
enter the check held together by links no model weight reaches, so a new record's weaker link
is the one cut. Links a reviewer accepted are held the same way. The links cut are not stored;
each goes to clerical review (a reviewer may still accept it), and the run's report counts
them. No reviewer is asked about two records of one such dataset, nor about records of two
such datasets that each already link to another record of the other's (``not_asked``): the
declaration answers those.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.linkage.models import IndexedRecord

# Heavier than any match weight a model gives (they stay within about ±60): never the weakest.
HELD = 1e12


def duplicate_free_sources(plans) -> set[str]:
    """The sources whose current contract declares one record per person."""
    return {
        p.source
        for p in plans
        if getattr(getattr(p.snapshot, "contract", None), "one_record_per_person", False)
    }


def keep_one_per_source(
    session: Session,
    plans,
    pairs: pd.DataFrame,
    masks: tuple[pd.Series, pd.Series, pd.Series],
    frames: tuple[pd.DataFrame | None, pd.DataFrame],
) -> tuple[pd.Series, pd.Series, dict | None]:
    """``masks``: over ``pairs``, linked, to review (grey) and accepted by a reviewer (never
    cut). Returns ``linked`` less the links that would give a person two records of a
    duplicate-free source, the pairs to review (``not_asked`` leaves some out; the cut links
    go in), and what to put in the run's report (None when no source is duplicate-free)."""
    linked, grey, forced = masks
    duplicate_free = duplicate_free_sources(plans)
    if not duplicate_free:
        return linked, grey, None
    cut = pd.Series(False, index=pairs.index)
    if linked.any():
        linked, cut, report = _cut(session, pairs, linked, forced, frames, duplicate_free)
    else:
        report = {"sources": sorted(duplicate_free), "cut": 0, "split": 0}
    asked = grey | cut
    needless = not_asked(pairs, linked, duplicate_free) & asked
    report["not_asked"] = int(needless.sum())
    return linked, asked & ~needless, report


def not_asked(pairs: pd.DataFrame, linked: pd.Series, duplicate_free: set[str]) -> pd.Series:
    """Pairs no reviewer need see: two records of one duplicate-free source (two people, as
    the source declares), or records of two such sources that each already link to another
    record of the other's source (one-to-one: neither can take the other)."""
    source_l, source_r = pairs["source_l"].astype(str), pairs["source_r"].astype(str)
    free_l, free_r = source_l.isin(duplicate_free), source_r.isin(duplicate_free)
    within = free_l & (source_l == source_r)
    taken: set[tuple[str, str, str]] = set()  # (source, record id, source of a linked record)
    for sl, rl, sr, rr in pairs.loc[linked & free_l & free_r & (source_l != source_r),
                                    ["source_l", "record_id_l", "source_r", "record_id_r"]
                                    ].astype(str).itertuples(index=False):  # fmt: skip
        taken.add((sl, rl, sr))
        taken.add((sr, rr, sl))
    ends = zip(source_l, pairs["record_id_l"].astype(str), source_r,
               pairs["record_id_r"].astype(str), strict=True)  # fmt: skip
    both_taken = [
        (sl, rl, sr) in taken and (sr, rr, sl) in taken and sl != sr for sl, rl, sr, rr in ends
    ]
    return within | (pd.Series(both_taken, index=pairs.index) & free_l & free_r & ~linked)


def _cut(session, pairs, linked, forced, frames, duplicate_free):
    """The links ``engine.one_person_per_source`` cuts, with a person already indexed held
    together."""
    cut = pd.Series(False, index=pairs.index)
    existing, new = frames
    columns = ["source_l", "record_id_l", "source_r", "record_id_r"]
    links = pairs.loc[linked, columns].astype(str)
    links["match_weight"] = np.where(
        forced[linked].to_numpy(dtype=bool),
        HELD,
        pairs.loc[linked, "match_weight"].astype(float).fillna(0.0).to_numpy(),
    )
    records = pd.concat(
        [f[["source", "record_id"]] for f in (existing, new) if f is not None and len(f)],
        ignore_index=True,
    ).astype(str)
    held = _held_together(session, existing, duplicate_free)
    everything = pd.concat([links, held], ignore_index=True) if len(held) else links
    keep, splits = _engine().one_person_per_source(records, everything, duplicate_free)
    dropped = ~keep[: len(links)]
    cut.loc[links.index[dropped]] = True
    report = {"sources": sorted(duplicate_free), "cut": int(dropped.sum()), "split": len(splits)}
    return linked & ~cut, cut, report


def _held_together(session: Session, existing, duplicate_free: set[str]) -> pd.DataFrame:
    """Links that hold each person already in the index together (a star from its first
    record), for the people holding a record of a duplicate-free source."""
    columns = ["source_l", "record_id_l", "source_r", "record_id_r", "match_weight"]
    if existing is None or not len(existing):
        return pd.DataFrame(columns=columns)
    wanted = set(zip(existing["source"], existing["record_id"], strict=True))
    members: dict[str, list[tuple[str, str]]] = {}
    for source, record_id, key in session.execute(
        select(IndexedRecord.source, IndexedRecord.record_id, IndexedRecord.person_key).where(
            IndexedRecord.source.in_({s for s, _ in wanted})
        )
    ):
        if (source, record_id) in wanted:
            members.setdefault(key, []).append((source, record_id))
    rows = [
        (*first, *other, HELD)
        for records in members.values()
        if len(records) > 1 and any(s in duplicate_free for s, _ in records)
        for first in records[:1]
        for other in records[1:]
    ]
    return pd.DataFrame(rows, columns=columns)


def _engine():
    from civicshare.linkage import engine

    return engine

"""How sure the index is about one record's person, for a service that acts on that record alone
(life events: a death is told only to partners whose records are surely the same person).

The records taken as the same person are those the record is linked to *directly* by a strong
link: made by the model at `strict` match probability or above, or accepted by a reviewer. Not
the whole cluster behind its person key: a chain through a third record can join two people
(a utility's register without dates of birth links strongly to both members of a couple; in
the benchmark that carried 2% of deaths to the wrong partner). A direct link is also doubted
when the other record's own links contradict it (`_contradicted`: a household's fire visit
linked to one resident's GP record and to another resident's death). A weaker or doubted direct
link is put in front of a reviewer once, as a review item, and the record is uncertain until it
is decided; so is the record while an open review item names it.
`max_hops` > 1 follows strong links further. Nothing here reads a snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from civicshare.linkage.models import (
    IndexedLink,
    IndexedRecord,
    LinkageDecision,
    LinkOrigin,
    ReviewItem,
    ReviewStatus,
)
from civicshare.linkage.person_index.attach import ATTACHMENT, is_attachment
from civicshare.linkage.person_index.keys import is_pair, pair_key


@dataclass
class RecordMatch:
    """The records surely the same person as the one asked about, and what is still open."""

    person_key: str | None
    same_person: list[tuple[str, str]] = field(default_factory=list)  # (source, record id)
    open_reviews: int = 0  # on the record or on a record reached
    queued_reviews: int = 0  # weak links put to a reviewer by this call

    @property
    def certain(self) -> bool:
        return self.person_key is not None and self.open_reviews == 0


def _links_of(session: Session, nodes: set[tuple[str, str]]) -> list[IndexedLink]:
    if not nodes:
        return []
    clauses = []
    for source, record_id in nodes:
        clauses.append(and_(IndexedLink.source_l == source, IndexedLink.record_id_l == record_id))
        clauses.append(and_(IndexedLink.source_r == source, IndexedLink.record_id_r == record_id))
    found = []
    for start in range(0, len(clauses), 200):
        found += session.scalars(select(IndexedLink).where(or_(*clauses[start : start + 200])))
    return found


def _open_reviews(session: Session, nodes: set[tuple[str, str]]) -> list[ReviewItem]:
    clauses = []
    for source, record_id in nodes:
        clauses.append(and_(ReviewItem.source_l == source, ReviewItem.record_id_l == record_id))
        clauses.append(and_(ReviewItem.source_r == source, ReviewItem.record_id_r == record_id))
    return list(
        session.scalars(
            select(ReviewItem).where(ReviewItem.status == ReviewStatus.open, or_(*clauses))
        )
    )


def _queue_weak(session: Session, link: IndexedLink) -> bool:
    """Put a weak or contradicted link to a reviewer, once (never when a reviewer already
    decided the pair)."""
    key = pair_key(link.source_l, link.record_id_l, link.source_r, link.record_id_r)
    decided = session.scalars(
        select(LinkageDecision.id).where(is_pair(LinkageDecision, key))
    ).first()
    asked = session.scalars(select(ReviewItem.id).where(is_pair(ReviewItem, key))).first()
    if decided is not None or asked is not None:
        return False
    left = _record(session, key[0], key[1])
    right = _record(session, key[2], key[3])
    if left is None or right is None:
        return False
    p = min(max(link.match_probability, 1e-9), 1 - 1e-9)
    session.add(
        ReviewItem(
            run_id=link.run_id or left.run_id,
            source_l=key[0],
            snapshot_version_l=left.snapshot_version,
            record_id_l=key[1],
            source_r=key[2],
            snapshot_version_r=right.snapshot_version,
            record_id_r=key[3],
            match_weight=math.log2(p / (1 - p)),
            match_probability=link.match_probability,
            waterfall={"flipped": False, "comparisons": {}, "asked_by": "life events"},
        )
    )
    return True


def _record(session: Session, source: str, record_id: str) -> IndexedRecord | None:
    return session.scalars(
        select(IndexedRecord).where(
            IndexedRecord.source == source, IndexedRecord.record_id == record_id
        )
    ).one_or_none()


def _contradicted(session: Session, start, direct: set, strict: float) -> set:
    """Records linked to `start` whose other links contradict it: linked to a record of a
    source where `start` is linked to other records only (a household's fire visit linked to
    one resident's GP record and, by the household's name and address, to another's death).
    Each goes to a reviewer (once); a reviewer's acceptance settles it."""
    mine: dict[str, set[str]] = {start[0]: {start[1]}}
    links = _links_of(session, direct | {start})
    accepted = set()
    for link in links:
        ends = ((link.source_l, link.record_id_l), (link.source_r, link.record_id_r))
        if start in ends:
            other = ends[1] if ends[0] == start else ends[0]
            mine.setdefault(other[0], set()).add(other[1])
            if link.origin == LinkOrigin.reviewer:
                accepted.add(other)
    doubtful = set()
    for link in links:
        ends = ((link.source_l, link.record_id_l), (link.source_r, link.record_id_r))
        if start in ends:
            continue
        for record, other in (ends, ends[::-1]):
            if (
                record in direct
                and record not in accepted
                and other[1] not in mine.get(other[0], {other[1]})
            ):
                doubtful.add(record)
    for record in doubtful:
        for link in links:
            ends = {(link.source_l, link.record_id_l), (link.source_r, link.record_id_r)}
            if ends == {start, record}:
                _queue_weak(session, link)
    return doubtful


def record_match(
    session: Session, source: str, record_id: str, strict: float, *, max_hops: int = 1
) -> RecordMatch:
    """The record's person, surely: every record reached by at most `max_hops` strong links
    (the record itself excluded), the reviews open on the record and on those reached before
    the last hop, and weak links on the way queued for review."""
    start = _record(session, source, record_id)
    if start is None:
        return RecordMatch(None)
    reached = {(source, record_id)}
    frontier = {(source, record_id)}
    inner = set(frontier)  # records whose own open reviews count
    queued = 0
    weak_seen: set[int] = set()
    for _hop in range(max_hops):
        if not frontier:
            break
        following = set()
        for link in _links_of(session, frontier):
            if is_attachment(link):
                continue  # followed last, from the records reached (below)
            left, right = (link.source_l, link.record_id_l), (link.source_r, link.record_id_r)
            strong = link.origin == LinkOrigin.reviewer or link.match_probability >= strict
            if not strong:
                if link.id not in weak_seen:
                    weak_seen.add(link.id)
                    queued += _queue_weak(session, link)
                continue
            for node in (left, right):
                if node not in reached:
                    reached.add(node)
                    following.add(node)
        if _hop == 0:
            following -= _contradicted(session, (source, record_id), following, strict)
            reached &= following | {(source, record_id)}
        frontier = following
        if _hop + 1 < max_hops:
            inner |= following
    session.flush()
    attached, asked = _attached(session, reached)
    open_items = _open_reviews(session, inner)
    return RecordMatch(
        start.person_key,
        sorted((reached | attached) - {(source, record_id)}),
        len(open_items) + asked,
        queued,
    )


def _attached(session: Session, reached: set[tuple[str, str]]) -> tuple[set, int]:
    """Records without a date of birth attached to a record reached (household attachment:
    unambiguous by construction), and how many attachment reviews are open on those reached
    (an ambiguous account or elector at the person's home: the answer may add a recipient)."""
    found = set()
    for link in _links_of(session, reached):
        if is_attachment(link):
            ends = {(link.source_l, link.record_id_l), (link.source_r, link.record_id_r)}
            found |= ends - reached
    asked = sum(
        1
        for item in _open_reviews(session, reached)
        if (item.waterfall or {}).get("asked_by") == ATTACHMENT
    )
    return found, asked


def person_records(session: Session, person_key: str | None) -> list[tuple[str, str]]:
    """Every record the index gives this person key (source, record id): the whole cluster,
    chains through third records included, so not all of them surely the same person."""
    if not person_key:
        return []
    rows = session.execute(
        select(IndexedRecord.source, IndexedRecord.record_id).where(
            IndexedRecord.person_key == person_key
        )
    ).all()
    return sorted((source, record_id) for source, record_id in rows)

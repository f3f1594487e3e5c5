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

With `beyond` (life events), one hop more: a record linked to a direct one *by a reviewer's
acceptance* is the same person too (a reviewer compared the two); a record linked to a direct
one by the model only (at any probability: a chain is what joins two people) is put to a
reviewer as that pair, once, and the record is uncertain while a review on it or on its direct
records is open. Nothing is told on such a link until a reviewer accepts it.

`match_many` answers for many records at once with a few reads of the links (not a read per
record); `record_match` is one record. Nothing here reads a snapshot.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
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

Node = tuple[str, str]  # (source, record id)
CHUNK = 400  # record ids per IN list
ASKED_DIRECT = "life events"
ASKED_BEYOND = "life events: beyond the direct links"


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


def _by_source(nodes: Iterable[Node]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for source, record_id in sorted(set(nodes)):
        grouped[source].append(record_id)
    return grouped


def _chunks(values: list[str]):
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


class _Links:
    """The links touching records, read per source in chunks of record ids and kept by
    record, so each record's links are read once however often they are asked for."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.at: dict[Node, list[IndexedLink]] = {}

    def load(self, nodes: Iterable[Node]) -> None:
        missing = {n for n in nodes if n not in self.at}
        if not missing:
            return
        for node in missing:
            self.at[node] = []
        seen: set[int] = set()
        for source, ids in _by_source(missing).items():
            for part in _chunks(ids):
                query = select(IndexedLink).where(
                    or_(
                        and_(IndexedLink.source_l == source, IndexedLink.record_id_l.in_(part)),
                        and_(IndexedLink.source_r == source, IndexedLink.record_id_r.in_(part)),
                    )
                )
                for link in self.session.scalars(query):
                    if link.id in seen:
                        continue
                    seen.add(link.id)
                    for end in (
                        (link.source_l, link.record_id_l),
                        (link.source_r, link.record_id_r),
                    ):
                        if end in missing:
                            self.at[end].append(link)

    def of(self, node: Node) -> list[IndexedLink]:
        self.load([node])
        return self.at[node]


def _ends(link: IndexedLink) -> tuple[Node, Node]:
    return (link.source_l, link.record_id_l), (link.source_r, link.record_id_r)


def _other(link: IndexedLink, node: Node) -> Node:
    left, right = _ends(link)
    return right if left == node else left


def _strong(link: IndexedLink, strict: float) -> bool:
    return link.origin == LinkOrigin.reviewer or link.match_probability >= strict


def _records(session: Session, nodes: Iterable[Node]) -> dict[Node, IndexedRecord]:
    found = {}
    for source, ids in _by_source(nodes).items():
        for part in _chunks(ids):
            for row in session.scalars(
                select(IndexedRecord).where(
                    IndexedRecord.source == source, IndexedRecord.record_id.in_(part)
                )
            ):
                found[(row.source, row.record_id)] = row
    return found


def _open_reviews(session: Session, nodes: Iterable[Node]) -> dict[Node, list[ReviewItem]]:
    """The open review items naming each of `nodes` (an item naming two is under both)."""
    wanted = set(nodes)
    found: dict[Node, list[ReviewItem]] = defaultdict(list)
    seen: set[int] = set()
    for source, ids in _by_source(wanted).items():
        for part in _chunks(ids):
            query = select(ReviewItem).where(
                ReviewItem.status == ReviewStatus.open,
                or_(
                    and_(ReviewItem.source_l == source, ReviewItem.record_id_l.in_(part)),
                    and_(ReviewItem.source_r == source, ReviewItem.record_id_r.in_(part)),
                ),
            )
            for item in session.scalars(query):
                if item.id in seen:
                    continue
                seen.add(item.id)
                for end in ((item.source_l, item.record_id_l), (item.source_r, item.record_id_r)):
                    if end in wanted:
                        found[end].append(item)
    return found


def _asked_or_decided(session: Session, keys: set[tuple[str, str, str, str]]) -> set:
    """Which of these pairs a reviewer was already asked about or decided."""
    done = set()
    keys = sorted(keys)
    for start in range(0, len(keys), 100):
        part = keys[start : start + 100]
        for table in (LinkageDecision, ReviewItem):
            rows = session.execute(
                select(table.source_l, table.record_id_l, table.source_r, table.record_id_r).where(
                    or_(*(is_pair(table, key) for key in part))
                )
            ).all()
            done |= {tuple(row) for row in rows}
    return done


def _queue(session: Session, links: dict[int, tuple[IndexedLink, str]]) -> int:
    """Put each link (id -> (link, asked by)) to a reviewer, once: never a pair already asked
    or decided. Returns how many review items were made."""
    if not links:
        return 0
    keys = {lid: pair_key(*_ends(link)[0], *_ends(link)[1]) for lid, (link, _) in links.items()}
    done = _asked_or_decided(session, set(keys.values()))
    records = _records(session, {end for link, _ in links.values() for end in _ends(link)})
    made = 0
    for lid, (link, asked_by) in sorted(links.items()):
        key = keys[lid]
        left, right = records.get(key[:2]), records.get(key[2:])
        if key in done or left is None or right is None:
            continue
        done.add(key)
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
                waterfall={"flipped": False, "comparisons": {}, "asked_by": asked_by},
            )
        )
        made += 1
    return made


def _contradicted(links: _Links, start: Node, direct: set[Node]) -> tuple[set, list]:
    """Records linked to `start` whose other links contradict it: linked to a record of a
    source where `start` is linked to other records only (a household's fire visit linked to
    one resident's GP record and, by the household's name and address, to another's death).
    Returns them and their links to `start`, each to go to a reviewer (once); a reviewer's
    acceptance settles it."""
    mine: dict[str, set[str]] = {start[0]: {start[1]}}
    accepted = set()
    for link in links.of(start):
        other = _other(link, start)
        mine.setdefault(other[0], set()).add(other[1])
        if link.origin == LinkOrigin.reviewer:
            accepted.add(other)
    doubtful = set()
    for record in direct:
        if record in accepted:
            continue
        for link in links.of(record):
            other = _other(link, record)
            if other != start and other[1] not in mine.get(other[0], {other[1]}):
                doubtful.add(record)
                break
    to_ask = [link for link in links.of(start) if _other(link, start) in doubtful]
    return doubtful, to_ask


@dataclass
class _Found:
    """One record's answer while it is worked out."""

    reached: set[Node]
    inner: set[Node]  # records whose own open reviews count


def _strong_neighbours(links: _Links, start: Node, strict: float, ask: dict) -> set[Node]:
    """The records `start` is linked to by strong links (attachments aside: followed last,
    from the records reached); its weak links go into `ask`. Reads nothing new."""
    direct = set()
    for link in links.of(start):
        if is_attachment(link):
            continue
        if _strong(link, strict):
            direct.add(_other(link, start))
        else:
            ask.setdefault(link.id, (link, ASKED_DIRECT))
    return direct


def _direct(links: _Links, start: Node, strong: set[Node], ask: dict) -> set[Node]:
    """Of the strong neighbours, those nothing contradicts (their links read already);
    contradicted links go into `ask`."""
    doubtful, to_ask = _contradicted(links, start, strong)
    for link in to_ask:
        ask.setdefault(link.id, (link, ASKED_DIRECT))
    return strong - doubtful


def _beyond(
    links: _Links, start: Node, direct: set[Node], ask: dict, partners: set[str] | None
) -> set[Node]:
    """Records one hop past the direct ones: reached through a reviewer's acceptance; a model
    link to one not reached otherwise goes into `ask` (the strongest such link per record),
    when the record's partner is one of `partners` (None: any)."""
    reached, candidates = set(), {}
    for record in sorted(direct):
        for link in links.of(record):
            if is_attachment(link):
                continue
            other = _other(link, record)
            if other == start or other in direct or other[0] == start[0]:
                continue
            if link.origin == LinkOrigin.reviewer:
                reached.add(other)
            elif other not in candidates or (
                link.match_probability > candidates[other].match_probability
            ):
                candidates[other] = link
    for other, link in sorted(candidates.items()):
        if other not in reached and (partners is None or other[0].partition("/")[0] in partners):
            ask.setdefault(link.id, (link, ASKED_BEYOND))
    return reached


def match_many(
    session: Session,
    records: Iterable[Node],
    strict: float,
    *,
    beyond: bool = False,
    ask_partners: set[str] | None = None,
) -> dict[Node, RecordMatch]:
    """For each record (source, record id): every record surely the same person (the record
    itself excluded), the reviews open on it (and, with `beyond`, on its direct records), and
    the weak links on the way put to a reviewer. `ask_partners`: with `beyond`, only records
    of these partners one hop out are asked about (the others would not be acted on: a
    partner without the agreement). A record not in the index gets RecordMatch(None)."""
    records = list(dict.fromkeys(records))
    ask: dict[int, tuple[IndexedLink, str]] = {}
    found: dict[Node, _Found] = {}
    links = _Links(session)
    with session.no_autoflush:  # reads of links and records only: nothing pending matters
        starts = _records(session, records)
        links.load(starts)
        strong = {s: _strong_neighbours(links, s, strict, ask) for s in records if s in starts}
        links.load({n for ns in strong.values() for n in ns})  # one read for every batch
        for start, neighbours in strong.items():
            direct = _direct(links, start, neighbours, ask)
            reached, inner = set(direct), {start}
            if beyond:
                reached |= _beyond(links, start, direct, ask, ask_partners)
                inner |= direct
            found[start] = _Found(reached, inner)
        reached_all = {n for f in found.values() for n in f.reached | f.inner}
        links.load(reached_all)
    queued = _queue(session, ask)
    session.flush()
    reviews = _open_reviews(session, reached_all)
    out = {}
    for start in records:
        if start not in found:
            out[start] = RecordMatch(None)
            continue
        f = found[start]
        # Records without a date of birth attached to the record or a record reached (household
        # attachment: unambiguous by construction), and the attachment reviews open on those
        # (an ambiguous account or elector at the person's home: the answer may add a recipient).
        anchors = f.reached | {start}
        attached = {
            end
            for record in anchors
            for link in links.of(record)
            if is_attachment(link)
            for end in _ends(link)
        } - anchors
        inner_items = {item.id for node in f.inner for item in reviews.get(node, ())}
        attaching = {
            item.id
            for node in anchors
            for item in reviews.get(node, ())
            if (item.waterfall or {}).get("asked_by") == ATTACHMENT
        }
        out[start] = RecordMatch(
            starts[start].person_key,
            sorted((f.reached | attached) - {start}),
            len(inner_items) + len(attaching - inner_items),
            queued if len(records) == 1 else 0,
        )
    return out


def record_match(
    session: Session, source: str, record_id: str, strict: float, *, beyond: bool = False
) -> RecordMatch:
    """One record's person, surely (`match_many` for one record)."""
    return match_many(session, [(source, record_id)], strict, beyond=beyond)[(source, record_id)]


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

"""Clerical review: the grey-zone pairs put to a reviewer, and their decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.datasets import service as datasets
from civicshare.linkage.models import (
    IndexedLink,
    IndexedRecord,
    Label,
    LinkageDecision,
    LinkOrigin,
    PersonKey,
    ReviewItem,
    ReviewStatus,
)
from civicshare.linkage.person_index.attach import ATTACHMENT, attachment_plan
from civicshare.linkage.person_index.keys import (
    Components,
    is_pair,
    merge_keys,
    new_person_key,
    pair_key,
)
from civicshare.linkage.person_index.run import write_mapping
from civicshare.linkage.person_index.sources import (
    FIELD_LABELS,
    REVIEW_PURPOSE,
    REVIEWER_ROLES,
    LinkageError,
    NotAllowed,
    NotFound,
    canonical,
    plan_for,
    read_source,
)

# -- clerical review -----------------------------------------------------------------------


def may_review(actor: Actor, settings: Settings) -> bool:
    """IG leads and admins of the partner that runs the gateway: they see both records."""
    return actor.partner_key == settings.host_partner and actor.has_role(*REVIEWER_ROLES)


def _require_reviewer(actor: Actor, settings: Settings) -> None:
    if not may_review(actor, settings):
        raise NotAllowed(
            "Clerical review of the person index is for IG leads and admins of the partner "
            "that runs the gateway, acting for it."
        )


def queue(
    session: Session, status_: str | ReviewStatus = ReviewStatus.open, limit: int = 200
) -> list[ReviewItem]:
    try:
        wanted = ReviewStatus(status_)
    except ValueError:
        raise LinkageError(
            f"{status_!r} is not a review status: use one of "
            + ", ".join(s.value for s in ReviewStatus),
            status=422,
        ) from None
    return list(
        session.scalars(
            select(ReviewItem)
            .where(ReviewItem.status == wanted)
            .order_by(ReviewItem.match_probability.desc(), ReviewItem.id)
            .limit(limit)
        )
    )


def get_item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound(f"There is no review item {item_id}.")
    return item


def item_dict(item: ReviewItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "run": item.run_id,
        "status": item.status.value,
        "left": {"source": item.source_l, "record_id": item.record_id_l,
                 "snapshot_version": item.snapshot_version_l},
        "right": {"source": item.source_r, "record_id": item.record_id_r,
                  "snapshot_version": item.snapshot_version_r},
        "match_weight": item.match_weight,
        "match_probability": item.match_probability,
        "waterfall": waterfall(item),
    }  # fmt: skip


def waterfall(item: ReviewItem) -> list[dict[str, Any]]:
    """Each comparison's match weight, from the prior to the final weight: what moved the
    model towards or away from a match. Weights only; no values."""
    comparisons = (item.waterfall or {}).get("comparisons", {})
    steps = []
    total = 0.0
    for name, facts in comparisons.items():
        weight = facts.get("weight")
        if weight is None:
            continue
        steps.append({"comparison": name, "weight": weight, "level": facts.get("level")})
        total += weight
    prior = item.match_weight - total
    rows = [{"comparison": "prior", "weight": prior, "level": None}, *steps]
    running = 0.0
    scale = max((abs(r["weight"]) for r in rows), default=1.0) or 1.0
    for row in rows:
        running += row["weight"]
        row["cumulative"] = running
        row["percent"] = round(min(abs(row["weight"]) / scale, 1.0) * 100, 1)
        name = row["comparison"].removeprefix("tf_adj_")
        row["label"] = FIELD_LABELS.get(name, name.replace("_", " ").capitalize())
        if row["comparison"].startswith("tf_adj_"):
            row["label"] += ": how common the value is"
        if row["comparison"] == "prior":
            row["label"] = "Prior (before any comparison)"
    return rows


def _plan_for_source(session: Session, settings: Settings, source: str, version: int):
    partner, _, dataset = source.partition("/")
    snapshot = datasets.snapshot(session, partner, dataset, version, settings)
    if snapshot is None or snapshot.status == "purged":
        raise NotFound(f"{source} version {version} is no longer held, so it cannot be shown.")
    plan = plan_for(snapshot) or attachment_plan(snapshot)
    if plan is None:
        raise NotFound(f"{source} no longer holds people.")
    return plan


def review_pair(session: Session, settings: Settings, actor: Actor, item_id: int) -> dict[str, Any]:
    """The two records side by side, decrypted for the reviewer; the view is audited first."""
    _require_reviewer(actor, settings)
    item = get_item(session, item_id)
    sides = []
    for source, version, record_id in (
        (item.source_l, item.snapshot_version_l, item.record_id_l),
        (item.source_r, item.snapshot_version_r, item.record_id_r),
    ):
        plan = _plan_for_source(session, settings, source, version)
        table = read_source(
            session,
            settings,
            plan,
            actor=actor,
            action="person_index_pair_viewed",
            purpose=REVIEW_PURPOSE,
            record_ids=[record_id],
            details={"review_item": item.id},
        )
        records = canonical(plan, table)
        values = records.iloc[0].to_dict() if len(records) else {}
        title = _dataset_title(session, source)
        sides.append(
            {
                "source": source,
                "title": title,
                "record_id": record_id,
                "version": version,
                "values": {k: values.get(k) for k in FIELD_LABELS},
            }
        )
    rows = [
        {
            "field": name,
            "label": label,
            "left": sides[0]["values"].get(name),
            "right": sides[1]["values"].get(name),
        }
        for name, label in FIELD_LABELS.items()
        if sides[0]["values"].get(name) or sides[1]["values"].get(name)
    ]
    for row in rows:
        left, right = row["left"], row["right"]
        row["same"] = bool(left and right and str(left).upper() == str(right).upper())
    key_of = {
        (r.source, r.record_id): r.person_key
        for r in session.scalars(
            select(IndexedRecord).where(
                or_(
                    (IndexedRecord.source == item.source_l)
                    & (IndexedRecord.record_id == item.record_id_l),
                    (IndexedRecord.source == item.source_r)
                    & (IndexedRecord.record_id == item.record_id_r),
                )
            )
        )
    }
    sides[0]["person_key"] = key_of.get((item.source_l, item.record_id_l))
    sides[1]["person_key"] = key_of.get((item.source_r, item.record_id_r))
    return {
        "item": item,
        "sides": sides,
        "rows": rows,
        "waterfall": waterfall(item),
        "asked": why_asked(item),
    }


def why_asked(item: ReviewItem) -> str | None:
    """Why a rule, not the model, put this pair to a reviewer (a name question from life
    events or household attachment: no comparisons scored), for the review page; None for a
    pair the model scored."""
    facts = item.waterfall or {}
    if facts.get("comparisons") or not facts.get("asked_by"):
        return None
    text = f"Asked by {facts['asked_by']}."
    if facts.get("name"):
        text += f" The names agree ({facts['name']})"
        if facts.get("candidates"):
            text += f"; {facts['candidates']} record(s) agree this well for this person"
        text += "."
    return text


def _dataset_title(session: Session, source: str) -> str:
    partner, _, dataset = source.partition("/")
    found = datasets.get_dataset(session, partner, dataset)
    return found.title if found else source


def decide(
    session: Session,
    settings: Settings,
    actor: Actor,
    item_id: int,
    *,
    accept: bool,
    reason: str = "",
) -> ReviewItem:
    """Accept (the two records are one person: their keys merge, the older stays) or reject
    (never link them: if they share a key, the cluster splits). Kept as a training label."""
    item = _decide(session, settings, actor, item_id, accept=accept, reason=reason)
    write_mapping(session, settings, None)  # after the audit record, as in run()
    return item


def decide_many(
    session: Session, settings: Settings, actor: Actor, decisions: list[tuple[int, bool, str]]
) -> list[ReviewItem]:
    """Several decisions (item id, accept, reason), each as `decide` makes it, in the caller's
    unit of work, with the person mapping file written once after them all rather than once
    each (a reviewer's batch; it was most of a decision's time). An item an earlier decision
    of the batch superseded is skipped. Returns the items decided."""
    decided = []
    for item_id, accept, reason in decisions:
        if get_item(session, item_id).status == ReviewStatus.superseded:
            continue
        decided.append(_decide(session, settings, actor, item_id, accept=accept, reason=reason))
    if decided:
        write_mapping(session, settings, None)
    return decided


def _decide(
    session: Session,
    settings: Settings,
    actor: Actor,
    item_id: int,
    *,
    accept: bool,
    reason: str = "",
) -> ReviewItem:
    _require_reviewer(actor, settings)
    item = get_item(session, item_id)
    if item.status != ReviewStatus.open:
        raise LinkageError(f"Review item {item.id} was already {item.status.value}.")
    key = pair_key(item.source_l, item.record_id_l, item.source_r, item.record_id_r)
    now = datetime.now(UTC)
    existing = session.scalars(
        select(LinkageDecision).where(is_pair(LinkageDecision, key))
    ).one_or_none()
    if existing is not None:
        session.delete(existing)
        session.flush()
    session.add(
        LinkageDecision(
            review_item_id=item.id,
            source_l=key[0],
            record_id_l=key[1],
            source_r=key[2],
            record_id_r=key[3],
            label=Label.match if accept else Label.non_match,
            reason=reason.strip(),
            decided_by=actor.label,
            decided_at=now,
        )
    )
    left = _record(session, key[0], key[1])
    right = _record(session, key[2], key[3])
    facts: dict[str, Any] = {"review_item": item.id, "match_probability": item.match_probability}
    if accept:
        item.status = ReviewStatus.accepted
        linked = session.scalars(select(IndexedLink).where(is_pair(IndexedLink, key))).one_or_none()
        if linked is not None:  # a weak model link put to review (life events): now confirmed
            linked.origin = LinkOrigin.reviewer
        else:
            session.add(
                IndexedLink(
                    source_l=key[0],
                    record_id_l=key[1],
                    source_r=key[2],
                    record_id_r=key[3],
                    match_probability=item.match_probability,
                    origin=LinkOrigin.reviewer,
                    run_id=None,
                    # an ambiguous household attachment decided: the record is attached
                    evidence={"method": ATTACHMENT, "decided_by": "reviewer"}
                    if (item.waterfall or {}).get("asked_by") == ATTACHMENT
                    else None,
                )
            )
        if left and right and left.person_key != right.person_key:
            kept, _ = merge_keys(session, {left.person_key, right.person_key}, now)
            facts.update(merged=True, person_key=kept)
            facts.update(superseded=_supersede_within(session, kept, item.id))
    else:
        item.status = ReviewStatus.rejected
        session.execute(delete(IndexedLink).where(is_pair(IndexedLink, key)))
        if left and right and left.person_key == right.person_key:
            facts.update(
                split=_split(session, left.person_key, ((key[0], key[1]), (key[2], key[3])), now)
            )
    session.flush()
    audit.record(
        session,
        actor,
        "person_index_review_" + ("accepted" if accept else "rejected"),
        "linkage_review_item",
        item.id,
        reason=reason.strip(),
        purpose=REVIEW_PURPOSE,
        details={**facts, "decision": item.status.value},
    )
    return item


def _supersede_within(session: Session, person_key: str, decided: int) -> int:
    """Open pairs whose records are now one person need no decision: mark them superseded."""
    members = set(
        session.execute(
            select(IndexedRecord.source, IndexedRecord.record_id).where(
                IndexedRecord.person_key == person_key
            )
        ).all()
    )
    count = 0
    for other in session.scalars(select(ReviewItem).where(ReviewItem.status == ReviewStatus.open)):
        if (
            other.id != decided
            and (other.source_l, other.record_id_l) in members
            and (
                other.source_r,
                other.record_id_r,
            )
            in members
        ):
            other.status = ReviewStatus.superseded
            count += 1
    return count


def _record(session: Session, source: str, record_id: str) -> IndexedRecord | None:
    return session.scalars(
        select(IndexedRecord).where(
            IndexedRecord.source == source, IndexedRecord.record_id == record_id
        )
    ).one_or_none()


def _split(session: Session, person_key: str, pair: tuple[tuple, tuple], now) -> list[str]:
    """A rejected pair shares a key: recompute the cluster's components from its links; while
    they still connect, cut the weakest link on a shortest path between the two (the one
    nearest the right-hand record on a tie; a reviewer's acceptance is cut last). The
    reviewer's word wins at the least cost in evidence: a death registration surely linked to
    the person's GP record keeps that link when a namesake's fire visit, joined to it through
    weaker links, is rejected. The part holding the oldest record keeps the key; each other
    part gets a new one."""
    members = session.scalars(
        select(IndexedRecord).where(IndexedRecord.person_key == person_key)
    ).all()
    ids = {(m.source, m.record_id) for m in members}
    strength: dict[tuple, float] = {}
    for k in session.scalars(
        select(IndexedLink).where(
            IndexedLink.source_l.in_({s for s, _ in ids}),
            IndexedLink.record_id_l.in_({r for _, r in ids}),  # not every link of the sources
        )
    ):
        ends = ((k.source_l, k.record_id_l), (k.source_r, k.record_id_r))
        if ends[0] in ids and ends[1] in ids:
            strength[ends] = 2.0 if k.origin == LinkOrigin.reviewer else k.match_probability
    cut = []
    while (path := _path(strength, *pair)) is not None:
        weakest = min(strength[link] for link in path)
        link = [link for link in path if strength[link] == weakest][-1]
        del strength[link]
        cut.append(link)
    for (source_l, record_l), (source_r, record_r) in cut:
        session.execute(
            delete(IndexedLink).where(
                IndexedLink.source_l == source_l,
                IndexedLink.record_id_l == record_l,
                IndexedLink.source_r == source_r,
                IndexedLink.record_id_r == record_r,
            )
        )
    components = Components()
    for record in ids:
        components.find(record)
    for a, b in strength:
        components.union(a, b)
    groups = list(components.groups().values())
    by_record = {(m.source, m.record_id): m for m in members}
    groups.sort(key=lambda g: min(by_record[r].id for r in g))
    new_keys = []
    for group in groups[1:]:
        key = new_person_key()
        session.add(PersonKey(key=key, split_from=person_key, created_at=now))
        for record in group:
            by_record[record].person_key = key
        new_keys.append(key)
    return new_keys


def _path(links, start, goal) -> list[tuple] | None:
    """The links (as keys of `links`) of a shortest path from start to goal, in order; None
    when they are not connected."""
    neighbours: dict[tuple, list] = {}
    for link in links:
        a, b = link
        neighbours.setdefault(a, []).append((b, link))
        neighbours.setdefault(b, []).append((a, link))
    came: dict[tuple, tuple | None] = {start: None}
    frontier = [start]
    while frontier and goal not in came:
        following = []
        for node in frontier:
            for other, link in neighbours.get(node, ()):
                if other not in came:
                    came[other] = (node, link)
                    following.append(other)
        frontier = following
    if goal not in came:
        return None
    path, node = [], goal
    while came[node] is not None:
        node, link = came[node]
        path.append(link)
    return path[::-1]

"""The person index: every person-holding dataset linked, each record given a stable
pseudonymous person key, and the uncertain pairs put to a person for clerical review.

Interface for the API, pages, CLI and other domains
---------------------------------------------------
* `run(session, settings, actor=None, retrain=False) -> RunOutcome` links each current
  person-holding snapshot not yet in the index, incrementally: new records are compared with
  each other and with the index, never the index with itself. The model is trained on the first
  run (or with `retrain`) and stored with that run.
* `status(session) -> IndexStatus`, `runs(session)`, `get_run(session, id)`.
* `queue(session, status="open")`, `review_pair(session, settings, actor, item_id)` (the two
  records decrypted for the reviewer; the view is audited), `decide(session, settings, actor,
  item_id, accept=..., reason=...)`: accepted pairs merge (the older key stays), rejected pairs
  are never linked again (splitting a cluster if they shared one). Both are kept as labels.
* `person_keys_of(session, source)`: record id -> person key (for tests and the API).

The read path
-------------
Linkage reads identifiers, so it is a read path like any other: `_read` builds an internal
grant (the person-index purpose, the contract's identifier columns only, identifiable) and hands
it to the sharing compiler, `compile_grant` and `run`, the one executor of the data plane. Every
read is audited (`person_index_read`) with the purpose, the columns and the row count; a
reviewer's view of a pair is audited (`person_index_pair_viewed`) before it is shown. Nothing
here writes a value: the store holds source names, record ids, random person keys, weights and
HMACs; the mapping Parquet holds the same. See docs/decisions/0011-person-index.md.
"""

from __future__ import annotations

import base64
import dataclasses
import hmac
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements.models import Treatment
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.datasets import service as datasets
from civicshare.linkage.models import (
    IndexedLink,
    IndexedRecord,
    IndexedSource,
    Label,
    LinkageDecision,
    LinkageRun,
    LinkOrigin,
    PersonKey,
    ReviewItem,
    ReviewStatus,
    RunStatus,
)
from civicshare.partners.models import PartnerStatus, Role

PURPOSE = (
    "Maintain the partnership's person index: link records about the same resident across "
    "datasets and give each a stable pseudonymous person key."
)  # at most 200 characters: the audit log's purpose column
REVIEW_PURPOSE = "Clerical review of a pair of records the person index could not decide."
# The internal grant's name in audit records; it is not an agreement between partners.
INTERNAL_GRANT = "person-index"
# The grey zone: pairs from this match probability up to the model's threshold go to review.
DEFAULT_REVIEW_LOWER = 0.3
INDEX_DIR = "person-index"
MAPPING_FILE = f"{INDEX_DIR}/mapping.parquet"
MAPPING_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("snapshot", pa.string()),  # "<partner>/<dataset>/v<N>": what the compiler joins on
        ("record_id", pa.string()),
        ("person_key", pa.string()),
    ]
)

# Contract identifier kinds -> canonical linkage columns (engine.CANONICAL_COLUMNS).
CANONICAL_OF = {
    "nhs_number": "nhs_number",
    "given_name": "given_name",
    "family_name": "surname",
    "full_name": "full_name",
    "date_of_birth": "date_of_birth",
    "postcode": "postcode",
    "address": "address",
    "uprn": "uprn",
    "other_id": "other_id",
}
SEX_COLUMNS = ("sex", "gender", "sex_code")
REVIEWER_ROLES = (Role.ig_lead, Role.admin)
FIELD_LABELS = {
    "given_name": "Given name",
    "surname": "Surname",
    "date_of_birth": "Date of birth",
    "sex": "Sex",
    "nhs_number": "NHS number",
    "other_id": "Other identifier",
    "address": "Address",
    "postcode": "Postcode",
    "uprn": "UPRN",
}


class LinkageError(DomainError):
    """A request of the person index that cannot be met; the message says why."""


class NotAllowed(LinkageError):
    status = 403


class NotFound(LinkageError):
    pass


# -- which datasets hold people, and what linkage reads of them ----------------------------


@dataclass(frozen=True)
class SourcePlan:
    """What the person index reads of one snapshot: decided from its contract alone."""

    source: str  # partner/dataset
    snapshot: Any  # datasets.SnapshotInfo
    columns: dict[str, tuple[str, ...]]  # canonical column -> contract columns (in order)
    record_id: str  # contract column, or "_row" when the contract names none

    @property
    def read_columns(self) -> list[str]:
        wanted = [c for names in self.columns.values() for c in names]
        return list(dict.fromkeys(wanted))


def plan_for(snapshot) -> SourcePlan | None:
    """The columns linkage needs, or None when the dataset does not hold people (it needs a
    name and a date of birth or an NHS number)."""
    columns: dict[str, list[str]] = {}
    for column in snapshot.contract.columns:
        kind = column.identifier.value
        if kind in CANONICAL_OF:
            columns.setdefault(CANONICAL_OF[kind], []).append(column.name)
        elif column.name.lower() in SEX_COLUMNS and not column.is_identifier:
            columns.setdefault("sex", []).append(column.name)
    named = {"given_name", "surname", "full_name"} & set(columns)
    if not named or not ({"date_of_birth", "nhs_number"} & set(columns)):
        return None
    record_id = snapshot.contract.record_id or "_row"
    if record_id != "_row":
        stored = snapshot.storage.get(record_id, {})
        if not stored.get("plain"):  # an identifier as record id: use the row number instead
            record_id = "_row"
    return SourcePlan(
        source=f"{snapshot.partner_key}/{snapshot.dataset_name}",
        snapshot=snapshot,
        columns={k: tuple(v) for k, v in columns.items()},
        record_id=record_id,
    )


def person_sources(session: Session, settings: Settings) -> list[SourcePlan]:
    """Every dataset whose current snapshot holds people, from an active partner."""
    from civicshare.partners import service as partners

    plans = []
    for row in datasets.list_datasets(session):
        if row.current_version is None:
            continue
        partner = partners.get_by_key(session, row.partner_key)
        if partner is None or partner.status in (PartnerStatus.suspended, PartnerStatus.left):
            continue
        snapshot = datasets.current_snapshot(session, row.partner_key, row.dataset.name, settings)
        plan = plan_for(snapshot) if snapshot else None
        if plan is not None:
            plans.append(plan)
    return plans


def _read(
    session: Session,
    settings: Settings,
    plan: SourcePlan,
    *,
    actor: Actor | None,
    action: str,
    purpose: str,
    record_ids: Iterable[str] | None = None,
    details: dict | None = None,
) -> pa.Table:
    """The plan's columns of its snapshot, through the sharing compiler (the one executor),
    decrypted; audited. With `record_ids`, only those records."""
    from civicshare.sharing import compile as compiler
    from civicshare.sharing.delivery import snapshot_readers, snapshot_view
    from civicshare.sharing.service import ColumnGrant, Grant

    snapshot = plan.snapshot
    view = snapshot_view(settings, snapshot)
    if plan.record_id == "_row":
        columns = {**view.columns, "_row": compiler.StoredColumn(name="_row", plain="_row")}
        view = dataclasses.replace(view, columns=columns)
    wanted = list(dict.fromkeys([plan.record_id, *plan.read_columns]))
    grant = Grant(
        agreement=INTERNAL_GRANT,
        version=1,
        provider=snapshot.partner_key,
        recipient=settings.host_partner,
        dataset=snapshot.dataset_name,
        columns=tuple(ColumnGrant(c, Treatment.identifiable) for c in wanted),
    )
    compiled = compiler.compile_grant(grant, view)
    if record_ids is not None:
        listed = ", ".join("'" + str(r).replace("'", "''") + "'" for r in record_ids) or "NULL"
        quoted = '"' + plan.record_id.replace('"', '""') + '"'
        compiled = dataclasses.replace(
            compiled,
            sql=f"SELECT * FROM ({compiled.sql}) WHERE CAST({quoted} AS VARCHAR) IN ({listed})",
        )
    table = compiler.run(
        compiled,
        view,
        agreement_key=None,
        **snapshot_readers(settings, snapshot),
    )
    audit.record(
        session,
        actor,
        action,
        "dataset",
        plan.source,
        reason=f"Read under the internal {INTERNAL_GRANT} grant: identifier columns only.",
        purpose=purpose,
        dataset=plan.source,
        columns=wanted,
        row_count=table.num_rows,
        outcome="allowed",
        details={"snapshot": snapshot.version, "grant": INTERNAL_GRANT, **(details or {})},
    )
    return table


def _text(values: list) -> list[str | None]:
    out = []
    for value in values:
        if value is None:
            out.append(None)
        else:
            text = str(value).strip()
            out.append(text or None)
    return out


def canonical(plan: SourcePlan, table: pa.Table) -> pd.DataFrame:
    """The engine's canonical records (engine.CANONICAL_COLUMNS) from the columns read."""
    data = {name: _text(table.column(name).to_pylist()) for name in table.column_names}
    n = table.num_rows
    frame: dict[str, list] = {
        "source": [plan.source] * n,
        "record_id": [str(v) for v in table.column(plan.record_id).to_pylist()],
    }

    def first(kind: str) -> list:
        names = plan.columns.get(kind, ())
        if not names:
            return [None] * n
        return data[names[0]]

    def joined(kind: str) -> list:
        names = plan.columns.get(kind, ())
        rows = zip(*(data[name] for name in names), strict=True) if names else [()] * n
        return [" ".join(v for v in row if v) or None for row in rows]

    given, surname = joined("given_name"), first("surname")
    if "full_name" in plan.columns:
        for i, full in enumerate(first("full_name")):
            parts = (full or "").split()
            if parts and surname[i] is None:
                surname[i] = parts[-1]
                given[i] = given[i] or (" ".join(parts[:-1]) or None)
    frame.update(
        given_name=given,
        surname=surname,
        date_of_birth=[v[:10] if v else None for v in first("date_of_birth")],
        sex=first("sex"),
        nhs_number=first("nhs_number"),
        other_id=first("other_id"),
        address=joined("address"),
        postcode=first("postcode"),
        uprn=first("uprn"),
    )
    records = pd.DataFrame(frame)
    return records.drop_duplicates(subset=["record_id"], keep="first", ignore_index=True)


def _evidence_key(settings: Settings) -> bytes:
    from civicshare.identity import service as identity

    return identity.agreement_key(settings, INTERNAL_GRANT)


def evidence(settings: Settings, records: pd.DataFrame) -> list[str]:
    """A keyed hash (HMAC-SHA256) of each record's identifiers: the same only when nothing the
    linkage looks at has changed. Keyed, so it cannot be tested against guessed values."""
    key = _evidence_key(settings)
    fields = [c for c in FIELD_LABELS if c in records.columns]
    out = []
    for row in records[fields].itertuples(index=False):
        text = "\x1f".join("" if v is None or v != v else str(v) for v in row)
        out.append(hmac.digest(key, text.encode(), "sha256").hex())
    return out


# -- person keys ---------------------------------------------------------------------------


def new_person_key() -> str:
    """A random opaque key: P- and 16 base32 characters (80 random bits)."""
    return "P-" + base64.b32encode(os.urandom(10)).decode()


class _Components:
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


def _merge_keys(session: Session, keys: set[str], now: datetime) -> tuple[str, int]:
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


def _pair_key(source_l, record_l, source_r, record_r) -> tuple[str, str, str, str]:
    """One orientation for a pair, so a label matches whichever way round a run finds it."""
    a, b = (str(source_l), str(record_l)), (str(source_r), str(record_r))
    return (*a, *b) if a <= b else (*b, *a)


# -- a run ---------------------------------------------------------------------------------


@dataclass
class RunOutcome:
    run: LinkageRun | None
    message: str
    sources: list[str] = field(default_factory=list)


def _model(session: Session, retrain: bool):
    from civicshare.linkage import engine

    if retrain:
        return None, None
    trained = session.scalars(
        select(LinkageRun)
        .where(LinkageRun.trained.is_(True), LinkageRun.status == RunStatus.done)
        .order_by(LinkageRun.id.desc())
    ).first()
    if trained is None:
        return None, None
    return engine.LinkageModel.from_json(trained.model_json), trained.id


def labels(session: Session) -> pd.DataFrame:
    """Reviewers' decisions as training labels: source_l, record_id_l, source_r, record_id_r,
    is_match."""
    rows = session.scalars(select(LinkageDecision).order_by(LinkageDecision.id)).all()
    return pd.DataFrame(
        [
            (d.source_l, d.record_id_l, d.source_r, d.record_id_r, d.label == Label.match)
            for d in rows
        ],
        columns=["source_l", "record_id_l", "source_r", "record_id_r", "is_match"],
    )


def _train(records: pd.DataFrame, session: Session):
    from civicshare.linkage import engine

    return engine.train(records, seed=1, labels=labels(session))


def run(
    session: Session,
    settings: Settings,
    *,
    actor: Actor | None = None,
    retrain: bool = False,
    review_lower: float = DEFAULT_REVIEW_LOWER,
    progress=None,
) -> RunOutcome:
    """Link every current person-holding snapshot not yet indexed (incrementally)."""
    from civicshare.linkage import engine

    say = progress or (lambda message: None)
    started = time.monotonic()
    plans = person_sources(session, settings)
    indexed = {s.source: s for s in session.scalars(select(IndexedSource))}
    pending = [
        p
        for p in plans
        if p.source not in indexed or indexed[p.source].snapshot_version != p.snapshot.version
    ]
    if not pending and not retrain:
        return RunOutcome(None, "The person index is up to date: no new snapshot to link.")

    the_run = LinkageRun(
        started_by=actor.label if actor else audit.SYSTEM,
        purpose=PURPOSE,
        snapshots=[p.snapshot.ref for p in pending],
    )
    session.add(the_run)
    session.flush()

    # Records already in the index, read again from their snapshots (never stored in clear).
    current = {p.source: p for p in plans}
    existing_frames, new_frames = [], []
    stored = {
        (r.source, r.record_id): r
        for r in session.scalars(select(IndexedRecord).where(IndexedRecord.source.in_(current)))
    }
    for plan in plans:
        pending_source = plan in pending
        # Every current source is read: unchanged ones are the `existing` records new ones
        # are compared with (values are never kept between runs).
        say(f"Reading {plan.snapshot.ref}")
        table = _read(
            session,
            settings,
            plan,
            actor=actor,
            action="person_index_read",
            purpose=PURPOSE,
            details={"run": the_run.id},
        )
        records = canonical(plan, table)
        records["evidence"] = evidence(settings, records)
        known = [
            (plan.source, rid) in stored and stored[(plan.source, rid)].evidence == ev
            for rid, ev in zip(records["record_id"], records["evidence"], strict=True)
        ]
        known = pd.Series(known, index=records.index, dtype=bool)
        existing_frames.append(records[known])
        new_frames.append(records[~known])
        if pending_source:
            # Records gone from the dataset, or whose evidence changed, leave the index.
            keep_ids = set(records.loc[known, "record_id"])
            gone = [rid for (src, rid) in stored if src == plan.source and rid not in keep_ids]
            _forget(session, plan.source, gone)
            session.execute(
                IndexedRecord.__table__.update()
                .where(IndexedRecord.source == plan.source)
                .values(snapshot_version=plan.snapshot.version)
            )
    # Sources no longer current (dataset withdrawn, partner suspended) leave the index.
    for source in set(indexed) - set(current):
        _forget(
            session,
            source,
            session.scalars(
                select(IndexedRecord.record_id).where(IndexedRecord.source == source)
            ).all(),
        )
        session.delete(indexed[source])

    columns = [*engine.CANONICAL_COLUMNS, "evidence"]
    existing = pd.concat(existing_frames, ignore_index=True) if existing_frames else None
    new = pd.concat(new_frames, ignore_index=True) if new_frames else pd.DataFrame(columns=columns)
    if existing is not None and existing.empty:
        existing = None
    the_run.new_records = len(new)
    the_run.existing_records = 0 if existing is None else len(existing)

    model, model_run = _model(session, retrain)
    if model is None:
        everything = pd.concat([f for f in (existing, new) if f is not None], ignore_index=True)
        say(f"Training the model on {len(everything):,} records")
        model = _train(everything[list(engine.CANONICAL_COLUMNS)], session)
        the_run.trained, the_run.model_json, model_run = True, model.to_json(), the_run.id
        if retrain and existing is not None:
            # A retrained model scores the whole index again; keys stay where evidence holds.
            new, existing = everything, None
    the_run.model_run_id = model_run
    threshold = float(model.recommended_threshold)
    lower = min(review_lower, threshold)
    the_run.threshold, the_run.review_lower = threshold, lower

    say(f"Scoring {len(new):,} new records against {the_run.existing_records:,} indexed")
    if len(new):
        pairs = engine.predict(
            model,
            new[list(engine.CANONICAL_COLUMNS)],
            existing=None if existing is None else existing[list(engine.CANONICAL_COLUMNS)],
            threshold=lower,
        )
    else:
        pairs = pd.DataFrame(
            columns=["source_l", "record_id_l", "source_r", "record_id_r", "match_weight",
                     "match_probability"]
        )  # fmt: skip
    decided = {
        _pair_key(d.source_l, d.record_id_l, d.source_r, d.record_id_r): d.label
        for d in session.scalars(select(LinkageDecision))
    }
    pair_keys = [
        _pair_key(*row)
        for row in pairs[["source_l", "record_id_l", "source_r", "record_id_r"]].itertuples(
            index=False
        )
    ]
    labelled = pd.Series([decided.get(k) for k in pair_keys], index=pairs.index, dtype=object)
    probability = pairs["match_probability"].astype(float)
    linked = (probability >= threshold) & (labelled != Label.non_match) | (labelled == Label.match)
    grey = (probability < threshold) & (probability >= lower) & labelled.isna()
    the_run.pairs = len(pairs)

    now = datetime.now(UTC)
    new_records = {(s, r): ev for s, r, ev in new[["source", "record_id", "evidence"]].itertuples(
        index=False
    )}  # fmt: skip
    existing_keys = {}
    if existing is not None:
        wanted = set(zip(existing["source"], existing["record_id"], strict=True))
        for row in session.scalars(
            select(IndexedRecord).where(IndexedRecord.source.in_({s for s, _ in wanted}))
        ):
            if (row.source, row.record_id) in wanted:
                existing_keys[(row.source, row.record_id)] = row.person_key
    previous_keys = {}
    if retrain:
        previous_keys = {
            (r.source, r.record_id): r.person_key for r in session.scalars(select(IndexedRecord))
        }
        session.execute(delete(IndexedLink).where(IndexedLink.origin == LinkOrigin.model))

    components = _Components()
    for record in new_records:
        components.find(("R", *record))
    link_rows = []
    for key, probability_value in zip(
        [k for k, keep in zip(pair_keys, linked, strict=True) if keep],
        probability[linked],
        strict=True,
    ):
        left, right = (key[0], key[1]), (key[2], key[3])
        node_l = ("K", existing_keys[left]) if left in existing_keys else ("R", *left)
        node_r = ("K", existing_keys[right]) if right in existing_keys else ("R", *right)
        components.union(node_l, node_r)
        link_rows.append((key, float(probability_value)))
    if retrain:  # links reviewers accepted still hold
        for link in session.scalars(select(IndexedLink)):
            a, b = (link.source_l, link.record_id_l), (link.source_r, link.record_id_r)
            if a in new_records and b in new_records:
                components.union(("R", *a), ("R", *b))

    assigned: dict[tuple[str, str], str] = {}
    merges = 0
    for members in components.groups().values():
        keys = {m[1] for m in members if m[0] == "K"}
        records_here = [(m[1], m[2]) for m in members if m[0] == "R"]
        if retrain:
            keys |= {previous_keys[r] for r in records_here if r in previous_keys}
        if len(keys) > 1:
            keep, absorbed = _merge_keys(session, keys, now)
            merges += absorbed
        elif keys:
            keep = next(iter(keys))
        else:
            keep = new_person_key()
            session.add(PersonKey(key=keep, created_run_id=the_run.id))
        for record in records_here:
            assigned[record] = keep
    session.flush()

    plan_of = {p.source: p for p in plans}
    current_rows = {
        (r.source, r.record_id): r
        for r in session.scalars(select(IndexedRecord).where(IndexedRecord.source.in_(plan_of)))
    }
    for (source, record_id), key in assigned.items():
        row = current_rows.get((source, record_id))
        if row is None:
            session.add(
                IndexedRecord(
                    source=source,
                    snapshot_version=plan_of[source].snapshot.version,
                    record_id=record_id,
                    person_key=key,
                    evidence=new_records[(source, record_id)],
                    run_id=the_run.id,
                )
            )
        else:
            row.person_key, row.run_id = key, the_run.id
            row.evidence = new_records[(source, record_id)]
            row.snapshot_version = plan_of[source].snapshot.version
    known_links = {
        _pair_key(k.source_l, k.record_id_l, k.source_r, k.record_id_r)
        for k in session.scalars(select(IndexedLink))
    }
    for key, probability_value in link_rows:
        if key not in known_links:
            known_links.add(key)
            session.add(
                IndexedLink(
                    source_l=key[0],
                    record_id_l=key[1],
                    source_r=key[2],
                    record_id_r=key[3],
                    match_probability=probability_value,
                    origin=LinkOrigin.model,
                    run_id=the_run.id,
                )
            )
    the_run.links, the_run.merges = len(link_rows), merges
    session.flush()

    # The grey zone: pairs not already in one person go to review (once).
    key_of = {
        (r.source, r.record_id): r.person_key
        for r in session.scalars(select(IndexedRecord).where(IndexedRecord.source.in_(plan_of)))
    }
    open_pairs = {
        _pair_key(i.source_l, i.record_id_l, i.source_r, i.record_id_r)
        for i in session.scalars(select(ReviewItem).where(ReviewItem.status == ReviewStatus.open))
    }
    mw_columns = [c for c in pairs.columns if c.startswith("mw_")]
    review = 0
    for index in pairs.index[grey]:
        pair = pairs.loc[index]
        key = _pair_key(pair.source_l, pair.record_id_l, pair.source_r, pair.record_id_r)
        left, right = (key[0], key[1]), (key[2], key[3])
        if key in open_pairs or key_of.get(left) == key_of.get(right):
            continue
        open_pairs.add(key)
        flipped = (str(pair.source_l), str(pair.record_id_l)) != left
        waterfall = {
            c[3:]: {
                "weight": _number(pair[c]),
                "level": _number(pair.get("gamma_" + c[3:])),
            }
            for c in mw_columns
        }
        session.add(
            ReviewItem(
                run_id=the_run.id,
                source_l=left[0],
                snapshot_version_l=plan_of[left[0]].snapshot.version,
                record_id_l=left[1],
                source_r=right[0],
                snapshot_version_r=plan_of[right[0]].snapshot.version,
                record_id_r=right[1],
                match_weight=float(pair.match_weight),
                match_probability=float(pair.match_probability),
                waterfall={"flipped": flipped, "comparisons": waterfall},
            )
        )
        review += 1
    the_run.review_items = review

    for plan in pending:
        row = session.get(IndexedSource, plan.source)
        count = sum(1 for (s, _r) in key_of if s == plan.source)
        if row is None:
            session.add(
                IndexedSource(
                    source=plan.source,
                    snapshot_version=plan.snapshot.version,
                    record_count=count,
                    run_id=the_run.id,
                )
            )
        else:
            row.snapshot_version, row.record_count, row.run_id = (
                plan.snapshot.version,
                count,
                the_run.id,
            )
    session.flush()
    the_run.persons = session.scalar(select(func.count(func.distinct(IndexedRecord.person_key))))
    try:
        the_run.report = _report(session, existing, new, pairs, threshold)
    except Exception as error:  # the index stands without its report; say why
        the_run.error = f"The linkage report could not be built: {type(error).__name__}"
    the_run.status = RunStatus.done
    the_run.finished_at = datetime.now(UTC)
    the_run.seconds = round(time.monotonic() - started, 3)
    audit.record(
        session,
        actor,
        "person_index_run",
        "linkage_run",
        the_run.id,
        reason="Linked new snapshots into the person index.",
        purpose=PURPOSE,
        row_count=the_run.new_records,
        details={
            "snapshots": the_run.snapshots,
            "trained": the_run.trained,
            "threshold": threshold,
            "review_lower": lower,
            "existing_records": the_run.existing_records,
            "pairs": the_run.pairs,
            "links": the_run.links,
            "review_items": review,
            "persons": the_run.persons,
            "merges": merges,
        },
    )
    # The file last: if the audit record cannot be written, nothing changes on disk either.
    the_run.mapping_path = write_mapping(session, settings, the_run.id)
    session.flush()
    return RunOutcome(
        the_run,
        f"Linked {_plural(the_run.new_records, 'new record')} from "
        f"{_plural(len(pending), 'snapshot')}: {_plural(the_run.persons, 'person')} in the "
        f"index, {_plural(review, 'pair')} to review.",
        [p.snapshot.ref for p in pending],
    )


def _plural(n: int, noun: str) -> str:
    if noun == "person":
        return f"{n:,} {'person' if n == 1 else 'people'}"
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def _forget(session: Session, source: str, record_ids: list[str]) -> None:
    """Records that left a source leave the index: their rows, links and open reviews."""
    for start in range(0, len(record_ids), 500):
        chunk = record_ids[start : start + 500]
        session.execute(
            delete(IndexedRecord).where(
                IndexedRecord.source == source, IndexedRecord.record_id.in_(chunk)
            )
        )
        session.execute(
            delete(IndexedLink).where(
                or_(
                    (IndexedLink.source_l == source) & IndexedLink.record_id_l.in_(chunk),
                    (IndexedLink.source_r == source) & IndexedLink.record_id_r.in_(chunk),
                )
            )
        )
        for item in session.scalars(
            select(ReviewItem).where(
                ReviewItem.status == ReviewStatus.open,
                or_(
                    (ReviewItem.source_l == source) & ReviewItem.record_id_l.in_(chunk),
                    (ReviewItem.source_r == source) & ReviewItem.record_id_r.in_(chunk),
                ),
            )
        ):
            item.status = ReviewStatus.superseded


def _report(session, existing, new, pairs, threshold) -> dict | None:
    """The engine's linkage report over this run's records and pairs (no values in it)."""
    try:
        from civicshare.linkage import report as reporting
    except ImportError:
        return None
    frames = [f for f in (existing, new) if f is not None and len(f)]
    if not frames:
        return None
    records = pd.concat(frames, ignore_index=True)
    key_of = {(r.source, r.record_id): r.person_key for r in session.scalars(select(IndexedRecord))}
    clusters = pd.DataFrame(
        {
            "source": records["source"],
            "record_id": records["record_id"],
            "cluster_id": [
                key_of.get((s, r)) for s, r in zip(records["source"], records["record_id"],
                                                   strict=True)
            ],
        }
    )  # fmt: skip
    report = reporting.build_report(records, pairs, clusters, threshold)
    return _jsonable(report)


def _jsonable(value):
    import json

    return json.loads(pd.Series([value]).to_json(orient="values"))[0]


def write_mapping(session: Session, settings: Settings, run_id: int | None) -> str:
    """The current mapping (snapshot, record id -> person key) as Parquet: once per run under
    person-index/runs/<id>/, and as person-index/mapping.parquet (replaced whole, atomically),
    which the sharing compiler joins for agreements that list the person key."""
    rows = session.execute(
        select(
            IndexedRecord.source,
            IndexedRecord.snapshot_version,
            IndexedRecord.record_id,
            IndexedRecord.person_key,
        ).order_by(IndexedRecord.source, IndexedRecord.record_id)
    ).all()
    table = pa.table(
        {
            "source": [r[0] for r in rows],
            "snapshot": [f"{r[0]}/v{r[1]}" for r in rows],
            "record_id": [r[2] for r in rows],
            "person_key": [r[3] for r in rows],
        },
        schema=MAPPING_SCHEMA,
    )
    current = settings.data_dir / MAPPING_FILE
    current.parent.mkdir(parents=True, exist_ok=True)
    relative = MAPPING_FILE
    if run_id is not None:
        relative = f"{INDEX_DIR}/runs/{run_id}/mapping.parquet"
        target = settings.data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)
    staging = current.with_name(f".mapping-{os.getpid()}.parquet")
    pq.write_table(table, staging)
    with open(staging, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, current)
    return relative


# -- status and runs -----------------------------------------------------------------------


@dataclass(frozen=True)
class IndexStatus:
    persons: int
    records: int
    sources: list[IndexedSource]
    pending: list[str]  # current snapshots not yet linked
    open_reviews: int
    last_run: LinkageRun | None
    model_run: int | None


def status(session: Session, settings: Settings) -> IndexStatus:
    sources = list(session.scalars(select(IndexedSource).order_by(IndexedSource.source)))
    by_source = {s.source: s.snapshot_version for s in sources}
    pending = [
        p.snapshot.ref
        for p in person_sources(session, settings)
        if by_source.get(p.source) != p.snapshot.version
    ]
    _, model_run = _model(session, False)
    return IndexStatus(
        persons=session.scalar(select(func.count(func.distinct(IndexedRecord.person_key)))) or 0,
        records=session.scalar(select(func.count(IndexedRecord.id))) or 0,
        sources=sources,
        pending=pending,
        open_reviews=session.scalar(
            select(func.count(ReviewItem.id)).where(ReviewItem.status == ReviewStatus.open)
        )
        or 0,
        last_run=session.scalars(select(LinkageRun).order_by(LinkageRun.id.desc())).first(),
        model_run=model_run,
    )


def runs(session: Session, limit: int = 50) -> list[LinkageRun]:
    return list(session.scalars(select(LinkageRun).order_by(LinkageRun.id.desc()).limit(limit)))


def get_run(session: Session, run_id: int) -> LinkageRun:
    found = session.get(LinkageRun, run_id)
    if found is None:
        raise NotFound(f"There is no linkage run {run_id}.")
    return found


def report_html(the_run: LinkageRun) -> str | None:
    """The run's report rendered by the report module, or None when there is none."""
    if not the_run.report:
        return None
    from civicshare.linkage import report as reporting

    return reporting.render_report_html(the_run.report)


def run_dict(the_run: LinkageRun) -> dict[str, Any]:
    return {
        "id": the_run.id,
        "status": the_run.status.value,
        "started_at": the_run.started_at,
        "finished_at": the_run.finished_at,
        "started_by": the_run.started_by,
        "snapshots": the_run.snapshots,
        "trained": the_run.trained,
        "model_run": the_run.model_run_id,
        "threshold": the_run.threshold,
        "review_lower": the_run.review_lower,
        "new_records": the_run.new_records,
        "existing_records": the_run.existing_records,
        "pairs": the_run.pairs,
        "links": the_run.links,
        "review_items": the_run.review_items,
        "persons": the_run.persons,
        "merges": the_run.merges,
        "seconds": the_run.seconds,
        "mapping": the_run.mapping_path,
    }


def person_keys_of(session: Session, source: str) -> dict[str, str]:
    return dict(
        session.execute(
            select(IndexedRecord.record_id, IndexedRecord.person_key).where(
                IndexedRecord.source == source
            )
        ).all()
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
            + ", ".join(s.value for s in ReviewStatus)
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
    plan = plan_for(snapshot)
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
        table = _read(
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
    return {"item": item, "sides": sides, "rows": rows, "waterfall": waterfall(item)}


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
    _require_reviewer(actor, settings)
    item = get_item(session, item_id)
    if item.status != ReviewStatus.open:
        raise LinkageError(f"Review item {item.id} was already {item.status.value}.")
    key = _pair_key(item.source_l, item.record_id_l, item.source_r, item.record_id_r)
    now = datetime.now(UTC)
    existing = session.scalars(
        select(LinkageDecision).where(
            LinkageDecision.source_l == key[0],
            LinkageDecision.record_id_l == key[1],
            LinkageDecision.source_r == key[2],
            LinkageDecision.record_id_r == key[3],
        )
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
        session.add(
            IndexedLink(
                source_l=key[0],
                record_id_l=key[1],
                source_r=key[2],
                record_id_r=key[3],
                match_probability=item.match_probability,
                origin=LinkOrigin.reviewer,
                run_id=None,
            )
        )
        if left and right and left.person_key != right.person_key:
            kept, _ = _merge_keys(session, {left.person_key, right.person_key}, now)
            facts.update(merged=True, person_key=kept)
            facts.update(superseded=_supersede_within(session, kept, item.id))
    else:
        item.status = ReviewStatus.rejected
        session.execute(
            delete(IndexedLink).where(
                IndexedLink.source_l == key[0],
                IndexedLink.record_id_l == key[1],
                IndexedLink.source_r == key[2],
                IndexedLink.record_id_r == key[3],
            )
        )
        if left and right and left.person_key == right.person_key:
            facts.update(split=_split(session, left.person_key, (key[2], key[3]), now))
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
    write_mapping(session, settings, None)  # after the audit record, as in run()
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


def _split(session: Session, person_key: str, detach: tuple[str, str], now) -> list[str]:
    """A rejected pair shares a key: recompute the cluster's components from its links; if
    they still connect, the right-hand record leaves with what only it links to. The part
    holding the oldest record keeps the key; each other part gets a new one."""
    members = session.scalars(
        select(IndexedRecord).where(IndexedRecord.person_key == person_key)
    ).all()
    ids = {(m.source, m.record_id) for m in members}
    links = [
        ((k.source_l, k.record_id_l), (k.source_r, k.record_id_r))
        for k in session.scalars(
            select(IndexedLink).where(IndexedLink.source_l.in_({s for s, _ in ids}))
        )
        if (k.source_l, k.record_id_l) in ids and (k.source_r, k.record_id_r) in ids
    ]

    def parts(edges):
        components = _Components()
        for record in ids:
            components.find(record)
        for a, b in edges:
            components.union(a, b)
        return components

    components = parts(links)
    other = next(r for r in ids if r != detach)
    if components.find(detach) == components.find(other):
        # Still joined through other records: the reviewer's word wins; detach the record.
        links = [(a, b) for a, b in links if detach not in (a, b)]
        session.execute(
            delete(IndexedLink).where(
                or_(
                    (IndexedLink.source_l == detach[0]) & (IndexedLink.record_id_l == detach[1]),
                    (IndexedLink.source_r == detach[0]) & (IndexedLink.record_id_r == detach[1]),
                )
            )
        )
        components = parts(links)
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


def index_demo(settings: Settings, engine, console) -> None:
    """`civicshare demo`: build the person index over the demo datasets (once; a later start
    finds it up to date)."""
    from civicshare import db

    started = time.monotonic()
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        outcome = run(session, settings)
    if outcome.run is not None:
        console.print(f"Person index: {outcome.message} ({time.monotonic() - started:.0f} s)")

"""A run: current person-holding snapshots linked into the index, incrementally."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from civicshare import db
from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.config import Settings
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
from civicshare.linkage.person_index.attach import attach, attachment_sources
from civicshare.linkage.person_index.keys import Components, merge_keys, new_person_key, pair_key
from civicshare.linkage.person_index.one_per_source import keep_one_per_source
from civicshare.linkage.person_index.sources import (
    DEFAULT_REVIEW_LOWER,
    INDEX_DIR,
    MAPPING_FILE,
    MAPPING_SCHEMA,
    PURPOSE,
    LinkageError,
    canonical,
    evidence,
    person_sources,
    read_source,
)

# -- a run ---------------------------------------------------------------------------------

RUN_LOCK_SPACE = 0x70696478  # "pidx": one run at a time across processes


@dataclass
class RunOutcome:
    run: LinkageRun | None
    message: str
    sources: list[str] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)  # of sources: attached by household
    linked: pd.DataFrame | None = None  # the records new to the index in this run (canonical)
    # Every record the model indexed in this run (canonical, with its person_key): where life
    # events look for a record of the person that is linked to nobody.
    records: pd.DataFrame | None = None
    attachment: Any = None  # attach.Attached of this run, when datasets were attached


def current_model(session: Session, retrain: bool):
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


def _train(records: pd.DataFrame, session: Session, backend: dict[str, Any]):
    from civicshare.linkage import engine

    return engine.train(records, seed=1, labels=labels(session), **backend)


def backend_options(settings: Settings) -> dict[str, Any]:
    """Where Splink runs: in process (DuckDB), or on Spark (``linkage_backend``)."""
    if settings.linkage_backend != "spark":
        return {}
    from civicshare.linkage import engine

    return {
        "backend": "spark",
        "spark": engine.spark_session(settings.spark_master, settings.spark_conf),
    }


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

    say = progress or (lambda message: None)
    started = time.monotonic()
    if not db.transaction_lock(session, settings.data_dir, RUN_LOCK_SPACE, 0, wait=False):
        # Two runs would each give the same new records keys of their own.
        raise LinkageError("Another person index run is in progress: try again when it ends.")
    plans = person_sources(session, settings)
    attach_plans = attachment_sources(session, settings)
    indexed = {s.source: s for s in session.scalars(select(IndexedSource))}

    def changed(plan) -> bool:
        return plan.source not in indexed or indexed[plan.source].snapshot_version != (
            plan.snapshot.version
        )

    pending = [p for p in plans if changed(p)]
    attach_pending = [p for p in attach_plans if changed(p)]
    if not pending and not attach_pending and not retrain:
        return RunOutcome(None, "The person index is up to date: no new snapshot to link.")

    the_run = LinkageRun(
        started_by=actor.label if actor else audit.SYSTEM,
        purpose=PURPOSE,
        snapshots=[p.snapshot.ref for p in [*pending, *attach_pending]],
    )
    session.add(the_run)
    session.flush()

    existing, new = _read_records(
        session, settings, the_run, plans, pending, indexed, actor, say,
        attached={p.source for p in attach_plans},
    )  # fmt: skip
    backend = backend_options(settings)
    model, threshold, lower, new, existing = _choose_model(
        session, the_run, (existing, new), retrain, review_lower, backend, say
    )
    pairs, pair_keys, probability, linked, grey, reviewed = _score(
        session, the_run, model, (new, existing), (threshold, lower), backend, say
    )
    # A dataset that holds no one twice gives no person two of its records; the links cut
    # go to review.
    linked, grey, kept_apart = keep_one_per_source(
        session, plans, pairs, (linked, grey, reviewed), (existing, new)
    )
    assigned, new_records, link_rows, merges = _assign_person_keys(
        session, the_run, new, existing, pair_keys, probability, linked, retrain
    )
    plan_of = _store_records_and_links(
        session, the_run, plans, assigned, new_records, link_rows, merges
    )
    review, key_of = _queue_grey_pairs(session, the_run, plan_of, pairs, grey)
    indexed_records = _with_person_keys((existing, new), key_of)
    attached = _attach(session, settings, the_run, attach_plans, indexed_records, actor, say)
    outcome = _finish(
        session,
        settings,
        the_run,
        actor,
        pending,
        key_of,
        (existing, new, pairs),
        (threshold, lower),
        merges,
        review,
        started,
    )
    if kept_apart is not None:
        outcome.run.report = {**(outcome.run.report or {}), "one_record_per_person": kept_apart}
    if attach_plans:
        outcome.run.report = {**(outcome.run.report or {}), "attachment": attached.as_dict()}
        outcome.message += (
            f" Attached {_plural(attached.attached, 'record')} without a date of birth "
            f"({attached.new:,} new), {_plural(attached.ambiguous, 'ambiguous record')} to review."
        )
        outcome.sources += [p.snapshot.ref for p in attach_pending]
        outcome.attached = [p.snapshot.ref for p in attach_pending]
    outcome.linked, outcome.attachment = new, attached
    outcome.records = indexed_records
    return outcome


def _with_person_keys(frames, key_of) -> pd.DataFrame:
    """The run's canonical records with their person keys (those given one)."""
    indexed = pd.concat([f for f in frames if f is not None], ignore_index=True)
    indexed["person_key"] = [
        key_of.get((s, r)) for s, r in zip(indexed["source"], indexed["record_id"], strict=True)
    ]
    return indexed[indexed["person_key"].notna()]


def _attach(session, settings, the_run, attach_plans, indexed, actor, say):
    """Phase 6b: records without a date of birth attached to the residents now indexed."""
    if not attach_plans:
        return None
    return attach(session, settings, the_run.id, attach_plans, indexed, actor=actor, say=say)


def _read_records(
    session, settings, the_run, plans, pending, indexed, actor, say, attached=frozenset()
):
    """Phase 1: every current source read; records whose evidence is unchanged are
    ``existing``, the rest ``new``. Records and sources gone leave the index (the attached
    sources are attachment's to keep)."""
    from civicshare.linkage import engine

    # Records already in the index, read again from their snapshots (never stored in clear).
    current = {p.source: p for p in plans}
    existing_frames, new_frames = [], []
    stored = {  # (source, record id) -> evidence; columns, not objects: there are many
        (source, record_id): stored_evidence
        for source, record_id, stored_evidence in session.execute(
            select(IndexedRecord.source, IndexedRecord.record_id, IndexedRecord.evidence).where(
                IndexedRecord.source.in_(current)
            )
        )
    }
    for plan in plans:
        pending_source = plan in pending
        # Every current source is read: unchanged ones are the `existing` records new ones
        # are compared with (values are never kept between runs).
        say(f"Reading {plan.snapshot.ref}")
        table = read_source(
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
            stored.get((plan.source, rid)) == ev
            for rid, ev in zip(records["record_id"], records["evidence"], strict=True)
        ]
        known = pd.Series(known, index=records.index, dtype=bool)
        existing_frames.append(records[known])
        new_frames.append(records[~known])
        if pending_source:
            # Records gone from the dataset, or whose evidence changed, leave the index.
            keep_ids = set(records.loc[known, "record_id"])
            gone = [rid for (src, rid) in stored if src == plan.source and rid not in keep_ids]
            forget_records(session, plan.source, gone)
            session.execute(
                IndexedRecord.__table__.update()
                .where(IndexedRecord.source == plan.source)
                .values(snapshot_version=plan.snapshot.version)
            )
    # Sources no longer current (dataset withdrawn, partner suspended) leave the index.
    for source in set(indexed) - set(current) - set(attached):
        forget_records(
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
    return existing, new


def _choose_model(session, the_run, frames, retrain, review_lower, backend, say):
    """Phase 2: the stored model, or one trained now (a retrained one scores everything)."""
    from civicshare.linkage import engine

    existing, new = frames
    model, model_run = current_model(session, retrain)
    if model is None:
        everything = pd.concat([f for f in (existing, new) if f is not None], ignore_index=True)
        say(f"Training the model on {len(everything):,} records")
        model = _train(everything[list(engine.CANONICAL_COLUMNS)], session, backend)
        the_run.trained, the_run.model_json, model_run = True, model.to_json(), the_run.id
        if retrain and existing is not None:
            # A retrained model scores the whole index again; keys stay where evidence holds.
            new, existing = everything, None
    the_run.model_run_id = model_run
    threshold = float(model.recommended_threshold)
    lower = min(review_lower, threshold)
    the_run.threshold, the_run.review_lower = threshold, lower
    return model, threshold, lower, new, existing


def _score(session, the_run, model, frames, bounds, backend, say):
    """Phase 3: new records scored against each other and the index; reviewers' decisions
    override the model (``linked``; the last value: the pairs a reviewer accepted); the grey
    zone below the threshold (``grey``)."""
    from civicshare.linkage import engine

    (new, existing), (threshold, lower) = frames, bounds
    say(f"Scoring {len(new):,} new records against {the_run.existing_records:,} indexed")
    if len(new):
        pairs = engine.predict(
            model,
            new[list(engine.CANONICAL_COLUMNS)],
            existing=None if existing is None else existing[list(engine.CANONICAL_COLUMNS)],
            threshold=lower,
            **backend,
        )
    else:
        pairs = pd.DataFrame(
            columns=["source_l", "record_id_l", "source_r", "record_id_r", "match_weight",
                     "match_probability"]
        )  # fmt: skip
    apart = _household_apart(model, new, existing, lower, pairs, backend)
    if len(apart):
        pairs = pd.concat([pairs, apart], ignore_index=True)
    decided = {
        pair_key(d.source_l, d.record_id_l, d.source_r, d.record_id_r): d.label
        for d in session.scalars(select(LinkageDecision))
    }
    pair_keys = [
        pair_key(*row)
        for row in pairs[["source_l", "record_id_l", "source_r", "record_id_r"]].itertuples(
            index=False
        )
    ]
    labelled = pd.Series([decided.get(k) for k in pair_keys], index=pairs.index, dtype=object)
    probability = pairs["match_probability"].astype(float)
    linked = (probability >= threshold) & (labelled != Label.non_match) | (labelled == Label.match)
    grey = (probability < threshold) & (probability >= lower) & labelled.isna()
    if len(apart):
        # People the household rule kept apart whom the rest of the evidence would link or
        # put in the grey zone: a reviewer looks.
        grey |= pairs.index.isin(pairs.index[-len(apart) :]) & labelled.isna()
    the_run.pairs = len(pairs)
    return pairs, pair_keys, probability, linked, grey, labelled == Label.match


def _household_apart(model, new, existing, threshold, pairs, backend) -> pd.DataFrame:
    """Pairs kept apart by the household comparison (``engine.household_apart``) not already
    among ``pairs``."""
    from civicshare.linkage import engine

    if not len(new):
        return pairs.iloc[0:0]
    apart = engine.household_apart(
        model,
        new[list(engine.CANONICAL_COLUMNS)],
        existing=None if existing is None else existing[list(engine.CANONICAL_COLUMNS)],
        threshold=threshold,
        **backend,
    )
    if not len(apart):
        return pairs.iloc[0:0]
    columns = ["source_l", "record_id_l", "source_r", "record_id_r"]
    scored = {pair_key(*row) for row in pairs[columns].itertuples(index=False)}
    fresh = [pair_key(*row) not in scored for row in apart[columns].itertuples(index=False)]
    return apart[fresh][[c for c in pairs.columns if c in apart.columns]]


def _assign_person_keys(session, the_run, new, existing, pair_keys, probability, linked, retrain):
    """Phase 4: linked records grouped; each group keeps its (oldest) key or gets a new one."""
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

    components = Components()
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
            keep, absorbed = merge_keys(session, keys, now)
            merges += absorbed
        elif keys:
            keep = next(iter(keys))
        else:
            keep = new_person_key()
            session.add(PersonKey(key=keep, created_run_id=the_run.id))
        for record in records_here:
            assigned[record] = keep
    session.flush()
    return assigned, new_records, link_rows, merges


def _store_records_and_links(session, the_run, plans, assigned, new_records, link_rows, merges):
    """Phase 5: the indexed records and the links the model made, stored."""
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
        pair_key(*row)
        for row in session.execute(
            select(
                IndexedLink.source_l,
                IndexedLink.record_id_l,
                IndexedLink.source_r,
                IndexedLink.record_id_r,
            )
        )
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
    return plan_of


def _queue_grey_pairs(session, the_run, plan_of, pairs, grey):
    """Phase 6: grey-zone pairs not already in one person go to review (once)."""
    # The grey zone: pairs not already in one person go to review (once).
    key_of = {
        (source, record_id): person_key
        for source, record_id, person_key in session.execute(
            select(IndexedRecord.source, IndexedRecord.record_id, IndexedRecord.person_key).where(
                IndexedRecord.source.in_(plan_of)
            )
        )
    }
    open_pairs = {
        pair_key(i.source_l, i.record_id_l, i.source_r, i.record_id_r)
        for i in session.scalars(select(ReviewItem).where(ReviewItem.status == ReviewStatus.open))
    }
    mw_columns = [c for c in pairs.columns if c.startswith("mw_")]
    review = 0
    for index in pairs.index[grey]:
        pair = pairs.loc[index]
        key = pair_key(pair.source_l, pair.record_id_l, pair.source_r, pair.record_id_r)
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
    return review, key_of


def _finish(
    session,
    settings,
    the_run,
    actor,
    pending,
    key_of,
    frames,
    thresholds,
    merges,
    review,
    started,
) -> RunOutcome:
    """Phase 7: indexed sources, the report, the audit record, then the mapping file."""
    existing, new, pairs = frames
    threshold, lower = thresholds
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


def forget_records(session: Session, source: str, record_ids: list[str]) -> None:
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
    key_of = {
        (source, record_id): person_key
        for source, record_id, person_key in session.execute(
            select(IndexedRecord.source, IndexedRecord.record_id, IndexedRecord.person_key)
        )
    }
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
    which the data plane's compiler joins for agreements that list the person key."""
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

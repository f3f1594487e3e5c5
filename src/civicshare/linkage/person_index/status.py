"""The index's status, its runs and their reports, and the person keys of a source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare.config import Settings
from civicshare.linkage.models import (
    IndexedRecord,
    IndexedSource,
    LinkageRun,
    ReviewItem,
    ReviewStatus,
)
from civicshare.linkage.person_index.attach import attachment_sources
from civicshare.linkage.person_index.run import current_model
from civicshare.linkage.person_index.sources import NotFound, person_sources

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
    attached: frozenset[str] = frozenset()  # sources attached by household, not linked


def status(session: Session, settings: Settings) -> IndexStatus:
    sources = list(session.scalars(select(IndexedSource).order_by(IndexedSource.source)))
    by_source = {s.source: s.snapshot_version for s in sources}
    attach_plans = attachment_sources(session, settings)
    pending = [
        p.snapshot.ref
        for p in [*person_sources(session, settings), *attach_plans]
        if by_source.get(p.source) != p.snapshot.version
    ]
    _, model_run = current_model(session, False)
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
        attached=frozenset(p.source for p in attach_plans),
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
        "attachment": (the_run.report or {}).get("attachment"),
    }


def person_keys_of(session: Session, source: str) -> dict[str, str]:
    return dict(
        session.execute(
            select(IndexedRecord.record_id, IndexedRecord.person_key).where(
                IndexedRecord.source == source
            )
        ).all()
    )

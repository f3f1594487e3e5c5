"""Prometheus metrics: what the gateway did, never whom it was about.

Labels are routes as declared (``/api/incidents/{ref}``, not the path asked for), agreement
references, dataset names and audit actions: nothing a resident typed or is identified by.

What the audit log records is counted from the audit log's own writes, and only once their
transaction commits: a share refused because its audit record failed, or rolled back for any
other reason, is not counted as done. `audit.record` calls `count_audited`, which keeps the
facts on the session until SQLAlchemy's ``after_commit`` (or drops them on rollback).

Counters live in the process (each API worker counts its own requests; Prometheus sums the
workers it scrapes). Gauges of the store (audit chain length, checkpoint age, outbox depth)
are read from the store at scrape time by `civicshare.health`.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

# A `_created` timestamp beside every counter doubles the scrape for nothing Prometheus uses.
prometheus_client.disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "civicshare_http_requests",
    "HTTP requests answered, by method, declared route and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "civicshare_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and declared route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
DECISIONS = Counter(
    "civicshare_decisions",
    "Sharing decisions audited and committed, by agreement and outcome (allowed or denied).",
    ["agreement", "outcome"],
    registry=REGISTRY,
)
AUDIT_RECORDS = Counter(
    "civicshare_audit_records",
    "Audit records committed, by action.",
    ["action"],
    registry=REGISTRY,
)
INGEST_ROWS = Counter(
    "civicshare_ingest_rows",
    "Rows of partners' files stored by accepted ingests, by dataset.",
    ["dataset"],
    registry=REGISTRY,
)
LINKAGE_RUNS = Counter(
    "civicshare_linkage_runs",
    "Linkage runs committed: person index builds and privacy-preserving linkage, by action.",
    ["action"],
    registry=REGISTRY,
)

UNMATCHED_ROUTE = "(no route)"
LINKAGE_ACTIONS = frozenset({"person_index_run", "pprl_run", "pprl_link"})
INGEST_ACCEPTED = "dataset.ingest_accepted"
_PENDING = "civicshare.metrics.pending"


def count_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


def count_audited(
    session: Session,
    action: str,
    *,
    outcome: str | None,
    agreement_ref: str | None,
    dataset: str | None,
    row_count: int | None,
) -> None:
    """Count an audit record when (and if) its transaction commits."""
    facts = (action, outcome, agreement_ref, dataset, row_count)
    session.info.setdefault(_PENDING, []).append(facts)


def _apply(facts) -> None:
    action, outcome, agreement_ref, dataset, row_count = facts
    AUDIT_RECORDS.labels(action).inc()
    if outcome in ("allowed", "denied"):
        DECISIONS.labels(agreement_ref or "(none)", outcome).inc()
    if action == INGEST_ACCEPTED and dataset and row_count:
        INGEST_ROWS.labels(dataset).inc(row_count)
    if action in LINKAGE_ACTIONS:
        LINKAGE_RUNS.labels(action).inc()


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for facts in session.info.pop(_PENDING, ()):
        _apply(facts)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)

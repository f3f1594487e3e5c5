"""Readiness, Prometheus metrics and JSON logs: counts and timings, never identifiers."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from fastapi.testclient import TestClient

from civicshare import db
from civicshare.app import create_app
from civicshare.audit import service as audit
from civicshare.core import metrics
from civicshare.logs import ACCESS_LOGGER, JsonFormatter, server_log_config


@pytest.fixture
def client(settings, engine):
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def sample(name: str, **labels) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_readyz_reports_the_audit_chain(client, engine):
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["audit"]["status"] == "ok"
    assert body["audit"]["chain_length"] >= 0
    db.downgrade(engine, "base")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unready"
    assert response.json()["audit"]["status"] == "unavailable"


def test_requests_are_counted_by_declared_route_never_by_path(client):
    before = sample("civicshare_http_requests_total", method="GET", route="/healthz", status="200")
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 200
    # A path holding a street number and one matching no route: neither path reaches a label.
    client.get("/works/streets/38201955")
    client.get("/no-such-page/9434765919")
    body = client.get("/metrics").text
    after = sample("civicshare_http_requests_total", method="GET", route="/healthz", status="200")
    assert after == before + 2
    assert 'route="/works/streets/{usrn}"' in body
    assert 'route="(no route)"' in body
    assert "38201955" not in body and "9434765919" not in body
    assert "civicshare_http_request_duration_seconds_bucket" in body
    assert "civicshare_audit_chain_length" in body
    assert "_created" not in body  # no creation timestamps beside the counters
    assert 'civicshare_outbox_depth{status="pending"}' in body


def test_decisions_are_counted_when_their_audit_record_commits(settings, engine):
    sessions = db.make_sessionmaker(engine)
    labels = {"agreement": "ISA-METRICS", "outcome": "allowed"}
    before = sample("civicshare_decisions_total", **labels)
    with db.session_scope(sessions) as session:
        audit.record(
            session, None, "share_allowed", "dataset", agreement_ref="ISA-METRICS",
            outcome="allowed", dataset="fire/visits", row_count=3,
        )  # fmt: skip
        assert sample("civicshare_decisions_total", **labels) == before  # not yet committed
    assert sample("civicshare_decisions_total", **labels) == before + 1
    with pytest.raises(RuntimeError), db.session_scope(sessions) as session:
        audit.record(
            session, None, "share_allowed", "dataset", agreement_ref="ISA-METRICS",
            outcome="allowed",
        )  # fmt: skip
        raise RuntimeError("the share failed after its decision was written")
    assert sample("civicshare_decisions_total", **labels) == before + 1


def test_ingested_rows_are_counted(settings, engine):
    sessions = db.make_sessionmaker(engine)
    before = sample("civicshare_ingest_rows_total", dataset="fire/visits-metrics")
    with db.session_scope(sessions) as session:
        audit.record(
            session, None, metrics.INGEST_ACCEPTED, "dataset", dataset="fire/visits-metrics",
            row_count=1200,
        )  # fmt: skip
    assert sample("civicshare_ingest_rows_total", dataset="fire/visits-metrics") == before + 1200


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_the_json_access_log_names_the_route_not_the_path_query_or_address(client):
    handler = Lines()
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        client.get("/works/streets/38201955?purpose=Mrs%20Smith%20943%20476%205919")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    entry = json.loads(handler.lines[-1])
    assert entry["route"] == "/works/streets/{usrn}"
    assert entry["method"] == "GET" and entry["status"] in (303, 401)
    assert entry["duration_ms"] >= 0 and entry["level"] == "info"
    text = handler.lines[-1]
    assert "38201955" not in text and "Smith" not in text and "testclient" not in text


def test_json_log_config_replaces_uvicorns_access_log():
    config = server_log_config("json")
    assert all(f["()"].endswith("JsonFormatter") for f in config["formatters"].values())
    assert config["loggers"]["uvicorn.access"]["handlers"] == []
    assert config["loggers"][ACCESS_LOGGER]["handlers"] == ["access"]
    assert server_log_config()["loggers"]["uvicorn.access"]["handlers"] == ["access"]


def test_a_failure_is_logged_by_its_kind_not_its_text():
    try:
        raise ValueError("NHS number 943 476 5919 is not valid")
    except ValueError:
        record = logging.LogRecord("civicshare", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry == {**entry, "error": "ValueError", "message": "failed"}
    assert "943" not in json.dumps(entry)

"""The server's logs carry paths, never query strings: a purpose typed into a query string
(`?purpose=... 943 476 5919 ...`) must not reach the access log or the error log."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
import uvicorn
from fastapi.testclient import TestClient

from civicshare import cli
from civicshare.app import create_app
from civicshare.logs import NoQueryString, without_query
from tests.browser import serve_in_thread

PURPOSE = "Check the discharge of Mrs Smith, NHS number 943 476 5919, next week."
QUERY = urlencode({"purpose": PURPOSE, "format": "csv"})


class Captured(logging.Handler):
    """Each record as the logger's own handlers would write it."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.formatters = [h.formatter for h in logger.handlers if h.formatter]
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.lines.extend(f.format(record) for f in self.formatters)


def serve_kwargs(monkeypatch) -> dict:
    """What `civicshare serve` hands uvicorn.run (without starting it)."""
    captured: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: captured.update(kwargs))
    cli._serve("127.0.0.1", 0)
    return captured


@pytest.fixture
def served(live_settings, monkeypatch):
    """The app on a real uvicorn server, logging as `civicshare serve` configures it."""
    kwargs = serve_kwargs(monkeypatch)
    config = {k: v for k, v in kwargs.items() if k not in ("factory", "host", "port")}
    access = logging.getLogger("uvicorn.access")
    with serve_in_thread(create_app(live_settings), **config) as url:
        handler = Captured(access)
        access.addHandler(handler)
        try:
            yield url, handler
        finally:
            access.removeHandler(handler)


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_access_log_of_civicshare_serve_keeps_the_path_without_the_query(served):
    base, captured = served
    path = "/api/share/worcs-acute/acute-admissions"
    assert get(f"{base}{path}?{QUERY}") == 401  # no token: refused, and logged
    assert get(f"{base}/healthz?{QUERY}") == 200
    deadline = time.monotonic() + 5
    while len(captured.lines) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    written = "\n".join(captured.lines)
    assert f'"GET {path} HTTP/1.1" 401' in written
    assert '"GET /healthz HTTP/1.1" 200' in written
    for leak in ("?", "purpose", "5919", "Smith", "format=csv"):
        assert leak not in written, written


def test_the_filter_strips_targets_only_and_never_drops_a_record():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/share?{QUERY}", "1.1", 200), None,
    )  # fmt: skip
    assert NoQueryString().filter(record) is True
    assert record.getMessage() == '127.0.0.1:5000 - "GET /share HTTP/1.1" 200'
    assert without_query("/a/b?x=1#y") == "/a/b" and without_query("/a/b") == "/a/b"


def test_the_apps_error_log_names_the_path_without_the_query(live_settings, caplog):
    app = create_app(live_settings)

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("boom")

    with (
        TestClient(app, raise_server_exceptions=False) as client,
        caplog.at_level(logging.ERROR, logger="civicshare.errors"),
    ):
        response = client.get(f"/api/boom?{QUERY}")
    assert response.status_code == 500
    assert "unhandled error on GET /api/boom" in caplog.text
    assert "5919" not in caplog.text and "purpose" not in caplog.text

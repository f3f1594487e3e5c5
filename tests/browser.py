"""A real server and a real headless Chromium (Debian's package) for browser tests.

A pytest plugin (registered in tests/conftest.py), so every directory shares one browser."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from civicshare import db
from civicshare.app import create_app
from civicshare.config import Settings
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[1]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium floods a closed network with connections it cannot make.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERIOUS = {"serious", "critical"}


def chromium_path() -> str:
    for candidate in ("chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    unavailable(
        "Debian's chromium is not installed",
        "Install it (`apt-get install chromium`, or `make chromium` as root) to run browser tests",
    )


@pytest.fixture(scope="session")
def browser():
    executable = chromium_path()
    if not AXE_JS.is_file():
        unavailable("axe-core is not installed", "Run `npm ci` (make test does) first")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    # bypass_csp lets the test inject axe-core; the app's own pages still send their CSP.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    problems: list[str] = []
    # Failed loads are caught by URL below; the console's copy of them names no URL.
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and problems.append(f"console: {m.text}")
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "response",
        # A page may answer 4xx on purpose (a form with errors); its assets may not.
        lambda r: (
            r.status >= 400
            and r.request.resource_type != "document"
            and problems.append(f"{r.status} {r.url}")
        ),
    )
    page.problems = problems
    yield page
    context.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live_settings(tmp_path_factory) -> Settings:
    data_dir = tmp_path_factory.mktemp("live") / "data"
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir.parent / 'store.db'}")
    settings.ensure_dirs()
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    engine.dispose()
    return settings


@contextmanager
def serve_in_thread(app, **config) -> Iterator[str]:
    """`app` served by uvicorn in a thread on a free port, as `civicshare serve` would; yields
    its base URL. `config` goes to uvicorn.Config."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(live_settings):
    """The app served by uvicorn on a free port, as `civicshare serve` would."""
    with serve_in_thread(create_app(live_settings), log_level="warning") as url:
        yield url


def sign_in(page, server: str, email: str, password: str, next_path: str = "/") -> None:
    """Sign in through the form and wait until the page it lands on has loaded (its URL can show
    before its page has: a check straight after would race the load)."""
    page.goto(f"{server}/sign-in?next={next_path}")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def axe_violations(page) -> list[dict]:
    """Serious and critical WCAG 2.2 A/AA violations on the current page, by axe-core."""
    from playwright.sync_api import Error as PlaywrightError

    # A popup fading in has its text at part opacity: judge colours once transitions end
    # (an endless animation times out, and the page is checked as it is).
    with contextlib.suppress(PlaywrightError):
        page.wait_for_function(
            "() => document.getAnimations().every(a => a.playState !== 'running')",
            timeout=3000,
        )
    page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"""
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]],
        }
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]

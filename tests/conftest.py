"""Shared fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL tests create their own database and drop it afterwards. Without a reachable server
they skip with a message; under CI=true they fail instead, so CI can never pass by skipping."""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from civicshare import db
from civicshare.config import Settings

# One set of browser fixtures (one Chromium) and the local SMTP server, for every directory.
pytest_plugins = ["tests.browser", "tests.mailbox"]

IN_CI = os.environ.get("CI", "").lower() == "true"
# The commands' Rich consoles take their width when their module is first imported, which under
# pytest-xdist can be in any test: one wide terminal for all, so output never wraps by chance.
os.environ["COLUMNS"] = "200"
POSTGRES_ADMIN_URL = os.environ.get(
    "CIVICSHARE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def unavailable(reason: str, how_to_enable: str) -> None:
    """Skip on a developer's machine; fail under CI=true."""
    message = f"{reason}. {how_to_enable}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: these tests must run, not skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_admin():
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        shown = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        unavailable(
            f"PostgreSQL is not reachable at {shown} ({type(exc).__name__})",
            "Start PostgreSQL or set CIVICSHARE_TEST_POSTGRES_URL to a server where this user "
            "may CREATE DATABASE to run the PostgreSQL tests",
        )
    yield engine
    engine.dispose()


@contextmanager
def fresh_postgres_database(admin) -> Iterator[str]:
    """A newly created, empty PostgreSQL database (its URL), dropped afterwards."""
    name = f"civicshare_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_admin) -> Iterator[str]:
    """A freshly created, empty PostgreSQL database, dropped after the test."""
    with fresh_postgres_database(postgres_admin) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path: Path, database_url: str, monkeypatch) -> Settings:
    # Tests never read the developer's environment or config file.
    for name in list(os.environ):
        if name.startswith("CIVICSHARE_") and name != "CIVICSHARE_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def engine(settings: Settings):
    """A migrated, empty governance store on the parametrised backend."""
    settings.ensure_dirs()
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    return db.make_sessionmaker(engine)


@pytest.fixture
def operator_env(settings, engine, monkeypatch):
    """The command line at the gateway: its environment points at the migrated store."""
    monkeypatch.setenv("CIVICSHARE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CIVICSHARE_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return settings


def pytest_terminal_summary(terminalreporter) -> None:
    """Say plainly how the PostgreSQL and browser tests went (CI reads this)."""
    for marker, label in (("postgres", "PostgreSQL"), ("browser", "browser")):
        counts = {}
        for outcome in ("passed", "failed", "skipped", "error"):
            reports = terminalreporter.stats.get(outcome, [])
            counts[outcome] = sum(
                1 for r in reports if marker in getattr(r, "keywords", {}) and r.when != "teardown"
            )
        if any(counts.values()):
            shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            terminalreporter.write_line(f"{label} tests: {shown}")


# -- the demo partnership ---------------------------------------------------------------------


DEMO_CACHE_ENV = "PYTEST_CIVICSHARE_DEMO_STORES"  # not CIVICSHARE_: `settings` clears those


def pytest_configure(config) -> None:
    """One directory of prepared demo stores for the whole run, shared by the xdist workers
    (they inherit the environment of the process that starts them)."""
    if not hasattr(config, "workerinput") and DEMO_CACHE_ENV not in os.environ:
        os.environ[DEMO_CACHE_ENV] = tempfile.mkdtemp(prefix="civicshare-demo-stores-")
        config._civicshare_demo_cache = os.environ[DEMO_CACHE_ENV]


def pytest_unconfigure(config) -> None:
    cache = getattr(config, "_civicshare_demo_cache", None)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)
        os.environ.pop(DEMO_CACHE_ENV, None)


def _sqlite_beside(settings: Settings) -> Path | None:
    """The store's SQLite file when it is `store.db` beside the data directory (as
    `sqlite_settings` makes it), else None."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    path = Path(url.database)
    return path if path.resolve() == (settings.data_dir.parent / "store.db").resolve() else None


def demo_store(settings: Settings, *, people: int = 600, seed: int = 5) -> Settings:
    """The demo partnership on a synthetic county in `settings`' store, as `civicshare demo`
    prepares it (quietly).

    Preparing one takes a minute (the county, its snapshots, the person index), so a SQLite store
    beside its data directory is prepared once per run for each (people, seed) and copied: the
    copy is the same store, keys and snapshots included, as preparing it again would make."""
    import io

    from rich.console import Console

    from civicshare import demo

    def prepare(target: Settings) -> None:
        demo.prepare(target, people=people, seed=seed, console=Console(file=io.StringIO()))

    store_file = _sqlite_beside(settings)
    cache_root = os.environ.get(DEMO_CACHE_ENV)
    if store_file is None or not cache_root:
        prepare(settings)
        return settings
    cached = Path(cache_root) / f"people-{people}-seed-{seed}"
    cached.mkdir(parents=True, exist_ok=True)
    with open(cached / ".lock", "w") as lock:  # one worker prepares; the others wait and copy
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cached / "ready").exists():
            prepare(sqlite_settings(cached / "data"))
            (cached / "ready").touch()
    shutil.copytree(cached / "data", settings.data_dir, dirs_exist_ok=True)
    # SQLite's backup writes the pages into the target under its locks, so an engine a
    # fixture already opened on the target sees the copy, as it would a prepare
    source, target = sqlite3.connect(cached / "store.db"), sqlite3.connect(store_file)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return settings


def demo_county_fixtures(label: str, *, people: int = 600, seed: int = 5, scope: str = "module"):
    """A package's `county` (a demo store on SQLite, via demo_store) and `county_sessions`
    fixtures: `county, county_sessions = demo_county_fixtures("x-county")`. A county too costly
    to build per module is shared by a worker's session (`scope="session"`)."""

    @pytest.fixture(scope=scope)
    def county(tmp_path_factory) -> Settings:
        settings = sqlite_settings(tmp_path_factory.mktemp(label) / "data")
        demo_store(settings, people=people, seed=seed)
        return settings

    @pytest.fixture(scope=scope)
    def county_sessions(county):
        engine = db.make_engine(county.effective_database_url)
        yield db.make_sessionmaker(engine)
        engine.dispose()

    return county, county_sessions


def acting(session, email: str, partner: str | None = None):
    """`email`'s actor, in its membership of `partner` (or its first), as the CLI would act."""
    from civicshare.accounts.service import actor_for
    from civicshare.partners import service as partners

    person = partners.get_person_by_email(session, email)
    membership = next(m for m in person.memberships if partner is None or m.partner.key == partner)
    return actor_for(membership, "cli")


def sqlite_settings(data_dir: Path, **options) -> Settings:
    """Settings for a store kept in `data_dir` with its SQLite file beside it."""
    return Settings(
        data_dir=data_dir, database_url=f"sqlite:///{data_dir.parent / 'store.db'}", **options
    )


def api_token(settings: Settings, email: str, scopes: list[str], name: str = "test") -> str:
    """A new API token for `email`'s first membership; the secret."""
    from civicshare.accounts import service as accounts
    from civicshare.partners import service as partners

    engine = db.make_engine(settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            person = partners.get_person_by_email(session, email)
            secret, _ = accounts.create_api_token(
                session, person.memberships[0], name=name, scopes=scopes, days=1
            )
    finally:
        engine.dispose()
    return secret


# -- people, sign-in and clients -------------------------------------------------------------

TEST_PASSWORD = "correct horse battery"


@pytest.fixture
def client(settings, engine):
    from fastapi.testclient import TestClient

    from civicshare.app import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def member(sessions):
    """member(email, {partner_key: [roles]}) -> person id; partners are created as needed."""
    from civicshare.accounts import service as accounts
    from civicshare.partners import service as partners

    def make(email: str, roles_at: dict[str, list[str]], name: str | None = None) -> int:
        with db.session_scope(sessions) as session:
            person = partners.get_person_by_email(session, email) or partners.create_person(
                session, email=email, display_name=name or email.split("@")[0].title()
            )
            accounts.set_password(session, person, TEST_PASSWORD)
            for key, roles in roles_at.items():
                partner = (
                    partners.get_by_key(session, key)
                    or partners.upsert(
                        session,
                        [
                            {
                                "key": key,
                                "name": key.replace("-", " ").title(),
                                "type": "other",
                                "status": "endorsed",
                            }
                        ],
                    )[0]
                )
                partners.add_membership(session, person, partner, roles)
            return person.id

    return make


def sign_in_form_token(client) -> str:
    """The CSRF token of the sign-in form, fetched as a browser would (GET /sign-in)."""
    import re

    page = client.get("/sign-in")
    assert page.status_code == 200, page.text
    form = page.text[page.text.index('action="/sign-in"') :]
    return re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)


def post_sign_in(client, email: str, password: str = TEST_PASSWORD, **fields):
    """Fill in and send the sign-in form (with its CSRF token); the response, not followed."""
    data = {"email": email, "password": password, **fields}
    data.setdefault("csrf_token", sign_in_form_token(client))
    return client.post("/sign-in", data=data, follow_redirects=False)


def sign_in(client, email: str, partner_key: str | None = None) -> str:
    """Sign `client` in (choosing `partner_key` when given); returns the CSRF token."""
    from sqlalchemy import select

    from civicshare.accounts.models import WebSession
    from civicshare.partners.models import Membership, Partner

    response = post_sign_in(client, email)
    assert response.status_code == 303, response.text
    sessions = db.make_sessionmaker(client.app.state.engine)
    with db.session_scope(sessions) as session:
        web_session = session.scalars(select(WebSession).order_by(WebSession.id.desc())).first()
        csrf = web_session.csrf_token
        membership_id = None
        if partner_key:
            membership_id = session.scalars(
                select(Membership.id)
                .join(Partner)
                .where(Partner.key == partner_key, Membership.person_id == web_session.person_id)
            ).one()
    if membership_id is not None:
        response = client.post(
            "/choose-membership",
            data={"membership_id": membership_id, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        with db.session_scope(sessions) as session:
            csrf = (
                session.scalars(select(WebSession).order_by(WebSession.id.desc()))
                .first()
                .csrf_token
            )
    return csrf

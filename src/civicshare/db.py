"""The governance store: engine, sessions, the declarative base and migrations."""

from __future__ import annotations

import asyncio
import enum
import fcntl
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends
from fastapi import Path as PathParam
from pydantic import PlainSerializer, WithJsonSchema
from sqlalchemy import DateTime, Engine, Enum, MetaData, String, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from starlette.requests import Request

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Stable constraint names, so migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Row ids and version numbers in a URL: within the store's integer range, so an absurd one is a
# 422 naming the field rather than an overflow inside the database driver (a 500).
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, PathParam(ge=1, le=MAX_ROW_ID)]

# A stored time in an API response model, written as Python's isoformat() writes it (what the
# routes sent before they had models: "+00:00", where pydantic alone would write "Z").
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeStamp(Base):
    """A token the store itself replaces, by trigger (migration 0025), in every transaction
    that writes one of the tables behind a name: a process may cache what it read from those
    tables against the token and read again when the token differs. The token is random, so
    one rolled back is never seen again. Names and their tables: STAMPED."""

    __tablename__ = "change_stamps"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


# What each change stamp watches: "snapshots" every table `datasets.current_snapshots` reads,
# "governance" every table `sharing.decide()` reads but the person index (partners,
# agreements, objections and opt-outs: sharing.governance).
STAMPED = {
    "snapshots": ("partners", "datasets", "dataset_contracts", "dataset_snapshots"),
    "governance": (
        "partners",
        "agreements",
        "agreement_versions",
        "agreement_parties",
        "agreement_data_items",
        "rights_objections",
        "rights_national_opt_outs",
    ),
}


def change_stamp(session: Session, name: str) -> str | None:
    """The current token of a change stamp as this session sees it (its own writes
    included, pending ones flushed first as for any query); None when the store has none by
    that name (nothing may then be cached)."""
    return session.scalar(select(ChangeStamp.token).where(ChangeStamp.name == name))


class Kept:
    """What was read from the store, kept per process against a change stamp (STAMPED): while
    the stamp's token stands, one query (the token) gives back what was read under it; any
    write to a stamped table replaces the token in its own transaction, so the next look-up
    in any process reads afresh. Kept by store, token and the caller's key, the `size` most
    recently used; size 0 keeps nothing (every look-up reads). The token is read before the
    rows, so what is kept under a token is never older than it. Callers share what is kept:
    treat it as read-only."""

    def __init__(self, stamp: str, size: int) -> None:
        self.stamp, self.size = stamp, size
        self._kept: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, session: Session, read: Callable[[], Any], key: tuple = ()) -> Any:
        """What `read()` gives now, from what is kept when the token is unchanged."""
        token = change_stamp(session, self.stamp) if self.size else None
        if token is None:
            return read()
        kept_as = (str(session.get_bind().url), token, *key)
        with self._lock:
            found = self._kept.get(kept_as)
            if found is not None:
                self._kept.move_to_end(kept_as)
                return found
        found = read()
        with self._lock:
            self._kept[kept_as] = found
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


def make_engine(url: str, settings=None) -> Engine:
    """An engine for `url`; on a server database, pooled as `settings` say (defaults if none)."""
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    pool = {}
    if settings is not None:
        pool = {
            "pool_size": settings.database_pool_size,
            "max_overflow": settings.database_max_overflow,
            "pool_timeout": settings.database_pool_timeout,
        }
    return create_engine(url, pool_pre_ping=True, **pool)


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use the umask, often 0644);
    SQLite gives its -wal and -shm files the database file's mode. Only where the folder
    exists: a missing folder is reported when the engine connects, not made here."""
    from civicshare.private import FILE_MODE, private_file, set_mode

    path = sqlite_path(url)
    if path is None or not path.parent.is_dir():
        return
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        set_mode(path.with_name(path.name + suffix), FILE_MODE)


class StoreUnavailable(Exception):
    """The governance store is missing, cannot be opened or is not migrated.

    A configuration error, not a failed check: the command line reports it in one line and
    exits 2 (`civicshare.cli`)."""


def shown_url(url: str) -> str:
    """The database URL with its password masked, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other backends and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_store(settings, *, migrated: bool = True) -> Engine:
    """An engine on the store `settings` name, checked before any command uses it.

    Never creates anything: a missing SQLite file is reported, not made empty (only
    `civicshare db upgrade` and `civicshare demo` create the store). Raises StoreUnavailable
    naming the store (password masked) and the data directory when the store is missing,
    cannot be opened, or (with `migrated`) is not at the latest revision."""
    url = settings.effective_database_url
    where = (
        f"governance store at {shown_url(url)} (CIVICSHARE_DATA_DIR resolves to "
        f"{Path(settings.data_dir).resolve()})"
    )
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise StoreUnavailable(
            f"No {where}: run the command from the gateway's folder, set "
            "CIVICSHARE_DATA_DIR or CIVICSHARE_DATABASE_URL, or create it with "
            "`civicshare db upgrade`."
        )
    engine = make_engine(url, settings)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as error:
        engine.dispose()
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise StoreUnavailable(
            f"Cannot open the {where}: {cause[0] if cause else type(error).__name__}."
        ) from None
    head = head_revision()
    if migrated and revision != head:
        engine.dispose()
        raise StoreUnavailable(
            f"The {where} is at revision {revision or 'none (not migrated)'}, "
            f"latest {head}: run `civicshare db upgrade`."
        )
    return engine


class BlockingCallOnEventLoop(RuntimeError):
    """A database call was made on the event loop's thread (a programming error)."""


class LoopGuard:
    """Refuses any statement made on the thread that runs the server's event loop.

    A blocking call there stalls every request the server holds; one that waits for a lock
    whose holder can only finish on that same loop stalls it for good. The server's database
    work belongs in worker threads (plain `def` routes and dependencies). The guard watches
    the loop the server runs (set at start-up), so a script or test with its own loop is not
    refused."""

    def __init__(self, engine: Engine) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        event.listen(engine, "before_cursor_execute", self._refuse)

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def _refuse(self, _connection, _cursor, statement, *_args) -> None:
        if self.loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is self.loop:
            raise BlockingCallOnEventLoop(
                f"database call on the event loop's thread: {statement[:80]!r}"
            )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def store_session(settings) -> Iterator[Session]:
    """One unit of work at the command line on the store `settings` names (checked by
    open_store), its engine closed after."""
    engine = open_store(settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def import_models() -> None:
    """Import every domain's models so Base.metadata is complete (for migrations and tests)."""
    from civicshare.accounts import models as _accounts  # noqa: F401
    from civicshare.agreements import models as _agreements  # noqa: F401
    from civicshare.audit import models as _audit  # noqa: F401
    from civicshare.counciltax import models as _counciltax  # noqa: F401
    from civicshare.datasets import models as _datasets  # noqa: F401
    from civicshare.discharge import models as _discharge  # noqa: F401
    from civicshare.enquiries import models as _enquiries  # noqa: F401
    from civicshare.events import models as _events  # noqa: F401
    from civicshare.incidents import models as _incidents  # noqa: F401
    from civicshare.linkage import models as _linkage  # noqa: F401
    from civicshare.notifications import models as _notifications  # noqa: F401
    from civicshare.partners import models as _partners  # noqa: F401
    from civicshare.rights import models as _rights  # noqa: F401
    from civicshare.rights.access import models as _rights_access  # noqa: F401
    from civicshare.rights.benefits import models as _rights_benefits  # noqa: F401
    from civicshare.sharing import models as _sharing  # noqa: F401
    from civicshare.works import models as _works  # noqa: F401


def text_enum(cls: type[enum.Enum], name: str) -> Enum:
    """An enum stored as text with a CHECK constraint: the same on SQLite and PostgreSQL."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


def _unit_of_work(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.sessions) as session:
        yield session


async def request_session(
    session: Session = Depends(_unit_of_work, scope="function"),
) -> Session:
    """FastAPI dependency: the request's unit of work on the governance store.

    Scope "function" commits before the response is sent, so a client that follows a
    redirect after a POST always sees what the POST wrote (FastAPI's default for yield
    dependencies would commit only after the response went out). `async` only because it does
    no I/O: FastAPI would otherwise hand it to a worker thread and back on every request."""
    return session


# The request's unit of work, for a route or dependency: `session: SessionDep`.
SessionDep = Annotated[Session, Depends(request_session)]


def transaction_lock(session: Session, data_dir: Path, space: int, key: int, *, wait: bool) -> bool:
    """Hold the lock (`space`, `key`) until this unit of work ends (commit or rollback), across
    processes: a PostgreSQL advisory lock, or on the embedded store a file lock in
    data_dir/locks (not a database lock: SQLite's one writer must stay free meanwhile).
    With `wait` False, returns False at once if another holds it."""
    if session.get_bind().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        held = session.execute(
            text(f"SELECT {function}(:space, :key)"), {"space": space, "key": key}
        ).scalar()
        return wait or bool(held)
    from civicshare.private import private_dir, private_file

    folder = private_dir(Path(data_dir) / "locks")
    # Closed (which releases the lock) when the unit of work ends.
    handle = open(private_file(folder / f"{space:x}-{key}.lock"), "a+b")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    root = session.get_transaction() or session.begin()

    def release(_session, transaction) -> None:
        if transaction is root and not handle.closed:
            handle.close()

    event.listen(session, "after_transaction_end", release)
    return True

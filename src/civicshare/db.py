"""The governance store: engine, sessions, the declarative base and migrations."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends, Path
from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from starlette.requests import Request

MIGRATIONS_DIR = FilePath(__file__).parent / "migrations"

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
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


class BlockingCallOnEventLoop(RuntimeError):
    """A database call was made on the event loop's thread (a programming error)."""


def forbid_on_event_loop(engine: Engine) -> None:
    """Refuse any statement on a thread that runs an asyncio event loop.

    A blocking call there stalls every request the server holds; one that waits for a lock
    whose holder can only finish on that same loop stalls it for good. The server's database
    work belongs in worker threads (plain `def` routes and dependencies)."""

    def refuse(_connection, _cursor, statement, *_args) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise BlockingCallOnEventLoop(
            f"database call on the event loop's thread: {statement[:80]!r}"
        )

    event.listen(engine, "before_cursor_execute", refuse)


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
    from civicshare.datasets import models as _datasets  # noqa: F401
    from civicshare.incidents import models as _incidents  # noqa: F401
    from civicshare.linkage import models as _linkage  # noqa: F401
    from civicshare.partners import models as _partners  # noqa: F401
    from civicshare.sharing import models as _sharing  # noqa: F401


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

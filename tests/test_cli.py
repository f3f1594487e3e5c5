"""The `civicshare` command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from civicshare import db
from civicshare.agreements import service as agreements
from civicshare.audit import checkpoints
from civicshare.audit import service as audit
from civicshare.cli import app
from civicshare.datasets import service as datasets
from civicshare.partners import service as partners

runner = CliRunner()
PARTNER = "worcestershire-cc"


def invoke(*args: str, env: dict[str, str] | None = None):
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_help_lists_the_commands():
    output = invoke("--help")
    for command in ("serve", "demo", "db", "config", "synth"):
        assert command in output


def test_config_show_masks_the_database_password_and_names_sources(settings):
    output = invoke(
        "config",
        "show",
        env={
            "CIVICSHARE_DATABASE_URL": "postgresql+psycopg://gateway:hunter2@db.example:5432/cs",
            "COLUMNS": "200",
        },
    )
    assert "hunter2" not in output
    assert "postgresql+psycopg://gateway:***@db.example:5432/cs" in output
    assert "environment" in output and "default" in output


def test_config_file_is_read_and_the_environment_wins(settings, tmp_path):
    (tmp_path / "civicshare.toml").write_text('data_dir = "from-file"\nport = 9001\n')
    output = invoke("config", "show", env={"CIVICSHARE_PORT": "9100", "COLUMNS": "200"})
    assert "from-file" in output and "config file" in output
    assert "9100" in output and "9001" not in output


def test_config_file_with_an_unknown_setting_is_refused(settings, tmp_path):
    (tmp_path / "civicshare.toml").write_text('data_dri = "typo"\n')
    result = runner.invoke(app, ["config", "show"])
    line = _one_line_error(result, "The settings are not valid", "data_dri")
    assert "Extra inputs are not permitted" in line


def test_db_upgrade_creates_then_reports_up_to_date(settings):
    env = {
        "CIVICSHARE_DATA_DIR": str(settings.data_dir),
        "CIVICSHARE_DATABASE_URL": settings.effective_database_url,
    }
    assert "upgraded from empty to" in invoke("db", "upgrade", env=env)
    assert "already at revision" in invoke("db", "upgrade", env=env)
    assert "up to date" in invoke("db", "current", env=env)
    engine = db.make_engine(settings.effective_database_url)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_demo_prepares_the_store_once_and_reuses_the_county(settings):
    env = {
        "CIVICSHARE_DATA_DIR": str(settings.data_dir),
        "CIVICSHARE_DATABASE_URL": settings.effective_database_url,
    }
    first = invoke("demo", "--no-serve", "--people", "400", "--seed", "3", env=env)
    assert "Generating a synthetic county of 400 residents" in first
    assert "Signed audit checkpoint 1 at seq" in first
    manifest = json.loads((settings.data_dir / "synthetic" / "manifest.json").read_text())
    assert manifest["people"] == 400 and manifest["seed"] == 3
    # A person pushes their own version of one dataset; the demo must never replace it.
    engine = db.make_engine(settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        before = _current_versions(session)
        mine = settings.data_dir.parent / "highway-works-mine.csv"
        source = settings.data_dir / "synthetic" / "datasets" / "highway-works.csv"
        lines = source.read_text().splitlines(keepends=True)
        mine.write_text("".join(lines[:-1]))  # one row fewer: a different file
        pushed = datasets.push(session, settings, PARTNER, "highway-works", mine)
        assert pushed.outcome == "accepted", pushed.report
        user_version = pushed.snapshot.version
    second = invoke("demo", "--no-serve", "--people", "400", "--seed", "3", env=env)
    assert "Reusing the synthetic county" in second
    assert "Pushed" not in second
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        after = _current_versions(session)
        current = datasets.current_snapshot(session, PARTNER, "highway-works", settings)
        assert current.version == user_version
        assert current.file_sha256 == pushed.snapshot.file_sha256
    engine.dispose()
    assert after == {**before, (PARTNER, "highway-works"): user_version}
    # The store, keys and snapshots (pushed by the demo and by a person): 0600 in 0700.
    assert_private(settings.data_dir / "keys", settings.data_dir / "snapshots")
    assert oct(settings.data_dir.stat().st_mode & 0o777) == oct(0o700)
    store = db.sqlite_path(settings.effective_database_url)
    for path in store.parent.glob(store.name + "*"):
        assert oct(path.stat().st_mode & 0o777) == oct(0o600), path
    summary = f"{len(manifest['partners'])} partners, {len(manifest['datasets'])} datasets"
    assert summary in first and summary in second
    # Governance comes with it: people, the charter, and agreements in several states.
    engine = db.make_engine(settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        states = {version.status.value for version in agreements.list_all(session)}
        assert {"active", "draft", "submitted", "revoked"} <= states
        assert len(agreements.list_all(session)) == 14  # 13 + the incident agreement; none added
        assert partners.current_charter(session).version == 2
        # The log ends signed: a checkpoint covers every record but the checkpoint's own.
        assert checkpoints.count(session) >= 1
        assert checkpoints.uncovered(session)[0] == 0
        assert audit.verify(session).intact
    engine.dispose()


def _current_versions(session) -> dict[tuple[str, str], int]:
    from sqlalchemy import select

    from civicshare.datasets.models import Dataset, DatasetSnapshot
    from civicshare.partners.models import Partner

    rows = session.execute(
        select(Partner.key, Dataset.name, DatasetSnapshot.version)
        .join(Dataset, Dataset.partner_id == Partner.id)
        .join(DatasetSnapshot, DatasetSnapshot.dataset_id == Dataset.id)
    ).all()
    newest: dict[tuple[str, str], int] = {}
    for key, name, version in rows:
        newest[(key, name)] = max(version, newest.get((key, name), 0))
    return newest


def test_crash_reports_never_print_local_variables():
    # Typer's pretty tracebacks show every local by default: a token or a resident's details
    # could end up on a terminal or in a log.
    assert app.pretty_exceptions_show_locals is False


# -- a store that is missing, unreachable or not migrated: one line, exit code 2 -------------

STORE_COMMANDS = [
    ["audit", "verify"],
    [
        "share",
        "pull",
        "worcs-acute",
        "acute-admissions",
        "--purpose",
        "discharge-planning",
        "--out",
        "out.csv",
        "--token",
        "not-a-token",
    ],
    ["partners", "list"],
    ["retention", "status"],
    ["db", "current"],
    ["serve"],
]


def _one_line_error(result, *expected: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_store_command_outside_the_gateway_folder_says_so_in_one_line(
    settings, tmp_path, command
):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    result = runner.invoke(app, command, env={"CIVICSHARE_DATA_DIR": str(empty)})
    line = _one_line_error(result, "No governance store at", str(empty.resolve()))
    assert "CIVICSHARE_DATA_DIR" in line and "civicshare db upgrade" in line
    assert list(empty.iterdir()) == []  # no empty database (or keys) made as a side effect


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unmigrated_store_is_a_configuration_error(settings, tmp_path):
    empty_db = tmp_path / "empty.db"
    empty_db.touch()
    result = runner.invoke(
        app, ["audit", "verify"], env={"CIVICSHARE_DATABASE_URL": f"sqlite:///{empty_db}"}
    )
    _one_line_error(result, "not migrated", "civicshare db upgrade")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unreachable_store_is_named_with_its_password_hidden(settings):
    url = "postgresql+psycopg://gateway:hunter2@127.0.0.1:1/civicshare"
    result = runner.invoke(app, ["audit", "verify"], env={"CIVICSHARE_DATABASE_URL": url})
    line = _one_line_error(result, "Cannot open the governance store at")
    assert "gateway:***@127.0.0.1:1/civicshare" in line and "hunter2" not in line


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_config_show_says_where_the_data_directory_resolved_and_whether_the_store_is_there(
    settings, tmp_path
):
    env = {"CIVICSHARE_DATA_DIR": "gateway-data", "COLUMNS": "300"}
    output = invoke("config", "show", env=env)
    where = tmp_path / "gateway-data"
    assert f"Data directory: {where} (does not exist)" in output
    assert "does not exist here; `civicshare db upgrade` creates it" in output
    invoke("db", "upgrade", env=env)
    output = invoke("config", "show", env=env)
    assert f"Data directory: {where} (exists)" in output
    assert f"sqlite:///{where / 'civicshare.db'} (exists)" in output


# -- the store, keys, snapshots and staging: files 0600 in directories 0700 ------------------


def assert_private(*roots) -> None:
    """Every directory under each root (itself included) 0700 and every file 0600."""
    import stat
    from pathlib import Path

    loose = []
    for root in map(Path, roots):
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode != (0o700 if path.is_dir() else 0o600):
                loose.append(f"{path} {mode:o}")
    assert loose == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_db_upgrade_makes_the_store_private_and_tightens_an_old_one(settings, tmp_path):
    import os
    import sqlite3

    data = tmp_path / "gateway" / "var"
    env = {"CIVICSHARE_DATA_DIR": str(data)}
    invoke("db", "upgrade", env=env)
    store = data / "civicshare.db"
    with sqlite3.connect(store) as connection:  # a reader leaves -wal and -shm behind
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("SELECT 1").fetchall()
        assert (data / "civicshare.db-wal").exists() or (data / "civicshare.db-shm").exists()
        assert_private(data)
    # A store made before this rule (0644 in 0755) is tightened by the next command.
    os.chmod(data, 0o755)
    for path in data.glob("civicshare.db*"):
        os.chmod(path, 0o644)
    invoke("db", "upgrade", env=env)
    assert_private(data)

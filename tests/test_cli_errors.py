"""The command line's one error seam (`civicshare.cli._Gateway`): a refusal is one line on
standard error and exit code 2, a failed check exits 1, a crash shows its traceback and exits 3
(docs/running.md, "Exit codes")."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from civicshare.cli import app
from tests.audit.conftest import write

runner = CliRunner()


def refused(*args: str) -> str:
    """The one line a refused command prints; its exit code is 2 and there is no traceback."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_domain_error_is_one_line_and_exit_code_2(operator_env, tmp_path):
    assert refused("agreements", "show", "ISA-9999") == "Error: There is no agreement ISA-9999."
    # With a field, the line names the option or argument as it was typed, even in a group
    # inside a group (`partners oidc`).
    line = refused("agreements", "ropa", "--out", str(tmp_path / "r.csv"), "--partner", "nope")
    assert line == "Error: There is no partner with the key 'nope'. (--partner)"
    assert refused("partners", "oidc", "remove", "nope").endswith("(PARTNER)")
    assert refused("datasets", "show", "nope", "people") == (
        "Error: nope has no dataset 'people'. (DATASET)"
    )
    assert refused("incidents", "list", "--token", "not-a-token").endswith("(--token)")
    # Nothing was written as a side effect.
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_tampered_audit_log_is_a_failed_check_exit_code_1(operator_env, engine, sessions):
    write(sessions, 2)
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_records_no_update")
        connection.execute(text("UPDATE audit_records SET reason = 'nothing' WHERE seq = 1"))
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "Audit log TAMPERED" in result.output and "Error:" not in result.output


def test_a_usage_error_is_exit_code_2():
    result = runner.invoke(app, ["agreements", "list", "--status", "nonsense"])
    assert result.exit_code == 2 and "Invalid value" in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_crash_shows_its_traceback_without_locals_and_exits_3(operator_env, monkeypatch):
    from civicshare.agreements import service

    def broken(session, status):
        detail = "-".join(["hunter", "2"])  # a local variable: never printed
        raise RuntimeError(f"a bug ({len(detail)})")

    monkeypatch.setattr(service, "list_all", broken)
    result = runner.invoke(app, ["agreements", "list"])
    assert result.exit_code == 3, result.output
    assert "Traceback" in result.output and "RuntimeError: a bug (8)" in result.output
    assert "hunter-2" not in result.output

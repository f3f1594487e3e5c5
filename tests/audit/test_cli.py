"""`civicshare audit verify`, `checkpoint` and `public-key` at the server."""

from __future__ import annotations

from typer.testing import CliRunner

from civicshare.cli import app
from tests.audit.conftest import write

runner = CliRunner()


def test_verify_checkpoint_and_public_key(operator_env, sessions, attacker):
    write(sessions, 3)
    result = runner.invoke(app, ["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert "Signed checkpoint 1 at seq 3" in result.output
    assert (operator_env.effective_keys_dir / "audit-signing.key").exists()

    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "Audit log intact: 4 records, 1 signed checkpoint, last at seq 3" in result.output

    result = runner.invoke(app, ["audit", "public-key"])
    assert result.exit_code == 0
    assert "-----BEGIN PUBLIC KEY-----" in result.output

    attacker("UPDATE audit_records SET reason = 'nothing happened' WHERE seq = 2")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "Audit log TAMPERED: record seq 2 (id 2): its content does not match its hash" in (
        " ".join(result.output.split())
    )

    result = runner.invoke(app, ["audit", "list", "--last", "2"])
    assert result.exit_code == 0
    assert "audit_checkpoint_signed" in result.output

"""Governed sharing tests reuse the agreements tests' small partnership."""

from typer.testing import CliRunner

from civicshare.cli import app as cli_app
from tests.agreements.conftest import world  # noqa: F401  (a fixture)


def invoke_pull(store, token: str, purpose: str, out):
    """`civicshare share pull --out` of the hospital's admissions as a token holder would run
    it against `store` (a Settings): the CLI runner's result, whatever it is."""
    return CliRunner().invoke(
        cli_app,
        ["share", "pull", "worcs-acute", "acute-admissions", "--purpose", purpose,
         "--out", str(out)],
        env={"CIVICSHARE_TOKEN": token, "CIVICSHARE_DATA_DIR": str(store.data_dir),
             "CIVICSHARE_DATABASE_URL": store.effective_database_url},
    )  # fmt: skip


def cli_pull(store, token: str, purpose: str, out) -> bytes:
    """`invoke_pull`, which must succeed: the file's bytes."""
    result = invoke_pull(store, token, purpose, out)
    assert result.exit_code == 0, result.output
    return out.read_bytes()

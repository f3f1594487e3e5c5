"""Governed sharing tests reuse the agreements tests' small partnership."""

from typer.testing import CliRunner

from civicshare.cli import app as cli_app
from tests.agreements.conftest import world  # noqa: F401  (a fixture)


def cli_pull(store, token: str, purpose: str, out) -> bytes:
    """The hospital's admissions pulled with `civicshare share pull --out` as a token holder
    would (the file's bytes); the command must succeed."""
    result = CliRunner().invoke(
        cli_app,
        ["share", "pull", "worcs-acute", "acute-admissions", "--purpose", purpose,
         "--out", str(out)],
        env={"CIVICSHARE_TOKEN": token, "CIVICSHARE_DATA_DIR": str(store.data_dir),
             "CIVICSHARE_DATABASE_URL": store.effective_database_url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out.read_bytes()

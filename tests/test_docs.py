"""The documentation says what the code does: every command in the README's table exists,
every setting is documented, and the schema revision shown in examples is the current one
(as Datasette's tests/test_docs.py keeps its settings and hooks documented)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup

from civicshare import db
from civicshare.cli import app
from civicshare.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RUNNING = (ROOT / "docs" / "running.md").read_text()


def readme_commands() -> list[list[str]]:
    """Each `civicshare a b|c …` in the README's command table, as words (alternatives split)."""
    found = []
    for cell in re.findall(r"^\| `(civicshare [^`]+)`", README, flags=re.M):
        for command in re.split(r"`, `", cell):
            words = [w for w in command.split()[1:] if not w.startswith(("-", "…", "["))]
            words = [w for w in words if w.replace("|", "").replace("-", "").isalpha()]
            found.append(words)
    return found


def test_the_readme_lists_commands():
    assert len(readme_commands()) >= 10


@pytest.mark.parametrize("words", readme_commands(), ids=" ".join)
def test_every_command_in_the_readme_exists(words):
    group = typer.main.get_command(app)
    for depth, word in enumerate(words):
        if not isinstance(group, TyperGroup):  # Typer vendors its own click: not click.Group
            break  # the rest are arguments
        names = word.split("|")
        missing = [name for name in names if name not in group.commands]
        if depth > 0 and missing and all(n.isupper() for n in names):
            break
        assert not missing, f"civicshare {' '.join(words[:depth])} has no {missing}"
        group = group.commands[names[0]]


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name):
    variable = f"{ENV_PREFIX}{name.upper()}"
    assert f"`{name}`" in RUNNING and f"`{variable}`" in RUNNING, (
        f"{name} ({variable}) is not in docs/running.md's settings table"
    )


def test_schema_revisions_in_examples_are_the_current_one():
    head = db.head_revision()
    for path in (ROOT / "README.md", ROOT / "docs" / "running.md"):
        text = path.read_text()
        shown = set(re.findall(r'"(?:head_)?revision": ?"(\d{4})"', text))
        shown |= set(re.findall(r"(?:at revision|revision|latest) (\d{4})\b", text))
        assert shown, f"{path.name} shows no revision"
        assert shown == {head}, f"{path.name} shows revisions {sorted(shown)}; the head is {head}"


def test_every_exit_code_is_documented():
    from civicshare import cli

    section = RUNNING.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d) \|", section, flags=re.M)}
    assert documented == {cli.OK, cli.CHECK_FAILED, cli.USAGE_ERROR, cli.CRASHED}


def test_every_token_scope_is_documented():
    from civicshare.accounts.service import SCOPES

    accounts = (ROOT / "docs" / "partners-and-accounts.md").read_text()
    documented = set(re.findall(r"^\| `([a-z-]+:[a-z-]+)` \|", accounts, flags=re.M))
    assert documented == set(SCOPES), (
        f"docs/partners-and-accounts.md's scope table has {sorted(documented)}; "
        f"accounts.SCOPES has {sorted(SCOPES)}"
    )

"""The import rules in pyproject.toml ([tool.importlinter]) hold, and they bite: a copy of the
package with one forbidden import added fails them, naming the contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(source: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(source)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_rules_hold():
    result = lint_imports(ROOT / "src", ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_forbidden_import_breaks_the_build(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "civicshare",
        copy / "civicshare",
        ignore=shutil.ignore_patterns("static", "__pycache__", "*.pyc", "node_modules"),
    )
    errors = copy / "civicshare" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom civicshare.agreements import service  # noqa\n")

    result = lint_imports(copy, tmp_path)

    assert result.returncode != 0
    assert "The core, settings, the store and the error seam import no domain BROKEN" in (
        result.stdout
    )
    assert "civicshare.core.errors -> civicshare.agreements.service" in result.stdout

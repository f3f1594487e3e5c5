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


# -- who may open a snapshot -----------------------------------------------------------------
# import-linter sees an external package only whole (pyarrow, not pyarrow.parquet), so the
# Parquet half of the data-plane rule is checked here, on the imports themselves.
SRC = ROOT / "src" / "civicshare"
SNAPSHOT_READERS = {"duckdb", "pyarrow.parquet", "pyarrow.dataset"}
MAY_READ_FILES = (
    "dataplane/",  # the one owner of snapshots
    "linkage/",  # Splink's DuckDB over frames the person index read through the data plane
    "synthetic/",  # writes the synthetic county's source files, never a snapshot
    "incidents/reference.py",  # reference geography installed by the demo, not partner data
)


def file_readers(tree) -> set[str]:
    import ast

    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in SNAPSHOT_READERS}
        elif isinstance(node, ast.ImportFrom) and node.module in ("pyarrow", "duckdb"):
            found |= {
                f"{node.module}.{a.name}" if node.module == "pyarrow" else "duckdb"
                for a in node.names
            } & SNAPSHOT_READERS
    return found


def test_only_the_data_plane_opens_parquet_or_duckdb():
    import ast

    offenders = {
        str(path.relative_to(SRC)): sorted(found)
        for path in SRC.rglob("*.py")
        if not str(path.relative_to(SRC)).startswith(MAY_READ_FILES)
        and (found := file_readers(ast.parse(path.read_text())))
    }
    assert offenders == {}


def test_the_parquet_rule_bites():
    import ast

    assert file_readers(ast.parse("import pyarrow.parquet as pq")) == {"pyarrow.parquet"}
    assert file_readers(ast.parse("from pyarrow import parquet")) == {"pyarrow.parquet"}
    assert file_readers(ast.parse("def f():\n    import duckdb")) == {"duckdb"}
    assert file_readers(ast.parse("import pyarrow as pa\nimport pyarrow.compute")) == set()

"""The import rules in pyproject.toml ([tool.importlinter]) hold, and they bite: a copy of the
package with one forbidden import added fails them, naming the contract. And the size and
privacy rules of the architecture guide hold over src/civicshare (migrations excepted): no
function over 120 lines, no module over 800, no private name imported from another module."""

from __future__ import annotations

import ast
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


# ---- size and privacy, read from the source with ast --------------------------------------

SRC = ROOT / "src" / "civicshare"
MIGRATIONS = SRC / "migrations" / "versions"
MAX_FUNCTION_LINES = 120
MAX_MODULE_LINES = 800

# Functions still over MAX_FUNCTION_LINES, as "module:qualified.name". Each is being split on
# its own branch: remove its entry when it is short enough (the stale-list test fails until you
# do). Never add one.
STILL_TOO_LONG: set[str] = set()


def modules() -> dict[str, tuple[Path, ast.Module]]:
    """Every module of the package but the migration scripts, by dotted name."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        if MIGRATIONS in path.parents:
            continue
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = (path, ast.parse(path.read_text(), filename=str(path)))
    return found


def function_lengths(module: str, tree: ast.Module) -> dict[str, int]:
    """Lines of each function and method (from its def to its last line), nested ones too."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    key = f"{module}:{name}"
                    lengths[key] = max(lengths.get(key, 0), child.end_lineno - child.lineno + 1)
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return lengths


def private_imports(tree: ast.Module) -> list[str]:
    """`from civicshare... import _name` and `from .x import _name`: a private name taken from
    another module (dunders such as __version__ are not private)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        source = "." * node.level + (node.module or "")
        if node.level == 0 and source.split(".")[0] != "civicshare":
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append(f"line {node.lineno}: from {source} import {alias.name}")
    return found


def all_function_lengths() -> dict[str, int]:
    lengths: dict[str, int] = {}
    for name, (_, tree) in modules().items():
        lengths.update(function_lengths(name, tree))
    return lengths


def test_no_function_is_longer_than_120_lines():
    too_long = {
        name: lines
        for name, lines in all_function_lengths().items()
        if lines > MAX_FUNCTION_LINES and name not in STILL_TOO_LONG
    }
    assert not too_long, (
        f"split these along their own sections into helpers of at most {MAX_FUNCTION_LINES} "
        f"lines: {too_long}"
    )


def test_the_still_too_long_list_is_not_stale():
    lengths = all_function_lengths()
    stale = {
        name: lengths.get(name, "gone")
        for name in STILL_TOO_LONG
        if lengths.get(name, 0) <= MAX_FUNCTION_LINES
    }
    assert not stale, f"remove these from STILL_TOO_LONG, they are short enough now: {stale}"


def test_no_module_is_longer_than_800_lines():
    too_long = {}
    for name, (path, tree) in modules().items():
        lines = len(path.read_text().splitlines())
        data_only = not any(
            isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(tree)
        )
        if lines > MAX_MODULE_LINES and not data_only:
            too_long[name] = lines
    assert not too_long, (
        "split these along their section headers into a sub-package that re-exports "
        f"(docs/development.md, 'Size and privacy'): {too_long}"
    )


def test_no_private_name_is_imported_from_another_module():
    found = {name: hits for name, (_, tree) in modules().items() if (hits := private_imports(tree))}
    assert not found, f"give these a public name where they are defined: {found}"


def test_the_size_and_privacy_checks_find_what_they_look_for():
    source = "\n".join(
        [
            "from civicshare.private import _chmod, __version__",
            "from .common import _audit",
            "from os.path import _joinrealpath",
            "class A:",
            "    def method(self):",
            *["        pass"] * 130,
            "def short():",
            "    def inner():",
            "        pass",
        ]
    )
    tree = ast.parse(source)
    assert private_imports(tree) == [
        "line 1: from civicshare.private import _chmod",
        "line 2: from .common import _audit",
    ]
    assert function_lengths("m", tree) == {"m:A.method": 131, "m:short": 3, "m:short.inner": 2}


# -- who may open a snapshot -----------------------------------------------------------------
# import-linter sees an external package only whole (pyarrow, not pyarrow.parquet), so the
# Parquet half of the data-plane rule is checked here, on the imports themselves.
SNAPSHOT_READERS = {"duckdb", "pyarrow.parquet", "pyarrow.dataset"}
MAY_READ_FILES = (
    "dataplane/",  # the one owner of snapshots
    "linkage/",  # Splink's DuckDB over frames the person index read through the data plane
    "synthetic/",  # writes the synthetic county's source files, never a snapshot
    "maps/reference.py",  # reference geography installed by the demo, not partner data
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

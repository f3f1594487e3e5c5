"""Every third-party module the gateway imports is installed by `make demo`, which installs the
main dependencies only: one imported only through a development extra would run in `make test`
and fail on a user's first `make demo` (as jellyfish once did)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "civicshare"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_by_main_dependencies() -> set[str]:
    """The main dependencies and, recursively, what they require (without extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [normalise(Requirement(r).name) for r in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here, so nothing imported can come from it
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(normalise(requirement.name))
    return seen


def imported_top_level_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path)
    return found


def test_every_imported_package_is_a_main_dependency_or_installed_by_one():
    installed = installed_by_main_dependencies()
    distributions = metadata.packages_distributions()
    missing = []
    for module, path in sorted(imported_top_level_modules().items()):
        if module in sys.stdlib_module_names or module in ("civicshare", "__future__"):
            continue
        if module == "pyspark":  # the Spark backend is an optional extra, imported lazily
            continue
        owners = {normalise(d) for d in distributions.get(module, [])}
        if not owners & installed:
            missing.append(f"{module} ({path.relative_to(ROOT)}): from {sorted(owners) or '?'}")
    assert not missing, "imported but not installed by `make demo`:\n" + "\n".join(missing)

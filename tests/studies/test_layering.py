"""The library never depends on the studies application or the bench scripts built over it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIBRARY_PACKAGES = ("degrade", "pipelines", "trainer")
APPLICATIONS = ("studies", "bench")


def imported_roots(source: str) -> set[str]:
    """Top-level names of every module a Python source imports (absolute imports)."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_imported_roots_sees_nested_and_from_imports():
    source = "import os\ndef f():\n    from studies.scales import get_scale\nimport bench.x as y\n"
    assert imported_roots(source) == {"os", "studies", "bench"}


@pytest.mark.parametrize("package", LIBRARY_PACKAGES)
def test_library_modules_do_not_import_applications(package):
    offenders = [f"{path.relative_to(REPO)} imports {root}"
                 for path in sorted((REPO / package).rglob("*.py"))
                 for root in imported_roots(path.read_text()) if root in APPLICATIONS]
    assert not offenders, offenders


def test_studies_is_not_an_installed_package():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    assert not any(pattern.split("*")[0] == "studies" for pattern in include)

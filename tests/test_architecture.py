"""The pipeline flows one way, and each third-party library has one home."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nixdf"

# Each module may import only modules on later lines (the stages below it).
LAYERS = ["__main__", "cli frontend", "api", "cachefrom", "locking storegc", "failures", "load",
          "lockfile", "options",
          "engine render buildlog", "plan inputs flake", "spec", "dockertools nix2container",
          "imageconfig", "arguments", "image vocabulary", "evaluate", "evaluator",
          "primops", "values", "parse", "lexer tables layers builders defaults syntax",
          "files libfiles registrations",
          "errors cachedir record progress"]
OWNERS = {"lark": "tables", "jinja2": "render", "typer": "cli", "subprocess": "engine",
          "grpc": "frontend"}


def _rank(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if module in layer.split())


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.module:  # `from .errors import X`, `from lark import Lark`
                found.add(node.module.split(".")[0])
            else:  # `from . import api, defaults`
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
    return found


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("module", MODULES)
def test_imports_flow_down_the_pipeline(module: str) -> None:
    for imported in _imports(module):
        if (PACKAGE / f"{imported}.py").exists() or imported == "nixdf":
            target = "cli" if imported == "nixdf" else imported
            assert _rank(target) > _rank(module), f"{module} imports {imported}"


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_library_has_one_home(library: str) -> None:
    users = [m for m in MODULES if library in _imports(m)]
    assert users == [OWNERS[library]]

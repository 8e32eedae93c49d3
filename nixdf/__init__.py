"""nixdf: Nix builds for BuildKit, through a Dockerfile you can read.

The pipeline, one module per stage: parse → evaluate → spec → plan → render →
engine; :mod:`nixdf.api` runs it and :mod:`nixdf.cli` is the command line.
"""

from __future__ import annotations

import os

from .errors import EngineError, EvalError, NixdfError, NixSyntaxError, Span, SpecError
from .parse import parse

__version__ = "0.1.0"  # pyproject.toml reads it from here

__all__ = [
    "EngineError", "EvalError", "NixSyntaxError", "NixdfError", "Span", "SpecError", "parse",
]


def _find_checkout_data() -> None:
    """In a source checkout, make ``nixdf.grammar`` and ``nixdf.templates`` the directories
    beside the package, as pyproject's package-dir maps them into the wheel.

    With the checkout first on sys.path (``python -m nixdf`` from its root) its nixdf
    shadows an installed one, and has no grammar/ or templates/ inside.
    """
    import importlib.util
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in ("grammar", "templates"):
        directory = os.path.join(root, name)
        init = os.path.join(directory, "__init__.py")
        if not os.path.isfile(init):
            continue
        spec = importlib.util.spec_from_file_location(f"{__name__}.{name}", init,
                                                      submodule_search_locations=[directory])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        globals()[name] = module


if not os.path.isdir(os.path.join(os.path.dirname(__file__), "grammar")):
    _find_checkout_data()

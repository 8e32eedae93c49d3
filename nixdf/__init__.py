"""nixdf: Nix builds for BuildKit, through a Dockerfile you can read.

The pipeline, one module per stage: parse → evaluate → spec → plan → render →
engine; :mod:`nixdf.api` runs it and :mod:`nixdf.cli` is the command line.
"""

from __future__ import annotations

from .errors import EngineError, EvalError, NixdfError, NixSyntaxError, Span, SpecError
from .parse import parse

__all__ = [
    "EngineError", "EvalError", "NixSyntaxError", "NixdfError", "Span", "SpecError", "parse",
]

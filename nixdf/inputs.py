"""Which files of the build context the builder needs: the Nix inputs only.

Copying the whole context would re-run the Nix build whenever any file in it
changed; instead nixdf copies the Nixfile and every local path it (or a Nix file
it refers to) names, so editing an unrelated file re-runs nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

from . import syntax as s
from .errors import SpecError


def relative_paths(expr: object) -> Iterator[s.Path]:
    """Every path literal without interpolation that is relative to its file."""
    if isinstance(expr, s.Path):
        if all(isinstance(p, str) for p in expr.parts):
            text = "".join(p for p in expr.parts if isinstance(p, str))
            if not text.startswith(("/", "~")):
                yield expr
        return
    if isinstance(expr, tuple):
        for item in expr:
            yield from relative_paths(item)
        return
    if dataclasses.is_dataclass(expr) and not isinstance(expr, type):
        for field in dataclasses.fields(expr):
            if field.name != "span":
                yield from relative_paths(getattr(expr, field.name))


def nix_inputs(nixfile: Path, context: Path,
               parse: Callable[[str, str], s.Expr]) -> tuple[str, ...]:
    """Context-relative paths to copy into the builder, the Nixfile first."""
    context = context.resolve()
    found: list[Path] = []
    pending = [nixfile.resolve()]
    seen: set[Path] = set()
    while pending:
        current = pending.pop()
        source_file = current / "default.nix" if current.is_dir() else current
        if current in seen:
            continue
        seen.add(current)
        found.append(current)
        if source_file.suffix != ".nix" and source_file != nixfile.resolve():
            continue
        if not source_file.is_file():
            continue
        display = _display(source_file, context)
        tree = parse(source_file.read_text(encoding="utf-8"), display)
        for node in relative_paths(tree):
            text = "".join(p for p in node.parts if isinstance(p, str))
            target = (source_file.parent / text).resolve()
            if not target.is_relative_to(context):
                raise SpecError(f"{text} lies outside the build context {context}", node.span,
                                hint="the builder sees only the Nixfile's directory; move the "
                                "file there.")
            if not target.exists():
                raise SpecError(f"{text} does not exist", node.span)
            pending.append(target)
    return _outermost(found, context)


def _display(path: Path, context: Path) -> str:
    return path.relative_to(context).as_posix()


def _outermost(paths: list[Path], context: Path) -> tuple[str, ...]:
    kept = [p for p in paths if not any(q != p and p.is_relative_to(q) for q in paths)]
    nixfile, rest = kept[0], sorted(kept[1:])
    return tuple(_display(p, context) if p != context else "." for p in [nixfile, *rest])

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
from .errors import NixdfError, SpecError


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


def nix_inputs(nixfile: Path, tree: s.Expr, context: Path,
               parse: Callable[[str, str], s.Expr]) -> tuple[str, ...]:
    """Context-relative paths to copy into the builder, the Nixfile (parsed: ``tree``) first."""
    context = context.resolve()
    nixfile = nixfile.resolve()
    found = [nixfile]
    pending = _referenced(tree, nixfile.parent, context)
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.append(current)
        source_file = current / "default.nix" if current.is_dir() else current
        if source_file.suffix != ".nix" or not source_file.is_file():
            continue
        text = source_file.read_text(encoding="utf-8")
        try:
            imported = parse(text, _display(source_file, context))
            pending += _referenced(imported, source_file.parent, context)
        except NixdfError as err:
            # Located in this file, so it shows this file's line, not the Nixfile's.
            raise err.with_source(text) from None
    return _outermost(found, context)


def _referenced(tree: s.Expr, directory: Path, context: Path) -> list[Path]:
    paths = []
    for node in relative_paths(tree):
        text = "".join(p for p in node.parts if isinstance(p, str))
        target = (directory / text).resolve()
        if not target.is_relative_to(context):
            raise SpecError(f"{text} lies outside the build context {context}", node.span,
                            hint="the builder sees only the Nixfile's directory; move the "
                            "file there.")
        if not target.exists():
            raise SpecError(f"{text} does not exist", node.span)
        paths.append(target)
    return paths


def _display(path: Path, context: Path) -> str:
    return path.relative_to(context).as_posix()


def _outermost(paths: list[Path], context: Path) -> tuple[str, ...]:
    kept = [p for p in paths if not any(q != p and p.is_relative_to(q) for q in paths)]
    nixfile, rest = kept[0], sorted(kept[1:])
    return tuple(_display(p, context) if p != context else "." for p in [nixfile, *rest])

"""Which files the builder needs, the Nix inputs only, and the build context that holds them.

Copying the whole context would re-run the Nix build whenever any file in it
changed; instead nixdf copies the Nixfile and every local path it (or a Nix file
it refers to) names, so editing an unrelated file re-runs nothing.

The build context is the Nixfile's directory while every input lies there. A
Nixfile that names a path above it (``src = ../.``, ``import ../lib.nix``) gets
the git repository it belongs to as its context, the directory `docker build`
is usually given; outside a repository, the nearest directory that holds them all.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import syntax as s
from .errors import NixdfError, SpecError
from .record import ValueRecord


@dataclass(slots=True, repr=False, eq=False)
class NixInputs(ValueRecord):
    """The build context (absolute), and the Nixfile and what to copy, context-relative.

    ``paths`` are the outermost inputs, the Nixfile first unless a directory
    among them holds it (``src = ./.``).
    """

    context: Path
    nixfile: str
    paths: tuple[str, ...]


@dataclass(slots=True, repr=False, eq=False)
class _Reference(ValueRecord):
    """A local path a Nix file names: what it resolves to, where, and that file's text.

    ``source`` is None for the Nixfile itself, whose text the caller attaches.
    """

    target: Path
    text: str
    span: s.Span
    source: str | None


# Functions that take a path which may be missing: Nix reads nothing from it when it is.
_MAY_BE_MISSING = ("pathExists", "maybeMissing")


def relative_paths(expr: object) -> Iterator[s.Path]:
    """Every path literal without interpolation that is relative to its file."""
    for node in _nodes(expr):
        if isinstance(node, s.Path) and _literal(node) is not None:
            yield node


def _literal(path: s.Path) -> str | None:
    """The text of a relative path literal without interpolation."""
    if not all(isinstance(p, str) for p in path.parts):
        return None
    text = "".join(p for p in path.parts if isinstance(p, str))
    return None if text.startswith(("/", "~")) else text


def _nodes(expr: object) -> Iterator[object]:
    if isinstance(expr, tuple):
        for item in expr:
            yield from _nodes(item)
    elif dataclasses.is_dataclass(expr) and not isinstance(expr, type):
        yield expr
        for field in dataclasses.fields(expr):
            if field.name != "span":
                yield from _nodes(getattr(expr, field.name))


def _tested(tree: s.Expr) -> set[str]:
    """Paths given to ``builtins.pathExists`` or ``lib.fileset.maybeMissing``."""
    tested = set()
    for node in _nodes(tree):
        if not isinstance(node, s.Apply) or not isinstance(node.arg, s.Path):
            continue
        func = node.func
        name = func.name if isinstance(func, s.Ident) else (
            func.path[-1].name if isinstance(func, s.Select)
            and isinstance(func.path[-1], s.StaticKey) else None)
        text = _literal(node.arg)
        if name in _MAY_BE_MISSING and text is not None:
            tested.add(text)
    return tested


def nix_inputs(nixfile: Path, tree: s.Expr,
               parse: Callable[[str, str], s.Expr]) -> NixInputs:
    """The Nixfile (parsed: ``tree``) and every local path reached from it, and their context."""
    nixfile = nixfile.resolve()
    here = nixfile.parent
    found = [nixfile]
    references: list[_Reference] = []
    pending = _referenced(tree, here, None)
    while pending:
        reference = pending.pop()
        current = reference.target
        references.append(reference)
        if current in found:
            continue
        found.append(current)
        source_file = current / "default.nix" if current.is_dir() else current
        if source_file.suffix != ".nix" or not source_file.is_file():
            continue
        text = source_file.read_text(encoding="utf-8")
        try:
            imported = parse(text, _display(source_file, here))
            pending += _referenced(imported, source_file.parent, text)
        except NixdfError as err:
            # Located in this file, so it shows this file's line, not the Nixfile's.
            raise err.with_source(text) from None
    context = _build_context(here, references)
    return NixInputs(context, _relative(nixfile, context), _outermost(found, context))


def _build_context(here: Path, references: list[_Reference]) -> Path:
    """``here`` (the Nixfile's directory) while it holds every input; else see the module doc."""
    outside = [r for r in references if not r.target.is_relative_to(here)]
    if not outside:
        return here
    repository = _git_work_tree(here)
    if repository is not None:
        for reference in outside:
            if not reference.target.is_relative_to(repository):
                raise _refused(reference, f"{reference.text} lies outside the git repository "
                               f"{repository}, the build context",
                               "the builder sees the repository that holds the Nixfile (as "
                               "`docker build` does its context); move the file into it.")
        return repository
    common = Path(os.path.commonpath([here, *(r.target for r in outside)]))
    if common == Path(common.anchor):
        raise _refused(outside[0], f"{outside[0].text} would make the whole file system the "
                       "build context",
                       "the context is the nearest directory that holds the Nixfile and every "
                       "path it names; keep them together, or in one git repository.")
    return common


def _git_work_tree(directory: Path) -> Path | None:
    """The top of the git work tree ``directory`` lies in (a submodule is its own), or None."""
    for candidate in (directory, *directory.parents):
        marker = candidate / ".git"
        # A work tree's .git is a repository (it has HEAD), or in a submodule or a linked
        # work tree a file that points at one; anything else named .git is not git's.
        if (marker / "HEAD").is_file():
            return candidate
        if marker.is_file() and marker.read_bytes().startswith(b"gitdir:"):
            return candidate
    return None


def _refused(reference: _Reference, message: str, hint: str) -> SpecError:
    err = SpecError(message, reference.span, hint=hint)
    if reference.source is not None:
        err.with_source(reference.source)
    return err


def _referenced(tree: s.Expr, directory: Path, source: str | None) -> list[_Reference]:
    """The paths a file names that exist; a missing one is an error unless the file tests
    for it (``if builtins.pathExists ./x then … ./x …``), where Nix never reads it."""
    references = []
    tested = {(directory / text).resolve() for text in _tested(tree)}
    for node in relative_paths(tree):
        text = _literal(node)
        assert text is not None
        target = (directory / text).resolve()
        if not target.exists():
            if target in tested:
                continue
            err = SpecError(f"{text} does not exist", node.span)
            raise err.with_source(source) if source is not None else err
        references.append(_Reference(target, text, node.span, source))
    return references


def _display(path: Path, here: Path) -> str:
    """How errors name an imported file: relative to the Nixfile's directory."""
    return Path(os.path.relpath(path, here)).as_posix()


def _relative(path: Path, context: Path) -> str:
    return path.relative_to(context).as_posix() if path != context else "."


def _outermost(paths: list[Path], context: Path) -> tuple[str, ...]:
    kept = [p for p in paths if not any(q != p and p.is_relative_to(q) for q in paths)]
    first = kept[:1] if kept[0] == paths[0] else []
    return tuple(_relative(p, context) for p in [*first, *sorted(set(kept) - set(first))])

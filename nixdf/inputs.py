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
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from . import syntax as s
from .errors import NixdfError, NixSyntaxError, Span, SpecError, UsageError
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

    @property
    def directory(self) -> Path:
        """The Nixfile's directory: where its Dockerfile's ``.nixdf/`` goes."""
        return self.context / PurePosixPath(self.nixfile).parent


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


def _literal(path: s.Path) -> str | None:
    """The text of a relative path literal without interpolation."""
    if not all(isinstance(p, str) for p in path.parts):
        return None
    text = "".join(p for p in path.parts if isinstance(p, str))
    return None if text.startswith(("/", "~")) else text


# Per type met in a tree, how to get its children: None for what has none (a string, an
# identifier). Made once per class, not once per node: dataclasses.fields on every node
# was most of the time a large Nixfile took to render.
_CHILDREN: dict[type, Callable[[object], tuple[object, ...]] | None] = {
    str: None, type(None): None, tuple: None}
# Fields that never hold a node.
_LEAF_TYPES = {"str", "int", "float", "bool", "str | None", "Span"}


def _children_of(cls: type) -> Callable[[object], tuple[object, ...]] | None:
    if cls not in _CHILDREN:
        names = [f.name for f in dataclasses.fields(cls) if f.type not in _LEAF_TYPES]
        _CHILDREN[cls] = (None if not names else operator.attrgetter(*names) if len(names) > 1
                          else _one_child(names[0]))
    return _CHILDREN[cls]


def _one_child(name: str) -> Callable[[object], tuple[object, ...]]:
    """attrgetter of one name gives the value, not a tuple: the walk wants a tuple."""
    get = operator.attrgetter(name)
    return lambda node: (get(node),)


def _scan(tree: s.Expr) -> tuple[list[tuple[s.Path, str]], set[str]]:
    """One walk over the tree: the relative path literals without interpolation, with their
    text, in source order, and the paths given to ``builtins.pathExists`` or
    ``lib.fileset.maybeMissing``.

    An explicit stack, not recursive generators, whose cost grows with each node's depth
    (a long ``a + b + …`` chain is as deep as it is long).
    """
    paths: list[tuple[s.Path, str]] = []
    tested: set[str] = set()
    stack: list[Any] = [tree]
    pop, push = stack.pop, stack.extend
    while stack:
        node = pop()
        cls = type(node)
        if cls is tuple:
            push(node)
            continue
        if cls is s.Path:
            text = _literal(node)
            if text is not None:
                paths.append((node, text))
        elif cls is s.Apply and type(node.arg) is s.Path:
            text = _literal(node.arg)
            if text is not None and _function_name(node.func) in _MAY_BE_MISSING:
                tested.add(text)
        get = _CHILDREN[cls] if cls in _CHILDREN else _children_of(cls)
        if get is not None:
            push(get(node))
    paths.sort(key=lambda found: found[0].span)
    return paths, tested


def _function_name(func: s.Expr) -> str | None:
    if isinstance(func, s.Ident):
        return func.name
    if isinstance(func, s.Select) and isinstance(func.path[-1], s.StaticKey):
        return func.path[-1].name
    return None


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
        text = read_nix(source_file, _display(source_file, here))
        try:
            imported = parse(text, _display(source_file, here))
            pending += _referenced(imported, source_file.parent, text)
        except NixdfError as err:
            # Located in this file, so it shows this file's line, not the Nixfile's.
            raise err.with_source(text) from None
    context = _build_context(here, references)
    return NixInputs(context, _relative(nixfile, context), _outermost(found, context))


def read_nix(path: Path, shown: str) -> str:
    """The text of a Nix file, which must be UTF-8; ``shown`` names it in errors.

    Nix itself copies any byte of a string as it is, but what nixdf makes of one is
    text: a Dockerfile, an image's JSON config. Rather than guess what a Latin-1 byte
    meant, nixdf points at the first byte that is not UTF-8.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"{shown}: cannot read it: {err.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = err.start
        line_start = data.rfind(b"\n", 0, bad) + 1
        line = data.count(b"\n", 0, bad) + 1
        column = len(data[line_start:bad].decode("utf-8")) + 1
        error = NixSyntaxError(f"byte 0x{data[bad]:02x} is not UTF-8 text",
                               Span(shown, line, column, line, column + 1),
                               hint="nixdf reads Nix files as UTF-8 (what it writes from them, "
                               "a Dockerfile and image configs, is UTF-8): save the file as "
                               "UTF-8, e.g. from Latin-1 with `iconv -f latin1 -t utf-8`.")
        raise error.with_source(data.decode("utf-8", errors="replace")) from None


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
    paths, tested_texts = _scan(tree)
    tested = {(directory / text).resolve() for text in tested_texts}
    # A path named many times (``./.``) is resolved, looked up and followed once.
    seen: set[str] = set()
    for node, text in paths:
        if text in seen:
            continue
        seen.add(text)
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

"""A failed build in the Nixfile's own terms: what the engine's log says (read by
:mod:`nixdf.buildlog`) becomes a located error, or the failed step's last lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .errors import EngineError, NixdfError, NixEvalError, PackageBuildError, Span
from .evaluate import Attrs, LayerCall, ListValue, Thunk, evaluation
from .files import display_name
from .inputs import NixInputs
from .libfiles import LIB_DIR
from .load import read_images
from .plan import SRC_DIR
from .spec import not_a_package_hint

if TYPE_CHECKING:
    from .buildlog import BuildFailure, NotAPackage


def with_failed_step(err: EngineError) -> EngineError:
    """A failure nixdf cannot place ends with the failed step's last lines, not the step."""
    from .buildlog import failed_step

    found = failed_step(err.log)
    if found is None or not found[1]:
        return err
    step, lines = found
    message = "\n".join([err.message, f"  step #{step} ended with:",
                         *(f"    > {line}" for line in lines)])
    return EngineError(message, err.log, hint=err.hint or f"the whole output of step #{step} "
                       "is above; `--progress plain` shows BuildKit's output uncut.")


def frontend_not_fetched(syntax: str, log: tuple[str, ...]) -> bool:
    """Whether BuildKit failed to get the image the `# syntax=` line names: 20.10 says
    "ERROR: failed to do request: Head …/docker/dockerfile/manifests/…", 26.1 "ERROR:
    failed to solve: failed to resolve source metadata for docker.io/docker/dockerfile…"."""
    image = syntax.partition("@")[0].rpartition(":")[0] or syntax
    return any(image in line and "ERROR" in line for line in log)


def nix_error(err: EngineError, inputs: NixInputs) -> NixdfError | None:
    from .buildlog import build_failure, nix_failure, not_a_package

    # First: a failed package prints what it likes, `error: …` included, before Nix's line.
    failed = build_failure(err.log)
    if failed is not None:
        return _package_error(failed, err.log)
    wrong = not_a_package(err.log)
    if wrong is not None:
        return _not_a_package_error(wrong, inputs)
    failure = nix_failure(err.log, SRC_DIR)
    if failure is None:
        return _ignored_input(err, inputs)
    download = _DOWNLOAD.match(failure.message)
    if download:
        # Not the Nixfile's fault: the builder could not reach the network.
        return _download_error(download["url"], failure.message, err.log, inputs)
    hint = failure.hint or "Nix evaluated the Nixfile in the builder and stopped here."
    if failure.path is None:
        return NixEvalError(f"Nix: {failure.message}", hint=hint)
    path = inputs.context / failure.path
    span = Span(display_name(path), failure.line, failure.column, failure.line,
                failure.column + 1)
    located = NixEvalError(f"Nix: {failure.message}", span, hint)
    if path.is_file():
        located.with_source(path.read_text(encoding="utf-8", errors="replace"))
    return located


def _package_error(failed: BuildFailure, log: tuple[str, ...]) -> PackageBuildError:
    """Exit 3, as any failed build: the package's name, why, and the end of its log."""
    lines = [f"Nix could not build the package {failed.name}: its builder {failed.reason}",
             f"  derivation: {failed.drv}", *(f"  {line}" for line in failed.hashes)]
    if failed.log:
        count = len(failed.log)
        lines.append(f"  the last {count} line{'s' if count > 1 else ''} of its log:")
        lines.extend(f"    > {line}" for line in failed.log)
    where = f"the lines of step #{failed.step}" if failed.step else "its lines"
    hint = (f"its whole log is in the build output above ({where}); the package's build "
            "failed, not the Nixfile's evaluation.")
    if failed.clipped:
        hint = (f"its log is in the build output above ({where}), but BuildKit clipped it at "
                "its log limits: to see all of it, build again with BUILDKIT_STEP_LOG_MAX_SIZE=-1 "
                "and BUILDKIT_STEP_LOG_MAX_SPEED=-1 in the environment of BuildKit (of dockerd "
                "for Docker's own builder; `docker buildx create --driver-opt "
                "env.BUILDKIT_STEP_LOG_MAX_SIZE=-1 …` for a buildx builder).")
    return PackageBuildError("\n".join(lines), log, hint=hint)


def _not_a_package_error(wrong: NotAPackage, inputs: NixInputs) -> NixEvalError:
    """Exit 2 at the item, as an item known before the build is refused (spec.py)."""
    key = wrong.key[-1]
    what = (f"an item of '{key}' must be a package" if wrong.item is not None
            else f"'{key}' must be a package or a list of packages")
    error = NixEvalError(f"{what}, not {wrong.kind}", hint=not_a_package_hint(wrong.kind))
    span = _contents_span(inputs.context / inputs.nixfile, wrong)
    if span is not None:
        error.span = span
        if Path(span.file).is_file():
            error.with_source(Path(span.file).read_text(encoding="utf-8"))
    return error


def _contents_span(nixfile: Path, wrong: NotAPackage) -> Span | None:
    """Where the Nixfile gives that item: the image's arguments are walked as Nix did, down
    nix2container's layers; where only Nix knows the list, its place is the whole value."""
    try:
        read = read_images(nixfile)
        with evaluation(read.tree.span):
            image = next((found for found in read.images if found.attr == wrong.attr), None)
            if image is None:
                return None
            return _walk(image.call.args, image.call.span, list(wrong.key), wrong.item)
    except (OSError, UnicodeDecodeError, NixdfError):
        return None


def _walk(args: Attrs, span: Span, path: list[str], item: int | None) -> Span:
    """The place of ``path`` (argument names, and the index of a nix2container layer after
    "layers") in ``args``, then of the 1-based ``item`` there; as near as is known here."""
    while path:
        name = path.pop(0)
        if name not in args.items:
            return span
        thunk = args.items[name]
        span = _place(thunk, args.key_spans[name])
        index = int(path.pop(0)) if path else (item - 1 if item is not None else -1)
        value = thunk.force()
        if not isinstance(value, ListValue) or not 0 <= index < len(value.items):
            return span
        span = _place(value.items[index], span)
        if not path:
            return span
        layer = value.items[index].force()
        if not isinstance(layer, LayerCall):
            return span
        args = layer.args
    return span


def _place(thunk: Thunk, fallback: Span) -> Span:
    return thunk.expr.span if thunk.expr is not None else fallback


# BuildKit 0.8 says `…cache key: "/PATH" not found`; current ones name the ref first:
# `…cache key: failed to calculate checksum of ref ID::ID: "/PATH": not found`.
_NOT_FOUND = re.compile(r'failed to compute cache key: (?:.*?: )?"/(?P<path>[^"]+)":? not found')


def _ignored_input(err: EngineError, inputs: NixInputs) -> EngineError | None:
    """A Nix input BuildKit did not find in the context: the context's .dockerignore left it
    out (a repository's, once a path above the Nixfile made the repository the context)."""
    ignore = inputs.context / ".dockerignore"
    missing = next((m["path"] for m in map(_NOT_FOUND.search, err.log) if m), None)
    lib = (PurePosixPath(inputs.nixfile).parent / LIB_DIR).as_posix()
    if missing is None or missing not in (inputs.nixfile, *inputs.paths, lib) \
            or not ignore.is_file():
        return None
    what = "nixdf's Nix and shell files" if missing == lib else "a Nix input of the build"
    return EngineError(f"{ignore} leaves out {missing}, {what}", err.log,
                       hint=f"add a line `!{missing}` to it: nixdf copies only the Nix inputs "
                       "and its own files, so nothing else of the context reaches the build.")


_DOWNLOAD = re.compile(r"unable to download '(?P<url>[^']+)'")


# Files larger than this among the inputs are not searched for a URL Nix could not fetch.
_SEARCHED_BYTES = 1 << 20


def _download_error(url: str, message: str, log: tuple[str, ...],
                    inputs: NixInputs) -> EngineError:
    """Nix could not fetch ``url``: where a Nix input names it (a pinned fetchTarball, niv's
    sources.json), the error points there; otherwise it is the default package set."""
    for path in _input_files(inputs):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        offset = text.find(url)
        if offset < 0:
            continue
        line = text.count("\n", 0, offset) + 1
        column = offset - text.rfind("\n", 0, offset)
        reason = message.partition(f"{url}': ")[2] or message
        error = EngineError(f"Nix in the builder could not download this URL: {reason}", log,
                            hint="this input is fetched in the builder, which could not reach "
                            "it: give the build network access, or, for a package set, write "
                            "`import <nixpkgs> { }`, which is the one nixdf is given "
                            "(--nixpkgs).")
        error.span = Span(display_name(path), line, column, line, column + len(url))
        error.with_source(text)
        return error
    return EngineError(f"Nix in the builder could not download: {message}", log,
                       hint="the default nixpkgs is a tarball the builder fetches; give it "
                       "network access, or pass --nixpkgs with a local package set.")


def _input_files(inputs: NixInputs) -> Iterator[Path]:
    """The Nixfile, then every other file among the inputs that is small enough to search."""
    nixfile = inputs.context / inputs.nixfile
    yield nixfile
    for relative in inputs.paths:
        path = inputs.context / relative
        candidates = [path] if path.is_file() else sorted(
            p for p in path.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(path).parts)
        for candidate in candidates:
            if candidate != nixfile and candidate.stat().st_size <= _SEARCHED_BYTES:
                yield candidate


"""The library's front door: load, render and build a Nixfile.

Runs the stages in order (parse → evaluate → spec → plan → render → engine) and
attaches the source text to errors so they can show the offending line.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from . import defaults
from .errors import (
    EngineError,
    NeedsLockError,
    NixdfError,
    NixEvalError,
    PackageBuildError,
    Span,
    UsageError,
)
from .evaluate import (
    Attrs,
    FoundImage,
    LayerCall,
    ListValue,
    Thunk,
    evaluation,
    find_images,
    from_json,
)
from .flake import FlakeRequest
from .inputs import NixInputs, nix_inputs, read_nix
from .layers import StorePath
from .libfiles import LIB_DIR, write_lib
from .parse import parse
from .plan import (
    COMPAT_TARGETS,
    EXTERNAL_NIXPKGS,
    SRC_DIR,
    DockerfilePlan,
    ExternalSource,
    FlakeSetup,
    NixCaches,
    Nixpkgs,
    PlanOptions,
    plan,
)
from .record import ValueRecord
from .render import render, render_gc
from .spec import (
    REFERENCE,
    ImageSpec,
    name_clash,
    not_a_package_hint,
    records_closure,
    to_specs,
)
from .syntax import Expr

# What only a build needs (the engine, its log reader, their subprocess) is imported
# by the functions that build: `nixdf render` never pays for it.
if TYPE_CHECKING:
    import hashlib

    from .buildlog import BuildFailure, NotAPackage
    from .engine import BuildRequest, Command, Engine, PassThrough


@dataclass(slots=True, repr=False, eq=False)
class RenderOptions(ValueRecord):
    """How to render: the builder image, the package set, the target, the caches."""

    nix_image: str = defaults.NIX_IMAGE
    nixpkgs: str | None = None
    compat: str | None = None
    substituters: tuple[str, ...] = ()
    trusted_keys: tuple[str, ...] = ()
    netrc: bool = False
    per_path: bool = False
    flake: FlakeRequest | None = None  # the Nixfile path is a flake.nix (nixdf.flake)

    def caches(self) -> NixCaches:
        """The binary-cache options, checked: they reach the builder's shell."""
        for url in self.substituters:
            if not re.fullmatch(_SUBSTITUTER, url):
                raise UsageError(f"--substituter {url}: not a URL nixdf can pass on",
                                 hint="a URL such as https://cache.example.org, without "
                                 "spaces, quotes, '$' or '\\'.")
        for key in self.trusted_keys:
            if not re.fullmatch(_PUBLIC_KEY, key):
                raise UsageError(f"--trusted-public-key {key}: not a Nix public key",
                                 hint="NAME:BASE64, as nix-store --generate-binary-cache-key "
                                 "writes it.")
        return NixCaches(self.substituters, self.trusted_keys, self.netrc)


# Patterns, compiled (and cached by re) the first time a cache option is given.
_SUBSTITUTER = r"[a-z][a-z0-9+.-]*://[^\s'\"\\$`]+"
_PUBLIC_KEY = r"[A-Za-z0-9._-]+:[A-Za-z0-9+/]+={0,2}"


@dataclass(slots=True, repr=False, eq=False)
class Rendered(ValueRecord):
    """A Dockerfile, its plan, its build context, and the package-set directory it needs from
    outside that context."""

    nixfile: Path
    plan: DockerfilePlan
    text: str
    external_nixpkgs: ExternalSource | None
    inputs: NixInputs
    locked: bool = False  # a lock made for this very input was used
    lock_state: str = "missing"  # of its lock: current, missing, or stale (for other input)
    # Two images under one name:tag: an error once both are built (prepare_build).
    name_clash: NixdfError | None = dataclasses.field(default=None, compare=False)
    external_inputs: tuple[ExternalSource, ...] = ()  # a flake's, see _flake_inputs

    @property
    def context(self) -> Path:
        return self.inputs.context

    @property
    def directory(self) -> Path:
        """The Nixfile's directory, where its Dockerfile's ``.nixdf/`` goes."""
        return self.inputs.context / PurePosixPath(self.inputs.nixfile).parent

    @property
    def wants_lock(self) -> bool:
        """A layered image's store goes in one layer until a lock records its closure."""
        return not self.locked and any(build.splits_store for build in self.plan.builds)


def _display_name(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


@contextmanager
def _located(source: str) -> Iterator[None]:
    try:
        yield
    except NixdfError as err:
        raise err.with_source(source) from None


def load(nixfile: Path) -> list[ImageSpec]:
    """Parse and statically evaluate a Nixfile into checked image specs."""
    return _load(nixfile, None).specs


@dataclass(slots=True, repr=False, eq=False)
class _Loaded(ValueRecord):
    """A Nixfile read: its text, syntax tree, Nix inputs, lock key and image specs."""

    source: str
    tree: Expr
    inputs: NixInputs
    lock_key: str
    specs: list[ImageSpec]
    locked: bool  # a lock made for this very input supplied values
    lock_state: str  # current, missing, or stale (made for other input)
    name_clash: NixdfError | None  # two images under one name:tag (spec.name_clash)
    # A flake's: what the Nix side needs of it, and its replaced inputs from outside.
    flake: FlakeSetup | None = None
    external_inputs: tuple[ExternalSource, ...] = ()


def _read(nixfile: Path) -> str:
    if not nixfile.is_file():
        raise UsageError(f"{nixfile}: no such Nixfile",
                         hint="pass the path of a Nixfile, or run nixdf where ./Nixfile is.")
    return read_nix(nixfile, _display_name(nixfile))


def _load(nixfile: Path, options: RenderOptions | None) -> _Loaded:
    """With ``options``, a lock file made for this very input supplies what Nix computes."""
    if options is not None and options.flake is not None:
        return _load_flake(nixfile, options, options.flake)
    source = _read(nixfile)
    with _located(source):
        tree = parse(source, _display_name(nixfile))
        inputs = nix_inputs(nixfile, tree, parse)
        key = _lock_key(inputs, options) if options else ""
        with evaluation(tree.span):
            images = find_images(tree)
            locked, state = _read_lock(nixfile, key) if options else (None, "missing")
            with_refs = _apply_lock(images, locked) if locked else set()
            try:
                specs = [dataclasses.replace(spec, store_refs=spec.attr in with_refs,
                                             closure=_locked_closure(locked, spec.attr))
                         for spec in to_specs(images)]
            except NeedsLockError as err:
                err.lock_state = state
                raise
            # After the lock's values: names only Nix knows are compared too.
            clash = name_clash(images, specs)
    if clash is not None and clash.span is not None and Path(clash.span.file).is_file():
        clash.with_source(Path(clash.span.file).read_text(encoding="utf-8"))
    return _Loaded(source, tree, inputs, key, specs, locked is not None, state, clash)


def _flake_inputs(flake_nix: Path, request: FlakeRequest
                  ) -> tuple[NixInputs, str, tuple[tuple[str, ExternalSource], ...]]:
    """The flake's Nix inputs (flake.nix, the files it names, flake.lock, the local inputs
    that replace its own and lie in its context), their context, flake.nix's text, and the
    replacing inputs from outside the context, each reaching the build as the package set
    does (a named context, or a local image on Docker 20.10). A syntax error in flake.nix or
    a file it imports is located."""
    source = _read(flake_nix)
    with _located(source):
        tree = parse(source, _display_name(flake_nix))
        inputs = nix_inputs(flake_nix, tree, parse)
    context = inputs.context
    extra = [p for p in [flake_nix.resolve().parent / "flake.lock"] if p.is_file()]
    external = []
    for name, src in request.overrides:
        if "://" in src:
            continue
        path = Path(src).resolve()
        if path.is_relative_to(context):
            extra.append(path)
            continue
        try:
            image = f"{EXTERNAL_NIXPKGS}:{_content_digest(path)}"
        except OSError as err:
            raise UsageError(f"--override-input {name} {src}: cannot read {err.filename}: "
                             f"{err.strerror}") from None
        external.append((name, ExternalSource(image, path)))
    known = [context / p for p in inputs.paths]
    paths = [*inputs.paths, *(p.relative_to(context).as_posix() for p in extra
                              if not any(p.is_relative_to(k) for k in known))]
    return (dataclasses.replace(inputs, paths=tuple(paths)), source, tuple(external))


def _flake_setup(inputs: NixInputs, request: FlakeRequest, nixpkgs_given: bool,
                 external: tuple[tuple[str, ExternalSource], ...],
                 images: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> FlakeSetup:
    """What the Nix side needs of the flake: each replaced input as lib.nix takes it (the
    package set, a directory in the builder, or a tarball's URL#sha256=HASH)."""
    outside = dict(external)
    overrides = []
    if nixpkgs_given:
        overrides.append(("nixpkgs", "nixpkgs"))
    for name, src in request.overrides:
        if "://" in src:
            where = src
        elif name in outside:
            where = f"/nixdf/inputs/{name}"
        else:
            where = f"{SRC_DIR}/{Path(src).resolve().relative_to(inputs.context).as_posix()}"
        overrides = [o for o in overrides if o[0] != name] + [(name, where)]
    return FlakeSetup(f"{SRC_DIR}/{inputs.nixfile}", request.system, tuple(overrides),
                      request.attr, images,
                      tuple((source.image, name) for name, source in external))


def _load_flake(flake_nix: Path, options: RenderOptions, request: FlakeRequest) -> _Loaded:
    """A flake, read through its lock: the Nixfile Nix's discovery of its images makes."""
    from .flake import nixfile_text

    inputs, source, outside = _flake_inputs(flake_nix, request)
    key = _lock_key(inputs, options)
    data, state = _read_lock_data(flake_nix, key)
    if data is None or not isinstance(data.get("flake"), list):
        missing = NeedsLockError(f"{_display_name(flake_nix)}: a flake's images are known once "
                                 "Nix has found them", hint=f"run `nixdf lock {flake_nix}` "
                                 "(nixdf build does it by itself).")
        missing.lock_state = state if data is None else "stale"
        raise missing
    found = data["flake"]
    text = nixfile_text(found, request.system)
    name = f"{_display_name(flake_nix)} (its images, as Nix found them)"
    with _located(text):
        tree = parse(text, name)
        with evaluation(tree.span):
            images = find_images(tree)
            locked = data["images"]
            with_refs = _apply_lock(images, locked)
            specs = [dataclasses.replace(spec, store_refs=spec.attr in with_refs,
                                         closure=_locked_closure(locked, spec.attr))
                     for spec in to_specs(images)]
            clash = name_clash(images, specs)
    setup = _flake_setup(inputs, request, options.nixpkgs is not None, outside,
                         _flake_images(found, request.system))
    return _Loaded(source, tree, inputs, key, specs, True, "current", clash, setup,
                   tuple(external for _, external in outside))


def _flake_images(loaded_found: list[dict[str, object]],
                  system: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from .flake import keyed

    return tuple((key, tuple(path)) for key, path in keyed(loaded_found, system))


def _nixpkgs(spec: str | None, context: Path) -> tuple[Nixpkgs, ExternalSource | None]:
    if spec is None:
        return Nixpkgs("tarball", url=defaults.NIXPKGS_URL,
                       sha256=defaults.NIXPKGS_SHA256), None
    if "://" in spec:
        url, _, sha256 = spec.partition("#sha256=")
        if not sha256:
            raise UsageError(f"--nixpkgs {spec}: a tarball URL needs its hash",
                             hint="write URL#sha256=HASH (the hash fetchTarball expects).")
        if any(c in url + sha256 for c in "'\"\\$ \n"):
            raise UsageError(f"--nixpkgs {spec}: quotes, '$', '\\' and spaces are not allowed")
        return Nixpkgs("tarball", url=url, sha256=sha256), None
    path = Path(spec).resolve()
    if not path.exists():
        raise UsageError(f"--nixpkgs {spec}: no such file or directory")
    directory, entry = (path, "") if path.is_dir() else (path.parent, path.name)
    if any(c in entry for c in "'\"\\$"):
        raise UsageError(f"--nixpkgs {spec}: the file name has a quote, '$' or '\\'")
    if directory.is_relative_to(context):
        relative = directory.relative_to(context).as_posix()
        return Nixpkgs("context", context_path=relative, entry=entry), None
    try:
        image = f"{EXTERNAL_NIXPKGS}:{_content_digest(directory)}"
    except OSError as err:
        raise UsageError(f"--nixpkgs {spec}: cannot read {err.filename}: {err.strerror}",
                         hint="the build needs every file of the package set's directory."
                         ) from None
    return Nixpkgs("external", entry=entry, image=image), ExternalSource(image, directory)


# Hex digits of the package set's digest in its image's tag: 128 bits.
_IMAGE_DIGEST_LENGTH = 32


def _content_digest(directory: Path) -> str:
    """A digest of what the package-set image holds: each entry's path, type, mode, and its
    bytes (a link's target); modes count since Nix keeps a file's executable bit.

    Git's objects are named after their content, so their names and sizes stand for them:
    a nixpkgs checkout's history is not read at every build.
    """
    import hashlib
    import stat

    def unreadable(err: OSError) -> None:
        raise err

    digest = hashlib.sha256(b"nixdf-nixpkgs 1\0")
    for root, dirs, files in os.walk(directory, onerror=unreadable):
        dirs.sort()
        for name in sorted([*dirs, *files]):
            path = os.path.join(root, name)
            inside = os.path.relpath(path, directory)
            info = os.lstat(path)
            digest.update(os.fsencode(inside) + f"\0{info.st_mode:o}\0".encode())
            if stat.S_ISLNK(info.st_mode):
                digest.update(os.fsencode(os.readlink(path)))
            elif stat.S_ISREG(info.st_mode):
                digest.update(f"{info.st_size}\0".encode())
                if not inside.startswith(f".git{os.sep}objects{os.sep}"):
                    with open(path, "rb") as file:
                        digest.update(hashlib.file_digest(file, "sha256").digest())
            digest.update(b"\0")
    return digest.hexdigest()[:_IMAGE_DIGEST_LENGTH]


def render_path(nixfile: Path, options: RenderOptions) -> Rendered:
    """The Dockerfile for a Nixfile, and its build context (see :mod:`nixdf.inputs`)."""
    check_options(options)
    return _render(nixfile, _load(nixfile, options), options)


def _render(nixfile: Path, loaded: _Loaded, options: RenderOptions) -> Rendered:
    inputs = loaded.inputs
    nixpkgs, external = _nixpkgs(options.nixpkgs, inputs.context)
    the_plan = plan(loaded.specs, PlanOptions(options.nix_image, nixpkgs, inputs.nixfile,
                                              inputs.paths, options.compat, options.caches(),
                                              options.per_path, loaded.flake))
    return Rendered(nixfile, the_plan, render(the_plan), external, inputs, loaded.locked,
                    loaded.lock_state, loaded.name_clash, loaded.external_inputs)


def nixfile_at(path: Path) -> Path:
    """A directory stands for the Nixfile in it."""
    return path / "Nixfile" if path.is_dir() else path


def check_options(options: RenderOptions) -> None:
    """Refuse options no Nixfile could render with, before reading any."""
    if not REFERENCE.fullmatch(options.nix_image):
        raise UsageError(f"--nix-image {options.nix_image}: not an image reference",
                         hint="NAME[:TAG][@sha256:DIGEST].")
    if options.compat not in (None, *COMPAT_TARGETS):
        raise UsageError(f"--compat {options.compat}: unknown target",
                         hint="the targets are " + " and ".join(COMPAT_TARGETS) + ".")
    options.caches()


def write_atomic(path: Path, text: str) -> None:
    """Write, fsync, rename: a reader sees the old file or the new one, never half; a file
    that cannot be written is an error that names it and says why, and leaves nothing."""
    import tempfile

    shown, path = path, path.resolve()
    if path.is_dir():
        raise UsageError(f"{shown}: is a directory, not a file nixdf can write",
                         hint="name the file to write, e.g. -o DIR/Dockerfile.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise _unwritable(shown, path, err) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise _unwritable(shown, path, err) from None
        raise


def _unwritable(shown: Path, path: Path, err: OSError) -> UsageError:
    import errno

    hint = {errno.ENOENT: f"the directory {path.parent} does not exist: create it first.",
            errno.ENOTDIR: f"{path.parent} is not a directory.",
            errno.EROFS: f"{path.parent} is on a read-only file system.",
            errno.EACCES: f"you may not create files in {path.parent}.",
            errno.ENOSPC: "the file system is full."}.get(err.errno or 0)
    return UsageError(f"{shown}: cannot write it: {err.strerror}", hint=hint)


def staleness(path: Path, text: str) -> str:
    """A unified diff from the file at ``path`` to ``text``; empty when it is up to date."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    except OSError as err:
        raise UsageError(f"{path}: cannot read it: {err.strerror}") from None
    if data == text.encode():
        return ""
    import difflib

    # A file that is not UTF-8 is stale all the same; its diff shows U+FFFD for the bytes.
    current = data.decode("utf-8", errors="replace")
    name = _display_name(path)
    return "".join(difflib.unified_diff(current.splitlines(keepends=True),
                                        text.splitlines(keepends=True),
                                        f"{name} (committed)", f"{name} (rendered)"))


@dataclass(slots=True, repr=False, eq=False)
class BuildPlan(ValueRecord):
    """A build ready to run: the engine, one request per image, the Dockerfile."""

    engine: Engine
    requests: tuple[BuildRequest, ...]
    rendered: Rendered

    @property
    def commands(self) -> tuple[Command, ...]:
        """Every process, in order; the package-set image is made once for all targets."""
        from .engine import build_commands

        commands: list[Command] = []
        for request in self.requests:
            commands += [c for c in build_commands(self.engine, request) if c not in commands]
        return tuple(commands)


def prepare_build(nixfile: Path, options: RenderOptions, *, target: str | None,
                  tags: tuple[str, ...], passthrough: PassThrough | None = None,
                  engine: Engine | None = None, engine_choice: str = "auto") -> BuildPlan:
    """Render for the engine at hand (compat when it is Docker 20.10) and make the requests.

    Without ``target`` every image is built, each tagged with its Nixfile name:tag.
    """
    from .engine import BuildRequest, PassThrough, check_supported, probe

    # What the command line and the Nixfile say is checked first: a mistake in them is
    # reported as one, with or without an engine at hand.
    check_options(options)
    for tag in tags:
        check_tag(tag)
    loaded = _load(nixfile, options)
    engine = engine or probe(engine_choice)
    passthrough = passthrough or PassThrough()
    check_supported(engine, passthrough)
    if options.compat is None and engine.wants_compat:
        options = dataclasses.replace(options, compat=COMPAT_TARGETS[0])
    rendered = _render(nixfile, loaded, options)
    images = {image.name: image for image in rendered.plan.images}
    on_base = [i.name for i in images.values() if i.scripts and i.base != "scratch"]
    if engine.podman and on_base:
        raise UsageError(f"{on_base[0]}: scripts on a fromImage base cannot run under podman yet",
                         hint="podman's buildah drops /nix after a step that mounts over it; "
                         "build this image with docker.")
    if target is not None and target not in images:
        raise UsageError(f"--target {target}: no such image",
                         hint=f"the images of {nixfile} are: {', '.join(images)}")
    if tags and target is None and len(images) > 1:
        raise UsageError("-t names one image, but this Nixfile has several",
                         hint=f"add --target, one of: {', '.join(images)}")
    if target is None and rendered.name_clash is not None:
        raise rendered.name_clash
    chosen = [target] if target else list(images)
    for name in chosen:
        platform = images[name].platform
        if platform and passthrough.platforms and passthrough.platforms != (platform,):
            raise UsageError(f"--platform {','.join(passthrough.platforms)}: the image {name} "
                             f"is for {platform}, the architecture its Nixfile names",
                             hint="drop --platform, or change the image's architecture.")
    requests = tuple(
        BuildRequest(rendered.context, name if len(images) > 1 or target else None,
                     tags or (images[name].reference,), rendered.external_nixpkgs, passthrough,
                     images[name].created, images[name].platform, rendered.external_inputs)
        for name in chosen)
    return BuildPlan(engine, requests, rendered)


def check_tag(tag: str) -> None:
    """A ``-t`` is held to what the Nixfile's own name and tag are: Docker's reference."""
    if "@" in tag or not REFERENCE.fullmatch(tag):
        raise UsageError(f"-t {tag}: not an image name and tag",
                         hint="NAME[:TAG]: a lower-case name of letters, digits and . _ - "
                         "parts separated by '/', and a tag of up to 128 of A-Z a-z 0-9 _ . -, "
                         "not starting with . or -.")


def build(prepared: BuildPlan, made: Collection[Command] = ()) -> None:
    """Run every command of the build, the rendered Dockerfile on the builds' stdin; those in
    ``made`` already ran for this build (the lock made the package-set image).

    When Nix rejected the Nixfile inside the builder, the error says where, in
    the Nixfile's own terms, rather than only that the build failed.
    """
    from .engine import run

    write_lib(prepared.rendered.directory)
    for command in prepared.commands:
        if command in made:
            continue
        try:
            run(prepared.engine, command, prepared.rendered.text)
        except EngineError as err:
            syntax = prepared.rendered.plan.syntax
            if syntax and _frontend_not_fetched(syntax, err.log):
                raise EngineError(f"the engine could not fetch the Dockerfile frontend {syntax}",
                                  err.log, hint="render for the engine's own frontend with "
                                  "--compat builtin-frontend (Docker 23+ has COPY --link), or "
                                  "make docker/dockerfile reachable (a registry mirror)."
                                  ) from None
            located = _nix_error(err, prepared.rendered.inputs)
            if located is None:
                raise _with_failed_step(err) from None
            raise located from None


def _with_failed_step(err: EngineError) -> EngineError:
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


def _frontend_not_fetched(syntax: str, log: tuple[str, ...]) -> bool:
    """Whether BuildKit failed to get the image the `# syntax=` line names: 20.10 says
    "ERROR: failed to do request: Head …/docker/dockerfile/manifests/…", 26.1 "ERROR:
    failed to solve: failed to resolve source metadata for docker.io/docker/dockerfile…"."""
    image = syntax.partition("@")[0].rpartition(":")[0] or syntax
    return any(image in line and "ERROR" in line for line in log)


def _nix_error(err: EngineError, inputs: NixInputs) -> NixdfError | None:
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
    span = Span(_display_name(path), failure.line, failure.column, failure.line,
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
        tree = parse(nixfile.read_text(encoding="utf-8"), _display_name(nixfile))
        with evaluation(tree.span):
            image = next((found for found in find_images(tree) if found.attr == wrong.attr),
                         None)
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
        error.span = Span(_display_name(path), line, column, line, column + len(url))
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


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5GiB``, ``0``: bytes, the units binary as du's are."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"--keep {text}: not a size", hint="a number of bytes, or with K, M, G "
                         "or T: 0, 500M, 2G.")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMGT".index(unit.upper() or " "))


@dataclass(slots=True, repr=False, eq=False)
class GcPlan(ValueRecord):
    """``nixdf gc`` ready to run: the engine, and the Dockerfile that collects the garbage."""

    engine: Engine
    nix_image: str
    dockerfile: str
    builder: str | None = None

    def command(self, context: Path, report: Path) -> Command:
        from .engine import output_commands

        [command] = output_commands(self.engine, context, report, cached=False,
                                    builder=self.builder)
        return command


@dataclass(slots=True, repr=False, eq=False)
class GcReport(ValueRecord):
    """The store in the cache mount before and after, in bytes."""

    before: int
    after: int


def prepare_gc(nix_image: str, keep: int, engine_choice: str = "auto",
               builder: str | None = None) -> GcPlan:
    """Collect the garbage of the /nix cache mount that builds on ``nix_image`` share, on
    ``builder`` (buildx's) when given: each builder has its own cache."""
    from .engine import PassThrough, check_supported, probe

    if not REFERENCE.fullmatch(nix_image):
        raise UsageError(f"--nix-image {nix_image}: not an image reference",
                         hint="NAME[:TAG][@sha256:DIGEST].")
    engine = probe(engine_choice)
    check_supported(engine, PassThrough(builder=builder))
    return GcPlan(engine, nix_image, render_gc(nix_image, keep), builder)


def gc(plan: GcPlan) -> GcReport:
    """Run it; the store's size comes back as a file in the build's local output."""
    import tempfile

    from .engine import run

    with tempfile.TemporaryDirectory(prefix="nixdf-gc-") as scratch:
        context, report = Path(scratch, "context"), Path(scratch, "report")
        context.mkdir()
        run(plan.engine, plan.command(context, report), plan.dockerfile)
        try:
            lines = (report / "nixdf-gc.txt").read_text().split()
            sizes = dict(line.split("=", 1) for line in lines)
            return GcReport(int(sizes["before"]) * 1024, int(sizes["after"]) * 1024)
        except (OSError, KeyError, ValueError) as err:
            raise EngineError(f"nixdf gc: the build left no report ({err})") from None


# --- the lock file -----------------------------------------------------------

LOCK_VERSION = 2
# What Nix computes for the Dockerfile, per image: these arguments, whole.
LOCKED_ARGUMENTS = ("name", "tag", "created", "mtime", "config", "runAsRoot",
                    "extraCommands", "fakeRootCommands", "architecture", "variant", "arch")
_STORE_PATH = re.compile(r"/nix/store/[0-9a-z]{32}-[^/\s\"'$`\\]+")


def lock_path(nixfile: Path) -> Path:
    """Where the lock of a Nixfile lives: beside it, ``Nixfile.lock``."""
    return nixfile.with_name(nixfile.name + ".lock")


def _lock_key(inputs: NixInputs, options: RenderOptions) -> str:
    """What the locked values depend on: the Nix inputs' text and where they lie in the
    context (Nix names a copied directory after it), the package set, the builder."""
    import hashlib

    # A local package set counts by its files, not by how it was named: `pkgs` and
    # `$PWD/pkgs` are one set, and a lock made with the one is current for the other.
    local = options.nixpkgs is not None and "://" not in options.nixpkgs
    source = "local" if local else options.nixpkgs or ""
    digest = hashlib.sha256(f"nixdf-lock {LOCK_VERSION}\0{options.nix_image}\0"
                            f"{source}\0{inputs.nixfile}\0".encode())
    if options.flake is not None:
        # Which image, for which system, with which inputs replaced: a local input in the
        # context by its place there (its files are among the paths below), one outside by
        # its files, never by the host's path, so that a fresh clone, wherever it is, finds
        # its committed lock current.
        flake = options.flake
        overrides = []
        for name, src in flake.overrides:
            path = Path(src).resolve()
            if "://" in src:
                overrides.append((name, src))
            elif path.is_relative_to(inputs.context):
                overrides.append((name, path.relative_to(inputs.context).as_posix()))
            else:
                overrides.append((name, "outside"))
                _digest_tree(digest, path, f"input {name}")
        digest.update(f"flake\0{flake.attr}\0{flake.system}\0{overrides}\0".encode())
    for relative in inputs.paths:
        _digest_tree(digest, inputs.context / relative, relative)
    if local:
        _digest_tree(digest, Path(options.nixpkgs).resolve(), "nixpkgs")  # type: ignore[arg-type]
    return digest.hexdigest()


def _digest_tree(digest: hashlib._Hash, path: Path, name: str) -> None:
    """The names (under ``name``, not the host's directory) and text of the files at
    ``path``, git's own files left out.

    Text, not modification times or the checkout's directory name: a fresh clone,
    wherever it is, must find its committed lock current.
    """
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and ".git" not in p.relative_to(path).parts)
    for file in files:
        inside = name if file == path else f"{name}/{file.relative_to(path).as_posix()}"
        digest.update(inside.encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")


def _read_lock(nixfile: Path, key: str) -> tuple[dict[str, dict[str, object]] | None, str]:
    """The locked values and "current"; or None and "missing" when there is no lock, "stale"
    when it was made for other input (or is not a lock nixdf can read)."""
    data, state = _read_lock_data(nixfile, key)
    return (None, state) if data is None else (data["images"], state)


def _read_lock_data(nixfile: Path, key: str) -> tuple[dict[str, Any] | None, str]:
    """The lock file's data and "current", or None and why not (see _read_lock)."""
    import json

    try:
        data = json.loads(lock_path(nixfile).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError):
        return None, "stale"
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
        return None, "stale"
    if data.get("key") != key or not isinstance(data.get("images"), dict):
        return None, "stale"
    return data, "current"


def _apply_lock(images: list[FoundImage], locked: dict[str, dict[str, object]]) -> set[str | None]:
    """Put Nix's values in place of the static ones; the images whose values name store paths."""
    import json

    with_refs: set[str | None] = set()
    for image in images:
        values = locked.get(image.attr or "")
        if not isinstance(values, dict):
            continue
        args = image.call.args
        for name in LOCKED_ARGUMENTS:
            if name in args.items and values.get(name) is not None:
                args.items[name] = Thunk.of(from_json(values[name], args.key_spans[name]))
        if _STORE_PATH.search(json.dumps(values)):
            with_refs.add(image.attr)
    return with_refs


def _closure_entry(line: str) -> dict[str, object]:
    # "PATH SIZE REFERENCE...", as the lock build writes each path of a closure
    path, size, *references = line.split()
    return {"path": path, "narSize": int(size), "references": sorted(references)}


def _locked_closure(locked: dict[str, dict[str, object]] | None,
                    attr: str | None) -> tuple[StorePath, ...]:
    """The closure a lock recorded for a layered image."""
    closure = ((locked or {}).get(attr or "") or {}).get("closure")
    # The lock's JSON, as _closure_entry wrote it: a list of {path, narSize, references}.
    entries: list[dict[str, Any]] = closure if isinstance(closure, list) else []
    return tuple(StorePath(str(entry["path"]), int(entry["narSize"]), tuple(entry["references"]))
                 for entry in entries)


@dataclass(slots=True, repr=False, eq=False)
class LockPlan(ValueRecord):
    """``nixdf lock`` ready to run: the engine, the Dockerfile, and what the lock is for."""

    engine: Engine
    nixfile: Path
    inputs: NixInputs
    dockerfile: str
    key: str
    external_nixpkgs: ExternalSource | None
    layered: tuple[str | None, ...] = ()  # whose closures the lock records, in this order
    secrets: tuple[str, ...] = ()
    builder: str | None = None  # buildx's, the one the image build then runs on
    # A flake's: Nix finds its images first (this Dockerfile), then the layered ones'
    # closures are locked with the plan these options make.
    flake: tuple[RenderOptions, PlanOptions] | None = None
    external_inputs: tuple[ExternalSource, ...] = ()

    def commands(self, dest: Path) -> tuple[Command, ...]:
        from .engine import output_commands

        return output_commands(self.engine, self.inputs.context, dest,
                               external_nixpkgs=self.external_nixpkgs, secrets=self.secrets,
                               builder=self.builder, external_inputs=self.external_inputs)

    @property
    def sources(self) -> tuple[Command, ...]:
        """What it makes that the image build needs too: the package-set image (and a
        flake's inputs from outside the context)."""
        from .engine import source_commands

        return tuple(command for source in (self.external_nixpkgs, *self.external_inputs)
                     for command in source_commands(self.engine, source))


def prepare_lock(nixfile: Path, options: RenderOptions, engine: Engine | None = None,
                 engine_choice: str = "auto", secrets: tuple[str, ...] = (),
                 builder: str | None = None) -> LockPlan:
    """Have Nix evaluate, in the builder (buildx's ``builder`` when given), every image's
    config and scripts."""
    from .engine import PassThrough, check_supported, probe
    from .render import render_lock

    # The options and the Nixfile first: their mistakes are theirs, engine or none.
    check_options(options)
    request = options.flake
    if request is not None:
        engine = engine or probe(engine_choice)
        check_supported(engine, PassThrough(builder=builder))
        if options.compat is None and engine.wants_compat:
            options = dataclasses.replace(options, compat=COMPAT_TARGETS[0])
        inputs, _, outside = _flake_inputs(nixfile, request)
        nixpkgs, external = _nixpkgs(options.nixpkgs, inputs.context)
        plan_options = PlanOptions(options.nix_image, nixpkgs, inputs.nixfile, inputs.paths,
                                   options.compat, options.caches(),
                                   flake=_flake_setup(inputs, request,
                                                      options.nixpkgs is not None, outside))
        return LockPlan(engine, nixfile, inputs,
                        render_lock(plan([], plan_options), [], [], discover=True),
                        _lock_key(inputs, options), external, (), secrets, builder,
                        (options, plan_options), tuple(source for _, source in outside))
    source = _read(nixfile)
    with _located(source):
        tree = parse(source, _display_name(nixfile))
        inputs = nix_inputs(nixfile, tree, parse)
        with evaluation(tree.span):
            images = find_images(tree)
    engine = engine or probe(engine_choice)
    check_supported(engine, PassThrough(builder=builder))
    if options.compat is None and engine.wants_compat:
        options = dataclasses.replace(options, compat=COMPAT_TARGETS[0])
    attrs = [image.attr for image in images]
    layered = [image.attr for image in images if records_closure(image.call)]
    nixpkgs, external = _nixpkgs(options.nixpkgs, inputs.context)
    the_plan = plan([], PlanOptions(options.nix_image, nixpkgs, inputs.nixfile, inputs.paths,
                                    options.compat, options.caches()))
    return LockPlan(engine, nixfile, inputs, render_lock(the_plan, attrs, layered),
                    _lock_key(inputs, options), external, tuple(layered), secrets, builder)


def lock(prepared: LockPlan) -> Path:
    """Run it and write the lock file (atomically): the values, and every store path named."""
    import json
    import tempfile

    from .engine import run

    done: list[Command] = []
    write_lib(prepared.inputs.context / PurePosixPath(prepared.inputs.nixfile).parent)

    def run_lock(dockerfile: str, dest: Path) -> None:
        # A flake's second run needs the package-set image the first one made.
        for command in prepared.commands(dest):
            if command in done:
                continue
            if not command.reads_dockerfile:
                done.append(command)
            try:
                run(prepared.engine, command, dockerfile)
            except EngineError as err:
                located = _nix_error(err, prepared.inputs)
                raise located or err from None

    found = None
    with tempfile.TemporaryDirectory(prefix="nixdf-lock-") as scratch:
        dest = Path(scratch)
        run_lock(prepared.dockerfile, dest)
        if prepared.flake is not None:
            found = json.loads((dest / "nixdf-lock.json").read_text(encoding="utf-8"))
            prepared = _flake_values_lock(prepared, found)
            if prepared.layered:
                (dest / "nixdf-lock.json").unlink()
                run_lock(prepared.dockerfile, dest)
            else:
                system = prepared.flake[0].flake.system  # type: ignore[index,union-attr]
                images = {key: image["values"] for (key, _), image
                          in zip(_flake_images(found, system), found, strict=True)}
                (dest / "nixdf-lock.json").write_text(json.dumps(images), encoding="utf-8")
        return write_lock(prepared, dest, found)


# --- hook for nixdf.frontend, which runs the lock Dockerfile inside its own build ------------
def write_lock(prepared: LockPlan, dest: Path, flake: list[dict[str, object]] | None = None
               ) -> Path:
    """Write the lock file (atomically) from what a run of ``prepared.dockerfile`` put in
    ``dest``: the values, and every store path named."""
    import json

    images = json.loads((dest / "nixdf-lock.json").read_text(encoding="utf-8"))
    # The store paths the Dockerfile will name (the closures come next, and name more).
    named = sorted(set(_STORE_PATH.findall(json.dumps(images))))
    for index, attr in enumerate(prepared.layered):
        lines = (dest / f"closure-{index}").read_text(encoding="utf-8").splitlines()
        images[attr or ""]["closure"] = [_closure_entry(line) for line in lines if line]
    data = {"version": LOCK_VERSION, "key": prepared.key, "images": images, "storePaths": named}
    if flake is not None:
        data["flake"] = flake
    path = lock_path(prepared.nixfile)
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
# --- end of the hook -----------------------------------------------------------------------


def _flake_values_lock(prepared: LockPlan, found: list[dict[str, object]]) -> LockPlan:
    """After Nix found a flake's images: the lock of their values and, for the layered ones,
    closures, as a Nixfile's (the values alone came with the images)."""
    from .flake import nixfile_text
    from .render import render_lock

    options, plan_options = prepared.flake  # type: ignore[misc]
    system = options.flake.system  # type: ignore[union-attr]
    text = nixfile_text(found, system)
    with _located(text):
        tree = parse(text, f"{_display_name(prepared.nixfile)} (its images, as Nix found them)")
        with evaluation(tree.span):
            images = find_images(tree)
    attrs = [image.attr for image in images]
    layered = [image.attr for image in images if records_closure(image.call)]
    assert plan_options.flake is not None, "a flake's lock plans its discovery"
    setup = dataclasses.replace(plan_options.flake, images=_flake_images(found, system))
    the_plan = plan([], dataclasses.replace(plan_options, flake=setup))
    return dataclasses.replace(prepared, dockerfile=render_lock(the_plan, attrs, layered),
                               layered=tuple(layered))

"""The library's front door: load, render, lock and build a Nixfile.

A façade: it runs the stages in order (:mod:`nixdf.load` reads the Nixfile, then plan →
render → engine) and hands each job to the module that owns it: the lock file
(:mod:`nixdf.lockfile`, :mod:`nixdf.locking`), a failed build's meaning
(:mod:`nixdf.failures`), the cache's garbage (:mod:`nixdf.storegc`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .cachefrom import check_sources as check_sources
from .cachefrom import prepare_seed, seed, wants_records
from .errors import EngineError, NeedsLockError, NixdfError, UsageError
from .failures import frontend_not_fetched, nix_error, with_failed_step
from .files import staleness as staleness  # the façade's own, for the CLI and library users
from .files import write_atomic as write_atomic
from .inputs import NixInputs
from .libfiles import write_lib
from .load import Loaded, load_nixfile, nixpkgs_source
from .load import nixfile_at as nixfile_at
from .lockfile import lock_path as lock_path
from .locking import PreparedLock as PreparedLock
from .locking import lock as lock
from .locking import prepare_lock as prepare_lock
from .locking import write_lock as write_lock
from .options import RenderOptions as RenderOptions
from .options import check_options as check_options
from .plan import COMPAT_TARGETS, DockerfilePlan, ExternalSource, PlanOptions, plan
from .record import ValueRecord
from .render import render
from .spec import REFERENCE, ImageSpec
from .storegc import GcReport as GcReport
from .storegc import PreparedGc as PreparedGc
from .storegc import gc as gc
from .storegc import parse_size as parse_size
from .storegc import prepare_gc as prepare_gc

# What only a build needs (the engine, its log reader, their subprocess) is imported
# by the functions that build: `nixdf render` never pays for it.
if TYPE_CHECKING:
    from .engine import BuildRequest, Command, Engine, PassThrough

# Where the library says what it does on the way (a lock written before a build): the
# CLI prints it; a library caller may pass its own, or hear nothing.
Notify = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


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
    external_inputs: tuple[ExternalSource, ...] = ()  # a flake's, see flake_inputs

    @property
    def context(self) -> Path:
        return self.inputs.context

    @property
    def wants_lock(self) -> bool:
        """A layered image's store goes in one layer until a lock records its closure."""
        return not self.locked and any(build.splits_store for build in self.plan.builds)


def load(nixfile: Path) -> list[ImageSpec]:
    """Parse and statically evaluate a Nixfile into checked image specs."""
    return load_nixfile(nixfile, None).specs


def render_path(nixfile: Path, options: RenderOptions) -> Rendered:
    """The Dockerfile for a Nixfile, and its build context (see :mod:`nixdf.inputs`)."""
    check_options(options)
    return _render(nixfile, load_nixfile(nixfile, options), options)


def _render(nixfile: Path, loaded: Loaded, options: RenderOptions) -> Rendered:
    inputs = loaded.inputs
    nixpkgs, external = nixpkgs_source(options.nixpkgs, inputs.context)
    the_plan = plan(loaded.specs, PlanOptions(options.nix_image, nixpkgs, inputs.nixfile,
                                              inputs.paths, options.compat, options.caches(),
                                              options.per_path, loaded.flake))
    return Rendered(nixfile, the_plan, render(the_plan), external, inputs, loaded.locked,
                    loaded.lock_state, loaded.name_clash, loaded.external_inputs)


@dataclass(slots=True, repr=False, eq=False)
class PreparedBuild(ValueRecord):
    """A build ready to run: the engine, one request per image, the Dockerfile."""

    engine: Engine
    requests: tuple[BuildRequest, ...]
    rendered: Rendered
    made: tuple[Command, ...] = ()  # what the lock before it ran already (the package set)

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
                  engine: Engine | None = None, engine_choice: str = "auto") -> PreparedBuild:
    """Render for the engine at hand (compat when it is Docker 20.10) and make the requests.

    Without ``target`` every image is built, each tagged with its Nixfile name:tag.
    """
    from .engine import BuildRequest, PassThrough, check_supported, probe

    # What the command line and the Nixfile say is checked first: a mistake in them is
    # reported as one, with or without an engine at hand.
    check_options(options)
    for tag in tags:
        check_tag(tag)
    loaded = load_nixfile(nixfile, options)
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
    return PreparedBuild(engine, requests, rendered)


def check_tag(tag: str) -> None:
    """A ``-t`` is held to what the Nixfile's own name and tag are: Docker's reference."""
    if "@" in tag or not REFERENCE.fullmatch(tag):
        raise UsageError(f"-t {tag}: not an image name and tag",
                         hint="NAME[:TAG]: a lower-case name of letters, digits and . _ - "
                         "parts separated by '/', and a tag of up to 128 of A-Z a-z 0-9 _ . -, "
                         "not starting with . or -.")


def build(prepared: PreparedBuild, made: Collection[Command] = ()) -> None:
    """Run every command of the build, the rendered Dockerfile on the builds' stdin; those in
    ``made`` (and the prepared build's own) already ran for it (a lock made the package-set
    image).

    When Nix rejected the Nixfile inside the builder, the error says where, in
    the Nixfile's own terms, rather than only that the build failed.
    """
    from .engine import run

    write_lib(prepared.rendered.inputs.directory)
    for command in prepared.commands:
        if command in made or command in prepared.made:
            continue
        try:
            run(prepared.engine, command, prepared.rendered.text)
        except EngineError as err:
            syntax = prepared.rendered.plan.syntax
            if syntax and frontend_not_fetched(syntax, err.log):
                raise EngineError(f"the engine could not fetch the Dockerfile frontend {syntax}",
                                  err.log, hint="render for the engine's own frontend with "
                                  "--compat builtin-frontend (Docker 23+ has COPY --link), or "
                                  "make docker/dockerfile reachable (a registry mirror)."
                                  ) from None
            located = nix_error(err, prepared.rendered.inputs)
            if located is None:
                raise with_failed_step(err) from None
            raise located from None


def render_locking(nixfile: Path, options: RenderOptions, engine_choice: str = "auto",
                   notify: Notify = _quiet) -> Rendered:
    """Render; a flake without a current lock is locked first (Nix finds its images)."""
    try:
        return render_path(nixfile, options)
    except NeedsLockError:
        if options.flake is None:
            raise
    notify(f"Nix finds the images of {nixfile}; writing {lock_path(nixfile)}")
    lock(prepare_lock(nixfile, options, engine_choice=engine_choice))
    return render_path(nixfile, options)


def prepare_locked_build(nixfile: Path, options: RenderOptions, *, target: str | None,
                         tags: tuple[str, ...], passthrough: PassThrough | None = None,
                         engine_choice: str = "auto", cache_from: tuple[str, ...] = (),
                         notify: Notify = _quiet) -> PreparedBuild:
    """:func:`prepare_build`, with the lock file written first where the build needs it:
    config or a script that names what only Nix knows, and layered images, whose layers
    are split from the closure the lock records.

    The lock runs on the engine and builder the build does (with its secrets), and what it
    makes for the build (the package-set image) is not made twice: see PreparedBuild.made.
    With ``cache_from`` (--nix-cache-from), the /nix cache first takes from those images
    what the lock file records (nixdf.cachefrom), and the lock records every image's closure.
    """
    from .engine import PassThrough

    passthrough = passthrough or PassThrough()
    seeded = _seed(nixfile, options, cache_from, engine_choice, passthrough,
                   notify) if cache_from else ()

    def locked(engine: Engine | None, message: str) -> PreparedBuild:
        notify(message)
        locking = prepare_lock(nixfile, options, engine=engine, engine_choice=engine_choice,
                               secrets=passthrough.secrets, builder=passthrough.builder,
                               all_closures=bool(cache_from))
        lock(locking)
        prepared = prepare_build(nixfile, options, target=target, tags=tags,
                                 passthrough=passthrough, engine=locking.engine)
        return dataclasses.replace(prepared, made=locking.sources + seeded)

    try:
        prepared = prepare_build(nixfile, options, target=target, tags=tags,
                                 passthrough=passthrough, engine_choice=engine_choice)
        prepared = dataclasses.replace(prepared, made=seeded)
    except NeedsLockError:
        # Config or a script names what only Nix knows: lock first, then render with it.
        prepared = locked(None, f"{nixfile} needs Nix's values; writing {lock_path(nixfile)}")
    if prepared.rendered.wants_lock:
        # Layered images get their layers from the closure the lock records.
        prepared = locked(prepared.engine, f"{nixfile} has layered images; writing "
                          f"{lock_path(nixfile)} for their layers")
    elif cache_from and wants_records(lock_path(nixfile), prepared.rendered.locked):
        prepared = locked(prepared.engine, f"writing {lock_path(nixfile)}: the NAR hashes of "
                          "the images' store paths, for the next --nix-cache-from")
    return prepared


def _seed(nixfile: Path, options: RenderOptions, sources: tuple[str, ...], engine_choice: str,
          passthrough: PassThrough, notify: Notify) -> tuple[Command, ...]:
    """--nix-cache-from: the seed build (nixdf.cachefrom), and what it made that the build
    needs too. A source that cannot be read leaves the build to Nix, with a word."""
    from .engine import probe

    check_sources(sources)
    if options.flake is not None:
        raise UsageError("--nix-cache-from: not for flakes yet", hint="build a Nixfile.")
    seeding = prepare_seed(nixfile, options, sources, probe(engine_choice), passthrough.secrets,
                           passthrough.builder)
    try:
        notify(seed(seeding).summary(sources, seeding.records))
    except EngineError as err:
        last = err.log[-1] if err.log else str(err)
        notify(f"--nix-cache-from {', '.join(sources)}: the seed build failed ({last}); Nix "
               "builds what the cache lacks")
    return seeding.commands(Path())[:-1]

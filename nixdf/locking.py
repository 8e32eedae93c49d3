"""``nixdf lock``: Nix evaluates, in the builder, what the Dockerfile needs of each image
(config, scripts, a layered image's closure); :mod:`nixdf.lockfile` keeps it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EngineError
from .failures import nix_error
from .files import write_atomic
from .inputs import NixInputs
from .libfiles import write_lib
from .load import (
    flake_found_images,
    flake_images,
    flake_inputs,
    flake_setup,
    nixpkgs_source,
    read_images,
)
from .lockfile import LOCK_VERSION, STORE_PATH, lock_key, lock_path
from .options import RenderOptions, check_options
from .plan import COMPAT_TARGETS, ExternalSource, PlanOptions, plan
from .record import ValueRecord
from .registrations import parse_dump_db, registrations
from .spec import records_closure

# The engine and its subprocess are imported by the functions that run them.
if TYPE_CHECKING:
    from .engine import Command, Engine


@dataclass(slots=True, repr=False, eq=False)
class PreparedLock(ValueRecord):
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
                 builder: str | None = None, all_closures: bool = False) -> PreparedLock:
    """Have Nix evaluate, in the builder (buildx's ``builder`` when given), every image's
    config and scripts; with ``all_closures`` record every image's closure, not only the
    layered ones' (for --nix-cache-from, nixdf.cachefrom)."""
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
        inputs, _, outside = flake_inputs(nixfile, request)
        nixpkgs, external = nixpkgs_source(options.nixpkgs, inputs.context)
        plan_options = PlanOptions(options.nix_image, nixpkgs, inputs.nixfile, inputs.paths,
                                   options.compat, options.caches(),
                                   flake=flake_setup(inputs, request,
                                                     options.nixpkgs is not None, outside))
        return PreparedLock(engine, nixfile, inputs,
                            render_lock(plan([], plan_options), [], [], discover=True),
                            lock_key(inputs, options), external, (), secrets, builder,
                            (options, plan_options), tuple(source for _, source in outside))
    read = read_images(nixfile)
    inputs, images = read.inputs, read.images
    engine = engine or probe(engine_choice)
    check_supported(engine, PassThrough(builder=builder))
    if options.compat is None and engine.wants_compat:
        options = dataclasses.replace(options, compat=COMPAT_TARGETS[0])
    attrs = [image.attr for image in images]
    layered = [image.attr for image in images if all_closures or records_closure(image.call)]
    nixpkgs, external = nixpkgs_source(options.nixpkgs, inputs.context)
    the_plan = plan([], PlanOptions(options.nix_image, nixpkgs, inputs.nixfile, inputs.paths,
                                    options.compat, options.caches()))
    return PreparedLock(engine, nixfile, inputs, render_lock(the_plan, attrs, layered),
                        lock_key(inputs, options), external, tuple(layered), secrets, builder)


def lock(prepared: PreparedLock) -> Path:
    """Run it and write the lock file (atomically): the values, and every store path named."""
    import json
    import tempfile

    from .engine import run

    done: list[Command] = []
    write_lib(prepared.inputs.directory)

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
                located = nix_error(err, prepared.inputs)
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
                          in zip(flake_images(found, system), found, strict=True)}
                (dest / "nixdf-lock.json").write_text(json.dumps(images), encoding="utf-8")
        return write_lock(prepared, dest, found)


def write_lock(prepared: PreparedLock, dest: Path,
               flake: list[dict[str, object]] | None = None) -> Path:
    """Write the lock file (atomically) from what a run of ``prepared.dockerfile`` put in
    ``dest``: the values, and every store path named. (nixdf.frontend runs that Dockerfile
    inside its own build, and hands its output here.)"""
    import json

    images = json.loads((dest / "nixdf-lock.json").read_text(encoding="utf-8"))
    # The store paths the Dockerfile will name (the closures come next, and name more).
    named = sorted(set(STORE_PATH.findall(json.dumps(images))))
    # Each layered image's closure as Nix's database dump (lib.sh's lock_closure): the layers
    # take each path's size and references, --nix-cache-from (nixdf.cachefrom) all of it.
    closures = [parse_dump_db((dest / f"closure-{index}").read_text(encoding="utf-8"))
                for index in range(len(prepared.layered))]
    for attr, closure in zip(prepared.layered, closures, strict=True):
        images[attr or ""]["closure"] = [
            {"path": entry.path, "narSize": entry.nar_size, "references": list(entry.references)}
            for entry in sorted(closure, key=lambda entry: entry.path)]
    data = {"version": LOCK_VERSION, "key": prepared.key, "images": images, "storePaths": named}
    dumped = registrations(closures)
    if dumped:
        data["registrations"] = dumped
    if flake is not None:
        data["flake"] = flake
    path = lock_path(prepared.nixfile)
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def _flake_values_lock(prepared: PreparedLock, found: list[dict[str, object]]) -> PreparedLock:
    """After Nix found a flake's images: the lock of their values and, for the layered ones,
    closures, as a Nixfile's (the values alone came with the images)."""
    from .render import render_lock

    options, plan_options = prepared.flake  # type: ignore[misc]
    system = options.flake.system  # type: ignore[union-attr]
    _, _, images = flake_found_images(prepared.nixfile, found, system)
    attrs = [image.attr for image in images]
    layered = [image.attr for image in images if records_closure(image.call)]
    assert plan_options.flake is not None, "a flake's lock plans its discovery"
    setup = dataclasses.replace(plan_options.flake, images=flake_images(found, system))
    the_plan = plan([], dataclasses.replace(plan_options, flake=setup))
    return dataclasses.replace(prepared, dockerfile=render_lock(the_plan, attrs, layered),
                               layered=tuple(layered))


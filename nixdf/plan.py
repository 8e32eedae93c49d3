"""From image specs to a Dockerfile plan: every decision, no text.

The plan says which stages exist and in what order, what each copies and runs,
and how the Nix store cache is keyed; ``render`` turns it into Dockerfile text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .defaults import DOCKERFILE_SYNTAX
from .errors import SpecError
from .layers import split
from .record import ValueRecord
from .spec import ImageConfig, ImageSpec

# docker-20.10: Dockerfile syntax 1.2 only. builtin-frontend: the default target's
# Dockerfile without its `# syntax=` line, for an engine whose own frontend has COPY
# --link (Docker 23+) and that cannot pull docker/dockerfile (offline, air-gapped).
COMPAT_TARGETS = ("docker-20.10", "builtin-frontend")
# The default target asks for a pinned frontend: `COPY --link` needs 1.4+.
MODERN_SYNTAX = DOCKERFILE_SYNTAX
BUILDER_STAGE = "nix"
# Where a local package set that lies outside the build context comes from: a
# named build context (buildx) or a local image nixdf makes first (Docker 20.10),
# named EXTERNAL_NIXPKGS:DIGEST after its content (see Nixpkgs.image).
EXTERNAL_NIXPKGS = "nixdf-nixpkgs"
# The build secret that carries a netrc for the binary caches, and where RUN sees it.
NETRC_SECRET = "nix-netrc"
SRC_DIR = "/nixdf/src"
# Where the steps that run Nix mount nixdf's lib (.nixdf/, see nixdf.libfiles).
LIB_MOUNT = "/nixdf/lib"

_STAGE = re.compile(r"[a-z][a-z0-9_.-]*")


@dataclass(slots=True, repr=False, eq=False)
class Nixpkgs(ValueRecord):
    """What ``pkgs`` is: ``kind`` is "tarball", "context" or "external".

    A local package set is its directory (a file's own directory, so the files
    it imports come along), copied to /nixdf/nixpkgs; ``entry`` is the file to
    import there, empty for the directory's default.nix. An "external" set (outside the
    build context) is the image ``image`` names, ``nixdf-nixpkgs:DIGEST`` of its content:
    builds of two different sets at once never name the same image.
    """

    kind: str
    url: str = ""
    sha256: str = ""
    context_path: str = ""
    entry: str = ""
    image: str = ""

    @property
    def path_in_builder(self) -> str:
        return f"/nixdf/nixpkgs/{self.entry}" if self.entry else "/nixdf/nixpkgs"


@dataclass(slots=True, repr=False, eq=False)
class ExternalSource(ValueRecord):
    """A local directory outside the build context, and the image name the Dockerfile gives
    it: a named build context (buildx), or a local image of that name nixdf makes first."""

    image: str
    path: Path


@dataclass(slots=True, repr=False, eq=False)
class NixCaches(ValueRecord):
    """Binary caches for Nix in the builder; ``netrc``: credentials come as a build secret."""

    substituters: tuple[str, ...] = ()
    trusted_keys: tuple[str, ...] = ()
    netrc: bool = False


@dataclass(slots=True, repr=False, eq=False)
class PlanOptions(ValueRecord):
    """What the plan needs besides the image specs: the command line's choices."""

    nix_image: str
    nixpkgs: Nixpkgs
    nixfile: str
    inputs: tuple[str, ...]
    compat: str | None = None
    caches: NixCaches = NixCaches()
    # Each store layer of a locked closure from a stage of its own (see StoreLayer).
    per_path: bool = False
    flake: FlakeSetup | None = None


@dataclass(slots=True, repr=False, eq=False)
class FlakeSetup(ValueRecord):
    """A flake in place of a Nixfile (see nixdf.flake): the flake.nix in the builder, the
    system, its replaced inputs (the package set "nixpkgs", a builder path or
    URL#sha256=HASH), the attribute wanted (None: every image of packages.<system>), and the
    images found, each a key and an attribute path."""

    flake_nix: str
    system: str
    overrides: tuple[tuple[str, str], ...]
    attr: str | None
    images: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Replaced inputs from outside the context: the image of each, and the input's name.
    copies: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True, repr=False, eq=False)
class StoreLayer(ValueRecord):
    """Store paths that make one image layer, and the stage the image copies them from.

    By default the build stage stages every layer in ``/out/layers/N``. Per path,
    each layer has a stage of its own that copies its paths out of the /nix cache:
    its instruction names the paths, so its cache key is their hashes and nothing
    else, and an unchanged path is neither copied, hashed nor exported again, however
    much else the build stage redoes. The build stage leaves ``mark`` (a file in
    ``/out/marks``, listing the paths) to say it built them.
    """

    paths: tuple[str, ...]
    nar_size: int
    stage: str
    source: str
    mark: str = ""


@dataclass(slots=True, repr=False, eq=False)
class BuildStage(ValueRecord):
    """Builds one image's contents with Nix and stages its root in /out."""

    name: str
    image_attr: str | None
    layered: bool
    keep_contents_dirlinks: bool
    include_store_paths: bool
    store_owner: tuple[int, int]
    needs_tools: bool
    # Config or scripts name store paths (from the lock): they join the closure.
    store_refs: bool = False
    # The store split into layers (from the lock's closure); empty: the store goes in
    # the root's layer.
    layers: tuple[StoreLayer, ...] = ()
    # Every file's time in the layers (epoch seconds); None: the build's own.
    mtime: int | None = 1
    # The Nix database of the image's store paths: "" none, "root" in the root's layer,
    # "layer" in a layer of its own (/out/nixdb) on top; owned by nix_db_owner.
    nix_db: str = ""
    nix_db_owner: tuple[int, int] = (0, 0)
    # nix2container.buildImage, and its explicit layers (index paths through `layers`),
    # each staged in /out/n2c/N, N from 1.
    nix2container: bool = False
    explicit_layers: tuple[tuple[int, ...], ...] = ()
    # The store is split into layers from the lock's closure, so the lock must record it.
    splits_store: bool = False
    # The config's WorkingDir, a name a level, made in the root: WORKDIR would make it
    # with the build's time, a layer that differs at every build. Empty: none, or left to
    # WORKDIR (on a fromImage base, whose own directory of that name must stay as it is).
    working_dir: tuple[str, ...] = ()
    # buildImage on another image of the Nixfile: that image's stage, whose store paths
    # this image's layer leaves out, as buildImage leaves out what its fromImage holds.
    base: str | None = None

    @property
    def per_path(self) -> bool:
        return any(layer.mark for layer in self.layers)

    @property
    def extras(self) -> bool:
        """Whether Nix evaluates more than the contents: nix2container's layers and perms,
        and the package set's sqlite for a Nix database."""
        return self.nix2container or bool(self.nix_db)


@dataclass(slots=True, repr=False, eq=False)
class ImageStage(ValueRecord):
    """The image itself: a base, the staged root, scripts run as root, config.

    Scripts run in a stage of their own and a tidy stage copies the root and
    what they made into one reproducible layer, without the empty mount points
    BuildKit leaves behind a RUN. On a fromImage base that stage starts from the
    base and the layer holds what changed there: the image itself never switches
    to root, so it keeps the user the base says, which nixdf cannot know when
    the base is an image reference.
    """

    name: str
    reference: str
    base: str
    build_stage: str
    scripts: tuple[tuple[str, str], ...]
    config: ImageConfig
    scripts_stage: str | None = None
    tidy_stage: str | None = None
    store_layers: tuple[StoreLayer, ...] = ()
    # The image's created time as SOURCE_DATE_EPOCH; None: the build time ("now").
    created: int | None = 1
    mtime: int | None = 1  # as BuildStage.mtime
    # nix2container's explicit layers, copied first (from /out/n2c/N/), and the Nix
    # database's own layer, copied last (from /out/nixdb/).
    explicit_layers: tuple[str, ...] = ()
    db_layer: bool = False
    # A nix2container image inherits no config from its fromImage; what a Dockerfile can
    # reset (Entrypoint, and Cmd with it, WorkingDir, User) is reset when it sets none.
    reset_config: bool = False
    # The platform the image is for (the build's --platform); None: the engine's own.
    platform: str | None = None


@dataclass(slots=True, repr=False, eq=False)
class DockerfilePlan(ValueRecord):
    """The whole Dockerfile: its header, the build stages and the image stages, in order
    (``builds[i]`` builds ``images[i]``; a base comes before the images on it)."""

    syntax: str | None
    link: bool
    nixfile: str
    nix_image: str
    cache_id: str
    nixpkgs: Nixpkgs
    inputs: tuple[str, ...]
    caches: NixCaches
    builds: tuple[BuildStage, ...]
    images: tuple[ImageStage, ...]
    flake: FlakeSetup | None = None

    @property
    def native_builder(self) -> bool:
        """Whether the builder must run on the engine's platform ($BUILDPLATFORM): an image
        names its architecture, and the build's --platform is that, not the builder's."""
        return any(image.platform for image in self.images)


def plan(specs: Sequence[ImageSpec], options: PlanOptions) -> DockerfilePlan:
    """Order the images so every base precedes its users, and name their stages."""
    if options.compat not in (None, *COMPAT_TARGETS):
        raise SpecError(f"unknown compatibility target {options.compat!r}",
                        hint="the targets are " + " and ".join(COMPAT_TARGETS) + ".")
    stage_of = {spec.attr: _stage_name(spec) for spec in specs}
    if len(set(stage_of.values())) != len(stage_of):
        raise SpecError("two images would get the same build stage name",
                        specs[-1].span, hint="give the images attribute names that differ "
                        "in more than case.")
    builds: list[BuildStage] = []
    images: list[ImageStage] = []
    layer_count: dict[str, int] = {}  # each image's layers, its base's included
    for spec in _bases_first(specs):
        stage = stage_of[spec.attr]
        build = f"{stage}-build"
        # A base from this Nixfile has a known number of layers, which count against
        # maxLayers as dockerTools counts a fromImage's; another image's are unknown here.
        base_layers = layer_count[stage_of[spec.from_attr]] if spec.from_attr else 0
        layers = _layers(spec, stage, options.per_path, base_layers)
        # The layered builders' database goes in a layer of its own on top, so that a new
        # one changes no other layer (their scripts, which see the builder's tools at /nix,
        # could not change it anyway).
        nix_db = "" if not spec.nix_db else "layer" if spec.layered else "root"
        splits = (spec.layered and spec.include_store_paths) or (
            spec.nix2container and spec.max_layers > 1)
        base = stage_of[spec.from_attr] if spec.from_attr else spec.from_image or "scratch"
        builds.append(BuildStage(build, spec.attr, spec.layered, spec.keep_contents_dirlinks,
                                 spec.include_store_paths, spec.store_owner,
                                 bool(spec.scripts), spec.store_refs, layers, spec.mtime,
                                 nix_db, spec.nix_db_owner, spec.nix2container,
                                 spec.explicit_layers, splits,
                                 _working_dir(spec.config.working_dir) if base == "scratch"
                                 else (),
                                 base=base if spec.from_attr and not spec.layered
                                 and not spec.nix2container else None))
        tidy = bool(spec.scripts)
        explicit = tuple(f"/out/n2c/{n}/" for n in range(1, len(spec.explicit_layers) + 1))
        images.append(ImageStage(stage, f"{spec.name}:{spec.tag}", base, build, spec.scripts,
                                 spec.config, f"{stage}-scripts" if tidy else None,
                                 f"{stage}-tidy" if tidy else None, layers, spec.created,
                                 spec.mtime, explicit, nix_db == "layer",
                                 spec.nix2container and base != "scratch", spec.platform))
        # The explicit and store layers, the root (with what the scripts made), the database's.
        layer_count[stage] = (base_layers + len(explicit) + len(layers) + 1
                              + (nix_db == "layer"))
    return DockerfilePlan(
        syntax=None if options.compat else MODERN_SYNTAX,
        link=options.compat != COMPAT_TARGETS[0],
        nixfile=options.nixfile,
        nix_image=options.nix_image,
        cache_id=cache_id(options.nix_image),
        nixpkgs=options.nixpkgs,
        inputs=options.inputs,
        caches=options.caches,
        builds=tuple(builds),
        images=tuple(images),
        flake=options.flake,
    )


def cache_id(nix_image: str) -> str:
    """A cache per builder image: a store seeded from one image never meets another's."""
    _, _, digest = nix_image.partition("@sha256:")
    if not digest:
        import hashlib  # only an image named without a digest needs it

        digest = hashlib.sha256(nix_image.encode()).hexdigest()
    return f"nixdf-nix-{digest[:16]}"


def _working_dir(path: str | None) -> tuple[str, ...]:
    """WorkingDir's names, a level each (relative to /, as WORKDIR takes it); none when it
    climbs with "..": WORKDIR makes that itself. (The build stage's shell gets each name
    quoted; a WorkingDir a Dockerfile line cannot carry was refused in spec.)"""
    names = tuple(name for name in (path or "").split("/") if name not in ("", "."))
    return () if ".." in names else names


def _layers(spec: ImageSpec, stage: str, per_path: bool,
            base_layers: int) -> tuple[StoreLayer, ...]:
    """The layered builders' store layers; the customisation layer (the root) is one more."""
    if spec.nix2container:
        return _nix2container_layers(spec, stage)
    if not spec.layered:
        return ()
    budget = spec.max_layers - 1 - base_layers
    if budget < 1:
        raise SpecError(f"maxLayers = {spec.max_layers} leaves no layer for the store: the "
                        f"fromImage has {base_layers} layer{'s' * (base_layers != 1)} and the root "
                        "takes one",
                        spec.span, hint=f"raise maxLayers to {base_layers + 2} or more, as "
                        "dockerTools requires.")
    if not spec.include_store_paths or not spec.closure:
        return ()
    size = {entry.path: entry.nar_size for entry in spec.closure}
    layers = split(spec.closure, budget, spec.layering)
    if per_path:
        return tuple(StoreLayer(tuple(paths), sum(size[p] for p in paths),
                                f"{stage}-store-{n}", "/out/", _store_name(paths[0]))
                     for n, paths in enumerate(layers, 1))
    return tuple(StoreLayer(tuple(paths), sum(size[p] for p in paths), f"{stage}-build",
                            f"/out/layers/{n}/") for n, paths in enumerate(layers))


def _nix2container_layers(spec: ImageSpec, stage: str) -> tuple[StoreLayer, ...]:
    """nix2container's maxLayers: the closure of copyToRoot and config split by popularity,
    each of the first maxLayers - 1 paths alone, the rest with the root. nix2container counts
    no base layers against it. A copyToRoot item's files land at / in its layer."""
    if spec.max_layers == 1 or not spec.closure:
        return ()
    size = {entry.path: entry.nar_size for entry in spec.closure}
    groups = split(spec.closure, spec.max_layers, "popularity")
    return tuple(StoreLayer(tuple(paths), sum(size[p] for p in paths), f"{stage}-build",
                            f"/out/layers/{n}/") for n, paths in enumerate(groups[:-1]))


def _store_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _stage_name(spec: ImageSpec) -> str:
    raw = (spec.attr or spec.name.rsplit("/", 1)[-1]).lower()
    name = re.sub(r"[^a-z0-9_.-]", "-", raw)
    if not _STAGE.fullmatch(name):
        name = f"image-{name}"
    if name == BUILDER_STAGE or re.search(r"-(build|scripts|tidy|store-[0-9]+)$", name):
        name = f"{name}-image"
    return name


def _bases_first(specs: Sequence[ImageSpec]) -> list[ImageSpec]:
    by_attr = {spec.attr: spec for spec in specs}
    ordered: list[ImageSpec] = []
    visiting: set[str | None] = set()

    def visit(spec: ImageSpec) -> None:
        if spec in ordered:
            return
        if spec.attr in visiting:
            raise SpecError("these images are each other's fromImage", spec.span)
        visiting.add(spec.attr)
        if spec.from_attr is not None:
            visit(by_attr[spec.from_attr])
        visiting.discard(spec.attr)
        ordered.append(spec)

    for spec in specs:
        visit(spec)
    return ordered

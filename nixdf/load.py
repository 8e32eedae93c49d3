"""Reading a Nixfile (or a flake) into image specs: parse, evaluate, the lock's values,
specs. The one loader that render, build and lock share.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from . import defaults
from .errors import NeedsLockError, NixdfError, SpecError, UsageError
from .evaluate import FoundImage, evaluation, find_images
from .files import display_name, located
from .flake import FlakeRequest
from .inputs import NixInputs, nix_inputs, read_nix
from .lockfile import apply_lock, lock_key, locked_closure, read_lock, read_lock_data
from .options import RenderOptions
from .parse import parse
from .plan import EXTERNAL_NIXPKGS, SRC_DIR, ExternalSource, FlakeSetup, Nixpkgs
from .record import ValueRecord
from .spec import ImageSpec, name_clash, to_specs
from .syntax import Expr
from .vocabulary import carries


@dataclass(slots=True, repr=False, eq=False)
class Loaded(ValueRecord):
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


def read_nixfile(nixfile: Path) -> str:
    """A Nixfile's text; a missing one, or one nixdf cannot read, is a usage error."""
    if not nixfile.is_file():
        raise UsageError(f"{nixfile}: no such Nixfile",
                         hint="pass the path of a Nixfile, or run nixdf where ./Nixfile is.")
    return read_nix(nixfile, display_name(nixfile))


@dataclass(slots=True, repr=False, eq=False)
class Found(ValueRecord):
    """A Nixfile read as far as its images: its text, syntax tree, Nix inputs and images."""

    source: str
    tree: Expr
    inputs: NixInputs
    images: list[FoundImage]


def read_images(nixfile: Path) -> Found:
    """Read, parse and statically evaluate a Nixfile as far as its images, errors located:
    the one reading that render, build and lock share."""
    source = read_nixfile(nixfile)
    with located(source):
        tree = parse(source, display_name(nixfile))
        inputs = nix_inputs(nixfile, tree, parse)
    return Found(source, tree, inputs, _images_in(source, tree))


def flake_found_images(flake_nix: Path, found: list[dict[str, object]],
                       system: str) -> tuple[str, Expr, list[FoundImage]]:
    """The Nixfile that Nix's discovery of a flake's images makes, and its images."""
    from .flake import nixfile_text

    text = nixfile_text(found, system)
    with located(text):
        tree = parse(text, f"{display_name(flake_nix)} (its images, as Nix found them)")
    return text, tree, _images_in(text, tree)


def _images_in(source: str, tree: Expr) -> list[FoundImage]:
    with located(source), evaluation(tree.span):
        return find_images(tree)


def _specs(source: str, tree: Expr, images: list[FoundImage],
           locked: dict[str, dict[str, object]] | None,
           state: str | None) -> tuple[list[ImageSpec], SpecError | None]:
    """The images' specs, with the lock's values (``state``: the lock's, for the hint of a
    value that needs one), and a clash of two images' names."""
    with located(source), evaluation(tree.span):
        images, with_refs = apply_lock(images, locked) if locked else (images, set())
        try:
            specs = [dataclasses.replace(spec, store_refs=spec.attr in with_refs,
                                         closure=locked_closure(locked, spec.attr))
                     for spec in to_specs(images)]
        except NeedsLockError as err:
            if state is not None:
                err.lock_state = state
            raise
        # After the lock's values: names only Nix knows are compared too.
        return specs, name_clash(images, specs)


def load_nixfile(nixfile: Path, options: RenderOptions | None) -> Loaded:
    """With ``options``, a lock file made for this very input supplies what Nix computes."""
    if options is not None and options.flake is not None:
        return _load_flake(nixfile, options, options.flake)
    read = read_images(nixfile)
    key = lock_key(read.inputs, options) if options else ""
    locked, state = read_lock(nixfile, key) if options else (None, "missing")
    specs, clash = _specs(read.source, read.tree, read.images, locked, state)
    if clash is not None and clash.span is not None and Path(clash.span.file).is_file():
        clash.with_source(Path(clash.span.file).read_text(encoding="utf-8"))
    return Loaded(read.source, read.tree, read.inputs, key, specs, locked is not None, state,
                  clash)


def flake_inputs(flake_nix: Path, request: FlakeRequest
                 ) -> tuple[NixInputs, str, tuple[tuple[str, ExternalSource], ...]]:
    """The flake's Nix inputs (flake.nix, the files it names, flake.lock, the local inputs
    that replace its own and lie in its context), their context, flake.nix's text, and the
    replacing inputs from outside the context, each reaching the build as the package set
    does (a named context, or a local image on Docker 20.10). A syntax error in flake.nix or
    a file it imports is located."""
    source = read_nixfile(flake_nix)
    with located(source):
        tree = parse(source, display_name(flake_nix))
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


def flake_setup(inputs: NixInputs, request: FlakeRequest, nixpkgs_given: bool,
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


def _load_flake(flake_nix: Path, options: RenderOptions, request: FlakeRequest) -> Loaded:
    """A flake, read through its lock: the Nixfile Nix's discovery of its images makes."""
    inputs, source, outside = flake_inputs(flake_nix, request)
    key = lock_key(inputs, options)
    data, state = read_lock_data(flake_nix, key)
    if data is None or not isinstance(data.get("flake"), list):
        missing = NeedsLockError(f"{display_name(flake_nix)}: a flake's images are known once "
                                 "Nix has found them", hint=f"run `nixdf lock {flake_nix}` "
                                 "(nixdf build does it by itself).")
        missing.lock_state = state if data is None else "stale"
        raise missing
    found = data["flake"]
    text, tree, images = flake_found_images(flake_nix, found, request.system)
    specs, clash = _specs(text, tree, images, data["images"], None)
    setup = flake_setup(inputs, request, options.nixpkgs is not None, outside,
                        flake_images(found, request.system))
    return Loaded(source, tree, inputs, key, specs, True, "current", clash, setup,
                   tuple(external for _, external in outside))


def flake_images(loaded_found: list[dict[str, object]],
                 system: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from .flake import keyed

    return tuple((key, tuple(path)) for key, path in keyed(loaded_found, system))


def nixpkgs_source(spec: str | None, context: Path) -> tuple[Nixpkgs, ExternalSource | None]:
    if spec is None:
        return Nixpkgs("tarball", url=defaults.NIXPKGS_URL,
                       sha256=defaults.NIXPKGS_SHA256), None
    if "://" in spec:
        url, _, sha256 = spec.partition("#sha256=")
        if not sha256:
            raise UsageError(f"--nixpkgs {spec}: a tarball URL needs its hash",
                             hint="write URL#sha256=HASH (the hash fetchTarball expects).")
        if any(c.isspace() for c in url + sha256):
            raise UsageError(f"--nixpkgs {spec}: a URL has no spaces or line breaks")
        return Nixpkgs("tarball", url=url, sha256=sha256), None
    path = Path(spec).resolve()
    if not path.exists():
        raise UsageError(f"--nixpkgs {spec}: no such file or directory")
    directory, entry = (path, "") if path.is_dir() else (path.parent, path.name)
    if not carries(entry):
        raise UsageError(f"--nixpkgs {spec}: the file name has a line break or another "
                         "control character, which an ENV line cannot carry")
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


def nixfile_at(path: Path) -> Path:
    """A directory stands for the Nixfile in it."""
    return path / "Nixfile" if path.is_dir() else path


"""The lock file, ``Nixfile.lock``: what Nix computed for the Dockerfile, kept beside the
Nixfile; the key that says which input it was made for, reading it, and applying its values.

Making one (running Nix in the builder) is :mod:`nixdf.locking`'s.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .evaluate import Attrs, FoundImage, ImageCall, Thunk, from_json
from .inputs import NixInputs
from .layers import StorePath
from .options import RenderOptions

if TYPE_CHECKING:
    import hashlib


LOCK_VERSION = 2


# What Nix computes for the Dockerfile, per image: these arguments, whole.
LOCKED_ARGUMENTS = ("name", "tag", "created", "mtime", "config", "runAsRoot",
                    "extraCommands", "fakeRootCommands", "architecture", "variant", "arch")


STORE_PATH = re.compile(r"/nix/store/[0-9a-z]{32}-[^/\s\"'$`\\]+")


def lock_path(nixfile: Path) -> Path:
    """Where the lock of a Nixfile lives: beside it, ``Nixfile.lock``."""
    return nixfile.with_name(nixfile.name + ".lock")


def lock_key(inputs: NixInputs, options: RenderOptions) -> str:
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


def read_lock(nixfile: Path, key: str) -> tuple[dict[str, dict[str, object]] | None, str]:
    """The locked values and "current"; or None and "missing" when there is no lock, "stale"
    when it was made for other input (or is not a lock nixdf can read)."""
    data, state = read_lock_data(nixfile, key)
    return (None, state) if data is None else (data["images"], state)


def read_lock_data(nixfile: Path, key: str) -> tuple[dict[str, Any] | None, str]:
    """The lock file's data and "current", or None and why not (see read_lock)."""
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


def apply_lock(images: list[FoundImage], locked: dict[str, dict[str, object]]
               ) -> tuple[list[FoundImage], set[str | None]]:
    """The images with Nix's values in place of the static ones, and those whose values name
    store paths.

    A locked image reads a fresh argument set of its own: what evaluation made is left as it
    was, and other images' ``fromImage`` still reach it (FoundImage.origin). One call reached
    by two attributes stays one image: both read the one fresh set.
    """
    import json

    with_refs: set[str | None] = set()
    fresh: dict[int, ImageCall] = {}
    for image in images:
        values = locked.get(image.attr or "")
        if not isinstance(values, dict):
            continue
        call = image.call
        if id(call) not in fresh:
            args = Attrs(dict(call.args.items), dict(call.args.key_spans), call.args.span)
            fresh[id(call)] = ImageCall(call.builder, args, call.span)
        args = fresh[id(call)].args
        for name in LOCKED_ARGUMENTS:
            if name in args.items and values.get(name) is not None:
                args.items[name] = Thunk.of(from_json(values[name], args.key_spans[name]))
        if STORE_PATH.search(json.dumps(values)):
            with_refs.add(image.attr)
    return [dataclasses.replace(image, call=fresh[id(image.call)], origin=image.call)
            if id(image.call) in fresh else image for image in images], with_refs


def locked_closure(locked: dict[str, dict[str, object]] | None,
                    attr: str | None) -> tuple[StorePath, ...]:
    """The closure a lock recorded for a layered image."""
    closure = ((locked or {}).get(attr or "") or {}).get("closure")
    # The lock's JSON, as nixdf.locking wrote it: a list of {path, narSize, references}.
    entries: list[dict[str, Any]] = closure if isinstance(closure, list) else []
    return tuple(StorePath(str(entry["path"]), int(entry["narSize"]), tuple(entry["references"]))
                 for entry in entries)


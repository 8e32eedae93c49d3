"""Flakes as Nixfiles: which flake and image a command names, and the Nixfile nixdf reads
in its place.

nixdf cannot see a flake's images statically: they come out of ``outputs``, through
flake-utils, flake-parts or ``callPackage``. So Nix finds them, in the builder (the lock
phase, ``discover`` in ``templates/flake-outputs.nix``): it evaluates the flake with its
inputs (flake.lock, ``--nixpkgs``, ``--override-input``), nixdf's builders in every
``dockerTools`` it reaches, and says for each image which builder made it with which
arguments. nixdf writes that down as an ordinary Nixfile (:func:`nixfile_text`) whose
derivations are opaque ``pkgs`` values, and from there the pipeline is the Nixfile's: spec,
plan, render. On the Nix side the Dockerfile's ``top`` is the flake's images at their
attribute paths (``templates/flake-outputs.nix``), so the build stage builds what the flake
says.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .record import ValueRecord

FLAKE_FILE = "flake.nix"
# Nix's system names for the platforms Docker names.
_SYSTEMS = {"amd64": "x86_64-linux", "x86_64": "x86_64-linux", "arm64": "aarch64-linux",
            "aarch64": "aarch64-linux", "arm/v7": "armv7l-linux", "386": "i686-linux",
            "i686": "i686-linux", "riscv64": "riscv64-linux", "ppc64le": "powerpc64le-linux",
            "s390x": "s390x-linux"}
_INPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_ATTR_PATH = re.compile(r"[A-Za-z0-9_'-]+(\.[A-Za-z0-9_'-]+)*")


@dataclass(slots=True, repr=False, eq=False)
class FlakeRequest(ValueRecord):
    """What of a flake to build: an attribute (None: every image of packages.<system>), the
    system, and the inputs replaced (name, source as given)."""

    attr: str | None
    system: str
    overrides: tuple[tuple[str, str], ...] = ()


def system_of(platforms: tuple[str, ...] = ()) -> str:
    """Nix's system for the target platform (``linux/arm64`` -> ``aarch64-linux``); without
    one, the machine's own, which is the engine's here."""
    if platforms:
        arch = platforms[0].split("/", 1)[-1] if "/" in platforms[0] else platforms[0]
        if arch in _SYSTEMS:
            return _SYSTEMS[arch]
        raise UsageError(f"--platform {platforms[0]}: no Nix system for it",
                         hint="a flake is evaluated for one system: linux/amd64, linux/arm64, "
                         "linux/arm/v7, …")
    return _SYSTEMS.get(platform.machine().lower(), "x86_64-linux")


def resolve(argument: str, target: str | None) -> tuple[Path, str | None, bool]:
    """The Nixfile or flake.nix a command names, the flake attribute wanted, and whether it
    is a flake: ``DIR#ATTR``, ``DIR/flake.nix`` (``--target ATTR``), or a directory that
    holds a flake.nix and no Nixfile (the default ``Nixfile`` too: no argument there)."""
    attr: str | None = target
    if "#" in argument:
        argument, _, attr = argument.partition("#")
        if target is not None and target != attr:
            raise UsageError(f"--target {target} and #{attr} name different images",
                             hint="name the image once.")
        attr = attr or None
        path = Path(argument or ".")
        if path.is_dir():
            path = path / FLAKE_FILE
        if path.name != FLAKE_FILE or not path.is_file():
            raise UsageError(f"{argument}: no {FLAKE_FILE} there",
                             hint="DIR#ATTR names a directory that holds a flake.nix.")
    else:
        path = Path(argument)
        if path.is_dir():
            if (path / "Nixfile").is_file():
                return path / "Nixfile", target, False
            if not (path / FLAKE_FILE).is_file():
                raise UsageError(f"{argument}: neither a Nixfile nor a {FLAKE_FILE} there",
                                 hint="pass a Nixfile, a flake.nix, or DIR#ATTR.")
            path = path / FLAKE_FILE
        if path.name == "Nixfile" and not path.exists() \
                and (path.parent / FLAKE_FILE).is_file():
            path = path.parent / FLAKE_FILE  # no argument, in a flake's directory
        if path.name != FLAKE_FILE:
            return path, target, False
    if attr is not None and not _ATTR_PATH.fullmatch(attr):
        raise UsageError(f"{attr}: not a flake attribute path",
                         hint="a name (hello), or a path (packages.x86_64-linux.images.api).")
    return path, attr, True


def check_overrides(overrides: tuple[tuple[str, str], ...]) -> None:
    for name, source in overrides:
        if not _INPUT_NAME.fullmatch(name):
            raise UsageError(f"--override-input {name}: not a flake input name")
        if "://" in source:
            url, _, sha256 = source.partition("#sha256=")
            if not sha256 or any(c.isspace() for c in source):
                raise UsageError(f"--override-input {name} {source}: a URL needs its hash "
                                 "and no spaces or line breaks",
                                 hint="write URL#sha256=HASH (the hash fetchTarball expects).")
        elif not Path(source).is_dir():
            raise UsageError(f"--override-input {name} {source}: no such directory")


def image_key(path: list[str], system: str) -> str:
    """The Nixfile attribute (and stage) name of the image at a flake attribute path:
    ``packages.x86_64-linux.images.api`` -> ``images-api``."""
    parts = path[2:] if path[:2] in (["packages", system], ["legacyPackages", system]) \
        else path
    key = re.sub(r"[^A-Za-z0-9_-]", "-", "-".join(parts)) or "image"
    return key if re.match(r"[A-Za-z_]", key) else f"image-{key}"


def keyed(found: list[dict[str, object]], system: str) -> list[tuple[str, list[str]]]:
    """Each image Nix found, by key (unique) and attribute path."""
    result: list[tuple[str, list[str]]] = []
    taken: set[str] = set()
    for image in found:
        path = [str(part) for part in image["path"]]  # type: ignore[attr-defined]
        key = base = image_key(path, system)
        n = 2
        while key.lower() in taken:
            key, n = f"{base}-{n}", n + 1
        taken.add(key.lower())
        result.append((key, path))
    return result


def nixfile_text(found: list[dict[str, object]], system: str) -> str:
    """The Nixfile that says what Nix found: each image a builder call with its arguments,
    derivations and functions as opaque ``pkgs`` values (Nix builds them from the flake)."""
    lines = ["{"]
    for (key, _), image in zip(keyed(found, system), found, strict=True):
        lines.append(f"  {_nix_string(key)} = {_nix(image['image'], 1)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _nix(value: object, depth: int) -> str:
    pad = "  " * (depth + 1)
    if isinstance(value, dict):
        kind = value.get("__nixdf")
        if kind == "opaque":
            return "pkgs.fromFlake"
        if kind == "call":
            return f"{value['builder']} {_nix(value['args'], depth)}"
        items = "".join(f"\n{pad}{_nix_string(k)} = {_nix(v, depth + 1)};"
                        for k, v in value.items())
        return "{" + items + "\n" + "  " * depth + "}" if items else "{ }"
    if isinstance(value, list):
        return "[ " + " ".join(f"({_nix(v, depth)})" for v in value) + " ]"
    if isinstance(value, str):
        return _nix_string(value)
    if value is None:
        return "null"
    return json.dumps(value)  # bool, int, float: Nix spells them as JSON does


def _nix_string(text: str) -> str:
    escaped = "".join("\\" + c if c in '\\"' else c for c in text)
    return '"' + escaped.replace("${", "\\${").replace("\n", "\\n").replace(
        "\t", "\\t").replace("\r", "\\r") + '"'

"""nixdf's Nix and shell machinery, written beside a Dockerfile as ``.nixdf/``.

A generated Dockerfile's steps call into these files (templates/lib.nix, lib.sh and
flake-outputs.nix) instead of carrying them inline, so each step is a short command a
reviewer can read, and the files are written once per directory, not once per stage. They
are the same for every Nixfile: two Dockerfiles in one directory share them, and a file is
rewritten only when nixdf's own copy differs (a new nixdf version).
"""

from __future__ import annotations

import os
import pkgutil
import tempfile
from contextlib import suppress
from functools import cache
from hashlib import sha256
from pathlib import Path

from .errors import UsageError

LIB_DIR = ".nixdf"
FILES = ("lib.nix", "lib.sh", "flake-outputs.nix")


@cache
def lib_files() -> dict[str, bytes]:
    """Each file's name and nixdf's text of it."""
    files = {}
    for name in FILES:
        data = pkgutil.get_data("nixdf.templates", name)
        if data is None:  # a loader that cannot read files
            raise RuntimeError(f"cannot read {name} from the nixdf.templates package")
        files[name] = data
    return files


@cache
def lib_digest() -> str:
    """The files' digest, short: a Dockerfile names it (ENV NIXDF_LIB) so that an engine
    that keys a step by its text and its parent, not by what it bind-mounts (podman's
    buildah), runs the steps again when the files change."""
    digest = sha256()
    for name, data in sorted(lib_files().items()):
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()[:16]


def stale_lib_files(directory: Path) -> list[Path]:
    """The files of ``.nixdf/`` in ``directory`` (the Nixfile's) that are missing or differ
    from nixdf's."""
    directory = directory / LIB_DIR
    stale = []
    for name, data in lib_files().items():
        try:
            current = (directory / name).read_bytes()
        except OSError:
            current = None
        if current != data:
            stale.append(directory / name)
    return stale


def write_lib(directory: Path) -> list[Path]:
    """Write ``.nixdf/`` in ``directory`` (the Nixfile's): each stale file replaced whole (a
    build beside this one reads the old file or the new one, never half of it). The files
    written, if any."""
    stale = stale_lib_files(directory)
    for path in stale:
        name = path.name
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=path.parent)
        except OSError as err:
            raise _unwritable(path, err) from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(lib_files()[name])
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as err:
            with suppress(OSError):
                os.unlink(tmp)
            raise _unwritable(path, err) from None
    return stale


def _unwritable(path: Path, err: OSError) -> UsageError:
    return UsageError(
        f"{path}: cannot write it: {err.strerror}",
        hint=f"the Dockerfile's steps take nixdf's Nix and shell files from {LIB_DIR}/ in the "
             "build context: make the Nixfile's directory writable.")

"""Files as nixdf shows, reads and writes them: shared by every module that touches one.

Low in the house on purpose: the loader, the lock file, the failure reader and the
façade all name files in messages and write them atomically, and none may import
another upward to do so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import NixdfError, UsageError


def display_name(path: Path) -> str:
    """A path as messages show it: relative to the working directory when it is below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


@contextmanager
def located(source: str) -> Iterator[None]:
    """Errors raised inside carry ``source``, the text their span points into."""
    try:
        yield
    except NixdfError as err:
        raise err.with_source(source) from None


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
    name = display_name(path)
    return "".join(difflib.unified_diff(current.splitlines(keepends=True),
                                        text.splitlines(keepends=True),
                                        f"{name} (committed)", f"{name} (rendered)"))

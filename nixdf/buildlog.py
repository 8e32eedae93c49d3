"""Reading a failed build's log for what the user must fix: Nix's own error.

Nix evaluates the Nixfile inside the builder, where it lives at /nixdf/src; its
error names a position there. This finds that message in BuildKit's output and
turns it into a located error against the file on the user's disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# BuildKit's plain progress prefixes each line of a step's output with "#N SECONDS ".
_PREFIX = re.compile(r"^#\d+ \d+\.\d+ ?")
_ERROR = re.compile(r"^error: (?P<message>.+)$")
_AT = re.compile(r"^\s*at (?P<path>/nixdf/src/[^:]+):(?P<line>\d+):(?P<column>\d+):$")
_HINT = re.compile(r"^\s*(?P<hint>Did you mean .+\?)$")


@dataclass(frozen=True, slots=True)
class NixFailure:
    """Nix's message and, when it names one, a position in the build context."""

    message: str
    path: str | None = None
    line: int = 0
    column: int = 0
    hint: str | None = None


def nix_failure(log: Sequence[str], src_dir: str) -> NixFailure | None:
    """The first Nix error in ``log``; ``path`` relative to the build context."""
    lines = [_PREFIX.sub("", line) for line in log]
    for index, line in enumerate(lines):
        found = _ERROR.match(line)
        if not found or found["message"].startswith("builder for"):
            continue
        failure = NixFailure(found["message"])
        for follow in lines[index + 1:index + 16]:
            if _ERROR.match(follow):
                break
            at = _AT.match(follow)
            if at and failure.path is None:
                failure = NixFailure(failure.message, at["path"][len(src_dir) + 1:],
                                     int(at["line"]), int(at["column"]))
            hint = _HINT.match(follow)
            if hint:
                failure = NixFailure(failure.message, failure.path, failure.line,
                                     failure.column, hint["hint"])
        return failure
    return None

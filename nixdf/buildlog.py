"""Reading a failed build's log for what the user must fix: Nix's own error.

Nix evaluates the Nixfile inside the builder, where it lives at /nixdf/src; its
error names a position there. This finds that message in BuildKit's output and
turns it into a located error against the file on the user's disk. A package
whose own build failed is told apart first: its build script may print
`error: …` too (gcc, rustc and make do), and that is no fault of the Nixfile.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# BuildKit's plain progress prefixes each line of a step's output with "#N SECONDS "; the
# error summary of buildx's terminal display with "SECONDS " only.
_PREFIX = re.compile(r"^(?:#\d+ \d+\.\d+ ?|\d+\.\d+ )")
_SECONDS = re.compile(r"^\d+\.\d+ (?P<text>.*)$")
_STEP_LINE = re.compile(r"^#(?P<step>\d+) \d+\.\d+ ?(?P<text>.*)$")
_STEP_OWN = re.compile(r"^#\d+ ")  # BuildKit's own lines of a step: sha256, DONE, ERROR
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Nix's error line, at the top or (inside a trace, as for import-from-derivation) indented.
_NIX_ERROR = r"^\s*error: (?:.*: )?"
_DRV = r"'(?P<drv>/nix/store/[0-9a-z]{32}-(?P<name>[^'/]+)\.drv)'"
# Nix 2.4 to 2.2x: "error: builder for '/nix/store/…-NAME.drv' failed with exit code 1", a
# ";" and the log's last lines after it when Nix did not print them as they came (2.8 did).
_BUILDER_FAILED = re.compile(rf"{_NIX_ERROR}builder for {_DRV} (?P<reason>failed[^;]*?)\.?;?$")
# Newer Nix: "error: Cannot build '/nix/store/…-NAME.drv'." and "Reason: builder failed with …".
_CANNOT_BUILD = re.compile(rf"{_NIX_ERROR}Cannot build {_DRV}\.$")
# A fixed-output derivation (a fetcher's) whose output has another hash: "specified:" and
# "got:" follow, indented.
_HASH_MISMATCH = re.compile(rf"{_NIX_ERROR}hash mismatch in fixed-output derivation {_DRV}:$")
_REASON = re.compile(r"^\s+Reason: builder (?P<reason>.+?)\.?$")
_TAIL_LINE = re.compile(r"^\s+> ?(?P<text>.*)$")
_BUILDING = re.compile(rf"^building {_DRV}")
# lib.nix's `packages`: an item of the contents that is no derivation.
_NOT_A_PACKAGE = re.compile(r'nixdf: (?:item (?P<item>\d+) of )?the (?P<key>[\w.]+) of image '
                            r'"(?P<attr>[^"]*)" is not a package \(a derivation\) but '
                            r'(?P<kind>[\w ]+)')
SHOWN_LINES = 10  # of a failed package's log, as many as Nix itself shows
_MISMATCH_REASON = "made an output whose hash is not the one given (its outputHash)"
_ERROR = re.compile(r"^error: (?P<message>.+)$")
_AT = re.compile(r"^\s*at (?P<path>/nixdf/src/[^:]+):(?P<line>\d+):(?P<column>\d+):$")
_INNER_ERROR = re.compile(r"^\s+error: (?P<message>.+)$")
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
        if line.rstrip() == "error:":
            return _traced(log[index + 1:], _step_and_text(log[index])[0], src_dir)
        found = _ERROR.match(line)
        if not found or found["message"].startswith("builder for"):
            continue
        follows = itertools.takewhile(lambda follow: not _ERROR.match(follow),
                                      lines[index + 1:index + 16])
        return _placed(NixFailure(found["message"]), follows, src_dir)
    return None


def _placed(failure: NixFailure, follows: Iterable[str], src_dir: str) -> NixFailure:
    """``failure`` with the first position in the Nixfile's sources and the last suggestion
    that the lines after its message give."""
    for follow in follows:
        at = _AT.match(follow)
        if at and failure.path is None:
            failure = NixFailure(failure.message, at["path"][len(src_dir) + 1:],
                                 int(at["line"]), int(at["column"]))
        hint = _HINT.match(follow)
        if hint:
            failure = NixFailure(failure.message, failure.path, failure.line, failure.column,
                                 hint["hint"])
    return failure


def _traced(after: Sequence[str], step: str | None, src_dir: str) -> NixFailure | None:
    """Newer Nix (2.13 on): a bare "error:", then indented "… while …" frames of a trace,
    then the message on its own indented "error: …" line, its position and suggestion
    after it. Without a position in the context there, the last frame that has one."""
    block: list[str] = []
    for line_step, text in map(_step_and_text, after):
        if line_step != step:
            continue
        if text and not text[0].isspace():
            break
        block.append(text)
    messages = [(i, found["message"]) for i, text in enumerate(block)
                if (found := _INNER_ERROR.match(text))]
    if not messages:
        return None
    start, message = messages[-1]
    failure = _placed(NixFailure(message), block[start + 1:start + 16], src_dir)
    frames = [at for text in block[:start] if (at := _AT.match(text))]
    if failure.path is None and frames:
        failure = NixFailure(failure.message, frames[-1]["path"][len(src_dir) + 1:],
                             int(frames[-1]["line"]), int(frames[-1]["column"]), failure.hint)
    return failure


@dataclass(frozen=True, slots=True)
class BuildFailure:
    """A derivation Nix built and whose builder failed: the package, not the Nixfile."""

    drv: str
    name: str
    reason: str
    log: tuple[str, ...]
    step: str | None = None  # BuildKit's step (#N) whose output holds the whole log
    hashes: tuple[str, ...] = ()  # of a hash mismatch: Nix's "specified: …" and "got: …"
    clipped: bool = False  # BuildKit left out part of the step's output (its log limits)


def build_failure(log: Sequence[str]) -> BuildFailure | None:
    """The first package whose builder failed in ``log``, with its log's last lines: those
    Nix quotes after its message ("> …"), or else those it printed as the build ran."""
    steps = [_step_and_text(line) for line in log]
    for index, (step, text) in enumerate(steps):
        mismatch = _HASH_MISMATCH.match(text)
        if mismatch is not None:
            hashes = tuple(follow.strip() for follow_step, follow in steps[index + 1:index + 3]
                           if follow_step == step and follow.strip().startswith(("specified:",
                                                                                  "got:")))
            printed = _printed(steps[:index], step, mismatch["drv"])
            return BuildFailure(mismatch["drv"], mismatch["name"], _MISMATCH_REASON,
                                tuple(printed[-SHOWN_LINES:]), step, hashes,
                                _clipped(steps, step))
        found = _BUILDER_FAILED.match(text) or _CANNOT_BUILD.match(text)
        if found is None:
            continue
        reason = found.groupdict().get("reason")
        quoted: list[str] = []
        for follow_step, follow in steps[index + 1:]:
            if follow_step != step:
                continue
            if (tail := _TAIL_LINE.match(follow)) is not None:
                quoted.append(tail["text"])
            elif reason is None and (given := _REASON.match(follow)) is not None:
                reason = given["reason"]
            elif not follow.startswith((" ", "\t")) or follow.strip().startswith("error:"):
                break
        lines = quoted or _printed(steps[:index], step, found["drv"])
        return BuildFailure(found["drv"], found["name"], reason or "failed",
                            tuple(lines[-SHOWN_LINES:]), step, clipped=_clipped(steps, step))
    return None


def _clipped(steps: Sequence[tuple[str | None, str]], step: str | None) -> bool:
    """BuildKit's "[output clipped, log limit 2MiB reached]" (or "200KiB/s"), in the step."""
    return any(line_step == step and text.startswith("[output clipped")
               for line_step, text in steps)


def _step_and_text(line: str) -> tuple[str | None, str]:
    line = _ANSI.sub("", line)
    found = _STEP_LINE.match(line)
    if found:
        return found["step"], found["text"]
    # A line of BuildKit's own about a step is no line of a build; podman's are all output.
    if _STEP_OWN.match(line):
        return None, ""
    seconds = _SECONDS.match(line)
    return None, seconds["text"] if seconds else line


def _printed(before: Sequence[tuple[str | None, str]], step: str | None, drv: str) -> list[str]:
    """What the step printed since Nix said it was building ``drv`` (Nix 2.8 and others
    that print a build's output as it runs, unquoted)."""
    lines = [text for line_step, text in before if line_step == step]
    starts = [i for i, text in enumerate(lines)
              if (building := _BUILDING.match(text)) and building["drv"] == drv]
    return lines[starts[-1] + 1:] if starts else lines


_STEP_ERROR = re.compile(r"^#(?P<step>\d+) ERROR")
SHOWN_STEP_LINES = 5  # of a failed step's output, the last ones: what it said when it stopped


def failed_step(log: Sequence[str]) -> tuple[str, tuple[str, ...]] | None:
    """The step BuildKit's plain output says failed ("#N ERROR: …") and the last lines it
    printed, for a failure nixdf cannot place: what explains it, without the whole step."""
    steps = [found["step"] for line in log if (found := _STEP_ERROR.match(_ANSI.sub("", line)))]
    if not steps:
        return None
    printed = [text for step, text in map(_step_and_text, log) if step == steps[-1]]
    shown = [text for text in printed if text.strip()]
    return steps[-1], tuple(shown[-SHOWN_STEP_LINES:])


@dataclass(frozen=True, slots=True)
class NotAPackage:
    """An item of an image's contents that Nix found is no derivation."""

    attr: str | None  # the image's attribute path; None for the Nixfile's own image
    key: tuple[str, ...]  # ("copyToRoot",), or through nix2container layers ("layers", "0", "deps")
    item: int | None  # 1-based, when the contents are a list
    kind: str  # Nix's kind of value: "a set", "a string", …


def not_a_package(log: Sequence[str]) -> NotAPackage | None:
    """The first such item in ``log``, wherever a Nix version puts its error message."""
    for line in log:
        found = _NOT_A_PACKAGE.search(line)
        if found:
            return NotAPackage(found["attr"] or None, tuple(found["key"].split(".")),
                               int(found["item"]) if found["item"] else None, found["kind"])
    return None

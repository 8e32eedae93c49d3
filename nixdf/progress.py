"""What of BuildKit's output a person sees: its progress, without the commands it echoes.

BuildKit repeats a failing step's command in full several times (its header, its
ERROR line, the error summary, the final "failed to solve"), and Docker 23+ adds the
Dockerfile's lines around it. nixdf's steps are kilobytes of shell and Nix, so a typo
printed pages of them and the error that matters scrolled away. Those lines are cut
here to their start, keeping the step numbers (#9) that nixdf's hints refer to. Step
output (a package's build log, Nix's messages) is never cut. The whole output is
still what nixdf reads for errors, and `--progress plain` shows it as BuildKit wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

# An echoed command is cut here: its step header stays recognisable, the line under 120.
ECHO_WIDTH = 96
_MARK = len(" … [9999 more characters]")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# BuildKit's lines that carry a step's command, on 20.10 and 26, in plain and tty
# output; podman's STEP lines.
_ECHO = re.compile(
    r"^(?:#\d+ \[[^\]]*\] "  # "#9 [app-build 3/3] RUN …"
    r"|\s?> \[[^\]]*\] "  # " > [app-build 3/3] RUN …" (the error summary)
    r"|#\d+ ERROR: "  # "#9 ERROR: executor failed running […]"
    r"|(?:ERROR: |error: )?(?:failed to solve|executor failed running|process \")"
    r"|(?:\[\d+/\d+\] )?STEP \d+/\d+: "  # podman
    r"|Error: building at STEP )")
# Docker 23+ quotes the Dockerfile around the failing instruction between rulers.
_DOCKERFILE_AT = re.compile(r"^Dockerfile:\d+$")
_RULER = "-" * 20
# The error summary's frame; plain output holds the lines inside it just above already.
_FRAME = "------"
_STEP_OUTPUT = re.compile(r"^(?:#\d+ )?\d+\.\d+ ")


def shorten(line: str, width: int = ECHO_WIDTH) -> str:
    """``line`` (no newline) as shown: an echoed command longer than ``width`` is cut."""
    text = ANSI.sub("", line)
    # The mark says how much was cut; a line it would not shorten stays whole.
    if len(text) <= width + _MARK or not _ECHO.match(text):
        return line
    return f"{text[:width]} … [{len(text) - width} more characters]"


@dataclass(slots=True)
class Shown:
    """Feeds BuildKit's lines through, one at a time, and yields what to show of each.

    ``repeats_shown``: the step output inside the error summary was already shown as the
    step ran (plain output); a terminal's live display shows only a window of it, so
    there the summary keeps it.
    """

    repeats_shown: bool = True
    width: int = ECHO_WIDTH
    _in_dockerfile: bool = False
    _dockerfile_lines: int = 0
    _in_frame: bool = False
    _left_out: int = 0
    _held: list[str] = field(default_factory=list)

    def feed(self, line: str) -> Iterator[str]:
        text = ANSI.sub("", line).rstrip("\r")
        if self._in_dockerfile:
            yield from self._dockerfile(text)
            return
        if _DOCKERFILE_AT.match(text):
            self._in_dockerfile = True
            self._held = [line]
            return
        if text == _FRAME:
            yield from self._frame(line)
            return
        if self._in_frame and self.repeats_shown and _STEP_OUTPUT.match(text):
            self._left_out += 1
            return
        yield shorten(line, self.width)

    def _frame(self, line: str) -> Iterator[str]:
        if self._in_frame and self._left_out:
            count = self._left_out
            yield f" ({count} line{'s' if count > 1 else ''} of the step's output, shown above)"
        self._in_frame = not self._in_frame
        self._left_out = 0
        yield line

    def _dockerfile(self, text: str) -> Iterator[str]:
        """Hold "Dockerfile:N", its rulers and lines; show one line that says where."""
        if len(self._held) == 1 and text != _RULER:  # no quote after all: show both
            self._in_dockerfile = False
            yield from self.close()
            yield shorten(text, self.width)
            return
        if text == _RULER and len(self._held) > 1:
            self._in_dockerfile = False
            at = ANSI.sub("", self._held[0]).strip()
            yield (f"{at}: the failing instruction ({self._dockerfile_lines} lines; "
                   "`nixdf render` prints the Dockerfile)")
            self._held = []
            self._dockerfile_lines = 0
            return
        self._held.append(text)
        if text != _RULER:
            self._dockerfile_lines += 1

    def close(self) -> Iterator[str]:
        """What is still held when the output ends (a Dockerfile quote cut short)."""
        for line in self._held:
            yield shorten(line, self.width)
        self._held = []

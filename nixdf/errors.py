"""Locations and the one family of errors a user can cause.

Every stage raises a :class:`NixdfError` (or a subclass) carrying a :class:`Span`;
the source text is attached late, at the API boundary, the way jinja2 attaches it
to ``TemplateSyntaxError``, so one ``__str__`` can print the offending line and a
caret under it.
"""

from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """A region of a file: 1-based line and column, end exclusive.

    A named tuple rather than a frozen dataclass: the parser makes one per
    syntax node, and a tuple is made three times faster.
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class NixdfError(Exception):
    """A failure the user can fix: bad input, bad usage, or a failing engine."""

    exit_code = 2

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.source: str | None = None

    def with_source(self, source: str) -> NixdfError:
        if self.source is None:
            self.source = source
        return self

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        lines = [f"{where}error: {self.message}"]
        if self.span and self.source is not None:
            lines.extend(_excerpt(self.source, self.span))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


_WIDTH = 100  # longest excerpt shown; a minified line is cut around the column


def _excerpt(source: str, span: Span) -> list[str]:
    text_lines = source.splitlines()
    if not 1 <= span.line <= len(text_lines):
        return []
    line = text_lines[span.line - 1].expandtabs(1)
    start = span.column - 1
    end = span.end_column - 1 if span.end_line == span.line else len(line)
    width = max(1, end - start)
    if len(line) > _WIDTH:
        left = max(0, start - _WIDTH // 3)
        shown = line[left:left + _WIDTH]
        prefix = "…" if left else ""
        suffix = "…" if left + _WIDTH < len(line) else ""
        line = prefix + shown + suffix
        start = start - left + len(prefix)
        width = min(width, _WIDTH - (start - len(prefix)))
    return [f"    {line}", "    " + " " * start + "^" * max(1, width)]


class NixSyntaxError(NixdfError):
    """The Nixfile is not valid Nix."""

    @property
    def filename(self) -> str:
        return self.span.file if self.span else "<string>"

    @property
    def line(self) -> int:
        return self.span.line if self.span else 0

    @property
    def column(self) -> int:
        return self.span.column if self.span else 0


class EvalError(NixdfError):
    """A value nixdf must know statically is not static, or is ill-typed."""


class NeedsLockError(EvalError):
    """A value that becomes Dockerfile text is one only Nix knows: the lock file can say it.

    ``lock_state`` says why none did: the lock is "missing", or "stale" (made for other input).
    """

    lock_state = "missing"


class SpecError(NixdfError):
    """A ``buildImage`` argument or config key is unknown or has the wrong shape."""


class UsageError(NixdfError):
    """The command line asks for something that cannot be done."""


class EngineError(NixdfError):
    """The container engine is missing or a build it ran failed; ``log`` ends its output."""

    exit_code = 3

    def __init__(self, message: str, log: tuple[str, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.log = log


class PackageBuildError(EngineError):
    """Nix evaluated the Nixfile, but a package's own build failed: no place in the Nixfile
    is wrong, so the error names the package and ends with its log."""


class NixEvalError(NixdfError):
    """Nix, evaluating the Nixfile in the builder, found it wrong."""

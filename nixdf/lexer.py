"""Nix's lexer: source text to tokens, with a stack of modes like Nix's flex lexer.

Lexing cannot be context free in Nix: ``}`` either closes an attribute set or
ends a ``${...}`` inside a string, a path or an indented string, so the lexer
keeps a stack of modes. A token is a plain tuple, ``(type, value, span,
start, end)``: tuples are what keeps lexing fast enough for files of any
size. Type names are the terminals of ``grammar/nix.lark``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .errors import NixSyntaxError, Span

__all__ = ["Source", "Token", "error", "line_col", "tokens"]

Token = tuple[str, str, Span, int, int]

_PATH_CHAR = r"[a-zA-Z0-9._\-+]"

# Order matters: Python's alternation takes the first branch that matches
# while flex takes the longest match; this order makes the two agree (a URI or
# a path always out-runs the identifier or number it starts with, `...` the
# `.`). Operators are named by their terminal so that the match says the type.
_PATH_PATTERNS = [
    r"(?P<URI>[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+)",
    rf"(?P<PATH_INTERP>(?:{_PATH_CHAR}*/|~/)(?=\$\{{))",
    rf"(?P<PATH>(?:{_PATH_CHAR}*|~)(?:/{_PATH_CHAR}+)+/?)",
]
_OPERATOR_PATTERNS = {
    "ELLIPSIS": r"\.\.\.", "EQ": "==", "NEQ": "!=", "LEQ": "<=", "GEQ": ">=", "AND": "&&",
    "OR": r"\|\|", "IMPL": "->", "UPDATE": "//", "CONCAT": r"\+\+", "PIPE_INTO": r"\|>",
    "PIPE_FROM": r"<\|", "INTERP_OPEN": r"\$\{", "MINUS": "-", "PLUS": r"\+", "STAR": r"\*",
    "SLASH": "/", "LT": "<", "GT": ">", "NOT": "!", "QUESTION": r"\?", "_COLON": ":", "_AT": "@",
    "_SEMI": ";", "_DOT": r"\.", "_COMMA": ",", "_ASSIGN": "=", "_LPAREN": r"\(",
    "_RPAREN": r"\)", "_LBRACE": r"\{", "_RBRACE": r"\}", "_LBRACK": r"\[", "_RBRACK": r"\]",
    "STRING_OPEN": '"',
}
_PLAIN_PATTERNS = [
    rf"(?P<SPATH><{_PATH_CHAR}+(?:/{_PATH_CHAR}+)*>)",
    r"(?P<FLOAT>(?:[1-9][0-9]*\.[0-9]*|0?\.[0-9]+)(?:[Ee][+-]?[0-9]+)?)",
    r"(?P<INT>[0-9]+)",
    r"(?P<ID>[a-zA-Z_][a-zA-Z0-9_'\-]*)",
    r"(?P<IND_STRING_OPEN>''(?: *\n)?)",
    *(f"(?P<{name}>{pattern})" for name, pattern in _OPERATOR_PATTERNS.items()),
]
# Whitespace and comments before a token are skipped in the same match. The
# group is atomic so that a token that fails to match after them never makes
# the engine try other ways of splitting them (which would be exponential).
_SKIP = r"(?>(?:[ \t\r\n]+|\#[^\r\n]*|/\*(?:[^*]|\*(?!/))*\*/)*)"
_SKIP_RE = re.compile(_SKIP)
_NORMAL_RE = re.compile(_SKIP + "(?:" + "|".join(_PATH_PATTERNS + _PLAIN_PATTERNS) + ")")
# URIs and paths can only start a run of path characters that ends in `:` or
# `/` (or at a `~`). Elsewhere the cheaper pattern avoids rescanning a long run
# at every token in it, which would make lexing quadratic.
_PLAIN_RE = re.compile(_SKIP + "(?:" + "|".join(_PLAIN_PATTERNS) + ")")
_RUN_RE = re.compile(f"{_PATH_CHAR}*")
_RUN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+"
_RUN_START = frozenset(_RUN_CHARS + "/")
# What may follow a token for it to be the start of a path or a URI instead
# (`$`: the `/` of `/${x}` is a whole token).
_RUN_FOLLOW = frozenset(_RUN_CHARS + "/:$")
# Types that need more than a yield: mode changes and checks.
_SPECIAL = frozenset({
    "_LBRACE", "INTERP_OPEN", "_RBRACE", "STRING_OPEN", "SLASH", "PATH", "PATH_INTERP",
    "IND_STRING_OPEN", "INT", "FLOAT",
})

_STR_RE = re.compile(r"""(?:[^$"\\]|\$[^{"\\]|\\[\s\S]|\$\\[\s\S])*(?:\$(?="))?""")
_IND_RE = re.compile(r"(?:[^$']|\$[^{']|'[^'$])+")
_PATH_MORE_RE = re.compile(rf"{_PATH_CHAR}*(?:/{_PATH_CHAR}+)+/?|{_PATH_CHAR}*/|{_PATH_CHAR}+")
_ESCAPE_RE = re.compile(r"\\([\s\S])|\r\n?")

_KEYWORDS = {
    "if": "_IF", "then": "_THEN", "else": "_ELSE", "assert": "_ASSERT", "with": "_WITH",
    "let": "_LET", "in": "_IN", "rec": "_REC", "inherit": "_INHERIT", "or": "OR_KW",
}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}

# Lexer modes, kept on a stack; NORMAL is also pushed for `{` so that the
# matching `}` knows which mode to return to.
_NORMAL, _STRING, _IND, _PATH, _PATH_SLASH = range(5)

_MAX_INT = 2**63 - 1


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    if char is None:  # a raw CR or CR LF: Nix normalises both to LF
        return "\n"
    return _ESCAPES.get(char, char)


class Source:
    """The text of one parse, plus what the lexer learnt that error messages need."""

    __slots__ = ("text", "filename", "open_stack")

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        # (what opened, line, column) of every `{`, `${`, string still open
        self.open_stack: list[tuple[str, int, int]] = []


def error(source: Source, message: str, pos: int, end: int, hint: str | None = None
           ) -> NixSyntaxError:
    line, column = line_col(source.text, pos)
    end_line, end_column = line_col(source.text, end)
    span = Span(source.filename, line, column, end_line, end_column)
    return NixSyntaxError(message, span, hint)


def line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def tokens(source: Source) -> Iterator[Token]:
    text = source.text
    filename = source.filename
    span = tuple.__new__  # Span(...) without the Python-level __new__ of a named tuple
    opened = source.open_stack
    size = len(text)
    modes = [_NORMAL]
    pos = 0
    line = 1
    line_start = 0  # index of the first character of the current line
    normal_match = _NORMAL_RE.match
    plain_match = _PLAIN_RE.match
    run_match = _RUN_RE.match
    skip_match = _SKIP_RE.match
    run_start = _RUN_START
    run_follow = _RUN_FOLLOW
    special = _SPECIAL
    str_match = _STR_RE.match
    run_end = -1  # where the run of path characters around `pos` ends
    keywords = _KEYWORDS

    while True:
        mode = modes[-1]
        if mode == _NORMAL:
            m = plain_match(text, pos)
            if m is None:  # `~/a` has no plain token; or the end, or a stray character
                m = normal_match(text, pos)
                if m is None:
                    pos = skip_match(text, pos).end()  # type: ignore[union-attr]
                    if pos >= size:
                        return
                    raise error(source, f"unexpected character {text[pos]!r}", pos, pos + 1)
                kind = m.lastgroup
                start = m.start(kind)
            else:
                kind = m.lastgroup
                start = m.start(kind)
                # Might it start a path or a URI instead? Only if the run of
                # path characters it begins goes on to a `/` or `:`.
                after = m.end()
                if (start >= run_end and text[start] in run_start
                        and text[after:after + 1] in run_follow):
                    run_end = run_match(text, start).end()  # type: ignore[union-attr]
                    if text.startswith(("/", ":"), run_end):
                        m = normal_match(text, pos)
                        kind = m.lastgroup  # type: ignore[union-attr]
                        start = m.start(kind)  # type: ignore[union-attr]
            if start > pos:  # skipped whitespace and comments
                newlines = text.count("\n", pos, start)
                if newlines:
                    line += newlines
                    line_start = text.rfind("\n", pos, start) + 1
                pos = start
            end = m.end()  # type: ignore[union-attr]
            value = text[pos:end]
            column = pos - line_start + 1
            if kind == "ID":
                kind = keywords.get(value, "ID")
            elif kind in special:
                if kind == "_LBRACE" or kind == "INTERP_OPEN":
                    modes.append(_NORMAL)
                    opened.append((value, line, column))
                elif kind == "_RBRACE":
                    if len(modes) > 1:
                        modes.pop()
                        opened.pop()
                elif kind == "STRING_OPEN":
                    # Most strings interpolate nothing: one STRING token then,
                    # rather than an opening quote, the text and a closing quote.
                    close = str_match(text, end).end()  # type: ignore[union-attr]
                    if text.startswith('"', close):
                        raw = text[end:close]
                        value = _ESCAPE_RE.sub(_unescape, raw) if (
                            "\\" in raw or "\r" in raw) else raw
                        token, line, line_start = _spanning(
                            "STRING", value, text, pos, close + 1, line, column, line_start,
                            filename)
                        yield token
                        pos = close + 1
                        continue
                    modes.append(_STRING)
                    opened.append(('"', line, column))
                elif kind == "SLASH":
                    if text.startswith("/*", pos):
                        raise error(source, "unterminated comment", pos, pos + 2,
                                    "add '*/' to close the comment")
                elif kind == "PATH":
                    kind = "PATH_START"
                    modes.append(_PATH_SLASH if value[-1] == "/" else _PATH)
                elif kind == "PATH_INTERP":
                    kind = "PATH_START"
                    modes.append(_PATH_SLASH)
                elif kind == "IND_STRING_OPEN":
                    modes.append(_IND)
                    opened.append(("''", line, column))
                    if value[-1] == "\n":
                        yield (kind, value, span(Span, (filename, line, column, line + 1, 1)),
                               pos, end)
                        line += 1
                        line_start = end
                        pos = end
                        continue
                elif kind == "INT":
                    if int(value) > _MAX_INT:
                        raise error(source, f"invalid integer '{value}'", pos, end,
                                    "Nix integers are 64-bit")
                elif float(value) == float("inf"):
                    raise error(source, f"invalid float '{value}'", pos, end)
            yield (kind, value,
                   span(Span, (filename, line, column, line, column + end - pos)), pos, end)
            pos = end
            continue

        column = pos - line_start + 1
        # Strings and paths open an interpolation the same way; after one, a
        # path may end or go on, even with a trailing slash before it.
        if text.startswith("${", pos):
            if mode == _PATH_SLASH:
                modes[-1] = _PATH
            modes.append(_NORMAL)
            opened.append(("${", line, column))
            yield ("INTERP_OPEN", "${",
                   span(Span, (filename, line, column, line, column + 2)), pos, pos + 2)
            pos += 2
            continue
        if mode == _STRING:
            if pos >= size:
                raise _unterminated(source, "string")
            char = text[pos]
            if char == '"':
                modes.pop()
                opened.pop()
                yield ("STRING_CLOSE", char,
                       span(Span, (filename, line, column, line, column + 1)), pos, pos + 1)
                pos += 1
                continue
            end = _STR_RE.match(text, pos).end()  # type: ignore[union-attr]
            if end == pos:  # a lone `$` or `\` at the end of the input
                raise _unterminated(source, "string")
            raw = text[pos:end]
            value = _ESCAPE_RE.sub(_unescape, raw) if ("\\" in raw or "\r" in raw) else raw
            token, line, line_start = _spanning("STR_PART", value, text, pos, end, line, column,
                                                line_start, filename)
            yield token
            pos = end
            continue

        if mode == _IND:
            if pos >= size:
                raise _unterminated(source, "indented string")
            if text.startswith("''", pos):
                third = text[pos + 2:pos + 3]
                if third == "$" or third == "'":
                    value = "$" if third == "$" else "''"
                    yield ("IND_STR_ESCAPE", value,
                           span(Span, (filename, line, column, line, column + 3)), pos, pos + 3)
                    pos += 3
                    continue
                if third == "\\" and pos + 3 < size:
                    escaped = text[pos + 3]
                    value = _ESCAPES.get(escaped, escaped)
                    start_line = line
                    if escaped == "\n":
                        line += 1
                        line_start = pos + 4
                    yield ("IND_STR_ESCAPE", value,
                           span(Span, (filename, start_line, column, line,
                                       pos + 4 - line_start + 1)), pos, pos + 4)
                    pos += 4
                    continue
                modes.pop()
                opened.pop()
                yield ("IND_STRING_CLOSE", "''",
                       span(Span, (filename, line, column, line, column + 2)), pos, pos + 2)
                pos += 2
                continue
            m = _IND_RE.match(text, pos)
            if m is None:  # a `$` or `'` that the main pattern cannot take
                yield ("IND_STR_ESCAPE", text[pos],
                       span(Span, (filename, line, column, line, column + 1)), pos, pos + 1)
                pos += 1
                continue
            end = m.end()
            value = m.group()
            token, line, line_start = _spanning("IND_STR_PART", value, text, pos, end, line,
                                                column, line_start, filename)
            yield token
            pos = end
            continue

        # Inside a path, right after a segment or an interpolation.
        m = _PATH_MORE_RE.match(text, pos)
        if m is not None:
            end = m.end()
            value = m.group()
            modes[-1] = _PATH_SLASH if value[-1] == "/" else _PATH
            yield ("PATH_STR", value,
                   span(Span, (filename, line, column, line, column + end - pos)), pos, end)
            pos = end
            continue
        if mode == _PATH_SLASH:
            raise error(source, "path has a trailing slash", max(pos - 1, 0), pos,
                         "remove the '/' at the end of the path")
        modes.pop()
        yield ("PATH_END", "", span(Span, (filename, line, column, line, column)), pos, pos)


def _spanning(kind: str, value: str, text: str, pos: int, end: int, line: int, column: int,
              line_start: int, filename: str) -> tuple[Token, int, int]:
    """A token for text[pos:end], which may span lines; returns the line state after it."""
    newlines = text.count("\n", pos, end)
    end_line = line + newlines
    if newlines:
        line_start = text.rfind("\n", pos, end) + 1
    token = (kind, value, tuple.__new__(Span, (filename, line, column, end_line,
                                               end - line_start + 1)), pos, end)
    return token, end_line, line_start


def _unterminated(source: Source, what: str) -> NixSyntaxError:
    # Point at where it opened: the end of the file is rarely where the mistake is.
    opener, line, column = source.open_stack[-1]
    span = Span(source.filename, line, column, line, column + len(opener))
    closer = "''" if what == "indented string" else opener
    return NixSyntaxError(f"unterminated {what}: it runs to the end of the file", span,
                          f"close it with {closer}")

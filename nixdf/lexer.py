"""Nix's lexer: source text to tokens, with a stack of modes like Nix's flex lexer.

Lexing cannot be context free in Nix: ``}`` either closes an attribute set or
ends a ``${...}`` inside a string, a path or an indented string, so the lexer
keeps a stack of modes. Type names are the terminals of ``grammar/nix.lark``.

A token is a plain tuple, ``(type, line, column, end_line, end_column, value,
start, end)``: one allocation per token is what keeps lexing fast enough for
files of any size. Items 1 to 4 are where :class:`~nixdf.errors.Span` keeps
them, so the parser can take a token for a span without making one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Protocol

from .errors import NixSyntaxError, Span

__all__ = ["Source", "Token", "error", "line_col", "tokens"]

Token = tuple[str, int, int, int, int, str, int, int]

_PATH_CHAR = r"[a-zA-Z0-9._\-+]"
# The text of a string up to its closing quote or its first `${`, as Nix's flex rules say:
# `([^$"\\]|\$[^{"\\]|\\.|\$\\.)*`, with `$"` at the end. Written as flex's
# alternation, it made the regex engine try four branches at every character,
# an eighth of all lexing; unrolled into runs of plain text between the
# two-character pieces, and possessive (the pieces never overlap), it matches
# the same text two to four times faster.
_STR = (r"""[^$"\\]*+(?:(?:\$[^{"\\]|\\[\s\S]|\$\\[\s\S])[^$"\\]*+)*+"""
        r"""(?:\$(?="))?""")

# Whitespace before a token; possessive, so a token that fails to match after
# it never makes the engine try giving some of it back.
_SPACE = r"[ \t\r\n]*+"
# A token, after whitespace. Python's alternation takes the first branch that
# matches while flex takes the longest match; this order makes the two agree
# (`...` before `.`, a float before `.`, `<nixpkgs>` before `<`, a comment
# before `/`). Within that freedom the most frequent tokens come first, as the
# engine tries the branches one by one. A comment is a token too, which the
# lexer drops: skipping comments along with whitespace made every match
# dearer. A whole string without interpolation, the usual string, is one
# STRING token.
_TOKEN_RE = re.compile(_SPACE + "(?:" + "|".join([
    r"(?P<ID>[a-zA-Z_][a-zA-Z0-9_'\-]*+)",
    # never the start of a longer token, nor of a path
    r"(?P<SYMBOL>[;{}()\[\]:,@?]|=(?!=))",
    # `.`, unless it starts `...` or a float; it may still start a path
    r"(?P<DOT>\.(?![.0-9]))",
    rf'(?P<STRING>"{_STR}")',
    r"(?P<COMMENT>\#[^\r\n]*|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/)",
    r"(?P<FLOAT>(?:[1-9][0-9]*\.[0-9]*|0?\.[0-9]+)(?:[Ee][+-]?[0-9]+)?)",
    r"(?P<INT>[0-9]+)",
    rf"(?P<SPATH><{_PATH_CHAR}+(?:/{_PATH_CHAR}+)*>)",
    r"(?P<IND_STRING_OPEN>''(?: *\n)?)",
    r'(?P<OPERATOR>\.\.\.|==|!=|<=|>=|&&|\|\||->|//|\+\+|\|>|<\||\$\{|[=.!<>+\-*/"])',
]) + ")")
# The numbers of its groups, which the lexer tells apart by number.
_ID_GROUP, _SYMBOL_GROUP, _DOT_GROUP, _STRING_GROUP, _COMMENT_GROUP = (
    _TOKEN_RE.groupindex[name] for name in ("ID", "SYMBOL", "DOT", "STRING", "COMMENT"))
_KINDS = {index: name for name, index in _TOKEN_RE.groupindex.items()} | {_DOT_GROUP: "_DOT"}
_SYMBOLS = {
    ";": "_SEMI", "{": "_LBRACE", "}": "_RBRACE", "(": "_LPAREN", ")": "_RPAREN",
    "[": "_LBRACK", "]": "_RBRACK", ":": "_COLON", ",": "_COMMA", "@": "_AT", "?": "QUESTION",
    "...": "ELLIPSIS", "==": "EQ", "!=": "NEQ", "<=": "LEQ", ">=": "GEQ", "&&": "AND",
    "||": "OR", "->": "IMPL", "//": "UPDATE", "++": "CONCAT", "|>": "PIPE_INTO",
    "<|": "PIPE_FROM", "${": "INTERP_OPEN", "=": "_ASSIGN", ".": "_DOT", "!": "NOT",
    "<": "LT", ">": "GT", "+": "PLUS", "-": "MINUS", "*": "STAR", "/": "SLASH",
    '"': "STRING_OPEN",
}
# What only a URI or a path can start with: `~/`, or a run of path characters
# that goes on to a `:` or a `/`. The token patterns above never match these, so
# this one is only tried where a run ends that way, or where none of them match.
_PATH_RE = re.compile(_SPACE + "(?:" + "|".join([
    r"(?P<URI>[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+)",
    rf"(?P<PATH_INTERP>(?:{_PATH_CHAR}*/|~/)(?=\$\{{))",
    rf"(?P<PATH>(?:{_PATH_CHAR}*|~)(?:/{_PATH_CHAR}+)+/?)",
]) + ")")
_SPACE_RE = re.compile(_SPACE)


class _TokenMatch(Protocol):
    """A match of ``_TOKEN_RE``: every alternative is a group, so one always matched."""

    lastindex: int

    def span(self, group: int) -> tuple[int, int]: ...


class _Scanner(Protocol):
    """What ``Pattern.scanner`` returns: CPython's, undocumented and missing from typeshed."""

    def match(self) -> _TokenMatch | None: ...


_token_scanner: Callable[[str, int], _Scanner] = _TOKEN_RE.scanner  # type: ignore[attr-defined]
_RUN_RE = re.compile(f"{_PATH_CHAR}*")
_RUN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+"
_RUN_START = frozenset(_RUN_CHARS + "/")
# What may follow a token for it to be the start of a path or a URI instead
# (`$`: the `/` of `/${x}` is a whole token).
_RUN_FOLLOW = frozenset(_RUN_CHARS + "/:$")

_STR_RE = re.compile(_STR)
# Indented-string text, flex's `([^$']|\$[^{']|'[^'$])+` unrolled like _STR (it may
# match nothing: the caller checks).
_IND_RE = re.compile(r"[^$']*+(?:(?:\$[^{']|'[^'$])[^$']*+)*+")
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
    """The tokens of ``source``, then ``$END`` where the text ends."""
    text = source.text
    opened = source.open_stack
    size = len(text)
    modes = [_NORMAL]
    pos = 0
    # The line, where it starts, and where its newline is: a token that starts
    # past that newline moves them on. Most lines hold several tokens, and for
    # each of them one comparison is all that lines cost. ends[n] is where
    # line n ends (-1 for line 0, the length of the text for the last line):
    # made at C speed, it spares a search for the next newline on every line.
    ends = list(accumulate(map((1).__add__, map(len, text.split("\n"))), initial=-1))
    line = 1
    line_start = 0
    next_nl = ends[1]
    path_match = _PATH_RE.match
    run_match = _RUN_RE.match
    run_start = _RUN_START
    run_follow = _RUN_FOLLOW
    symbols = _SYMBOLS
    keywords = _KEYWORDS
    kinds = _KINDS
    run_end = -1  # where the run of path characters around `pos` ends

    while True:
        mode = modes[-1]
        if mode == _NORMAL:
            # A scanner matches where its last match ended, a good deal
            # cheaper than a match at a given position; a token that changes
            # the mode or is replaced by a path leaves the loop for a new one.
            end = pos  # where the last token ends: where the loop leaves off
            for m in iter(_token_scanner(text, pos).match, None):
                group = m.lastindex
                start, end = m.span(group)
                if start > next_nl:
                    line += 1
                    while start > ends[line]:
                        line += 1
                    line_start = ends[line - 1] + 1
                    next_nl = ends[line]
                column = start - line_start + 1
                if group == _ID_GROUP and (end == size or start < run_end
                                           or text[end] not in run_follow):
                    # The usual identifier, which cannot be the start of a path.
                    value = text[start:end]
                    yield (keywords.get(value, "ID"), line, column, line, column + end - start,
                           value, start, end)
                    continue
                if group == _SYMBOL_GROUP:
                    value = text[start]
                    kind = symbols[value]
                    if kind == "_LBRACE":
                        modes.append(_NORMAL)
                        opened.append((value, line, column))
                    elif kind == "_RBRACE" and len(modes) > 1:
                        modes.pop()
                        opened.pop()
                        if modes[-1] != _NORMAL:  # the end of an interpolation
                            yield (kind, line, column, line, column + 1, value, start, end)
                            break
                    yield (kind, line, column, line, column + 1, value, start, end)
                    continue
                if group == _DOT_GROUP and (start < run_end
                                            or text[end:end + 1] not in run_follow):
                    # The `.` of a selection, which cannot be the start of a path.
                    yield ("_DOT", line, column, line, column + 1, ".", start, end)
                    continue
                if group == _STRING_GROUP:
                    raw = text[start + 1:end - 1]
                    if "\\" in raw or "\r" in raw:
                        raw = _ESCAPE_RE.sub(_unescape, raw)
                    yield _spanning("STRING", raw, start, end, line, column, ends)
                    continue
                if group == _COMMENT_GROUP:
                    continue  # the next token's start moves the line past it
                # Might it start a path or a URI instead? Only if the run of path
                # characters it begins goes on to a `/` or `:`.
                if (start >= run_end and text[start] in run_start
                        and text[end:end + 1] in run_follow):
                    run_end = run_match(text, start).end()  # type: ignore[union-attr]
                    if text.startswith(("/", ":"), run_end):
                        path = path_match(text, start)
                        if path is not None:
                            token = _path_token(path, line, column, modes)
                            end = token[7]
                            yield token
                            break
                value = text[start:end]
                if group == _ID_GROUP:
                    yield (keywords.get(value, "ID"), line, column, line, column + end - start,
                           value, start, end)
                    continue
                kind = kinds[group]
                if kind == "OPERATOR":
                    kind = symbols[value]
                    if kind == "INTERP_OPEN":
                        modes.append(_NORMAL)
                        opened.append((value, line, column))
                    elif kind == "STRING_OPEN":
                        modes.append(_STRING)
                        opened.append(('"', line, column))
                        yield (kind, line, column, line, column + 1, value, start, end)
                        break
                    elif kind == "SLASH" and text.startswith("/*", start):
                        raise error(source, "unterminated comment", start, start + 2,
                                    "add '*/' to close the comment")
                elif kind == "IND_STRING_OPEN":
                    modes.append(_IND)
                    opened.append(("''", line, column))
                    yield _spanning(kind, value, start, end, line, column, ends)
                    break
                elif kind == "INT":
                    if int(value) > _MAX_INT:
                        raise error(source, f"invalid integer '{value}'", start, end,
                                    "Nix integers are 64-bit")
                elif kind == "FLOAT" and float(value) == float("inf"):
                    raise error(source, f"invalid float '{value}'", start, end)
                yield (kind, line, column, line, column + end - start, value, start, end)
            else:  # no token here: `~/a` starts none, or the end, or a stray character
                pos = end
                path = path_match(text, pos)
                start = path.start(path.lastindex or 0) if path else (
                    _SPACE_RE.match(text, pos).end())  # type: ignore[union-attr]
                if start > next_nl:
                    line, line_start, next_nl = _advance(ends, line, start)
                column = start - line_start + 1
                if path is not None:
                    token = _path_token(path, line, column, modes)
                    pos = token[7]
                    yield token
                    continue
                if start < size:
                    raise error(source, f"unexpected character {text[start]!r}", start,
                                start + 1)
                yield ("$END", line, column, line, column, "", start, start)
                return
            pos = end
            continue

        if pos > next_nl:
            line, line_start, next_nl = _advance(ends, line, pos)
        column = pos - line_start + 1
        # Strings and paths open an interpolation the same way; after one, a
        # path may end or go on, even with a trailing slash before it.
        if text.startswith("${", pos):
            if mode == _PATH_SLASH:
                modes[-1] = _PATH
            modes.append(_NORMAL)
            opened.append(("${", line, column))
            yield ("INTERP_OPEN", line, column, line, column + 2, "${", pos, pos + 2)
            pos += 2
            continue
        if mode == _STRING:
            if pos >= size:
                raise _unterminated(source, "string")
            char = text[pos]
            if char == '"':
                modes.pop()
                opened.pop()
                yield ("STRING_CLOSE", line, column, line, column + 1, char, pos, pos + 1)
                pos += 1
                continue
            end = _STR_RE.match(text, pos).end()  # type: ignore[union-attr]
            if end == pos:  # a lone `$` or `\` at the end of the input
                raise _unterminated(source, "string")
            raw = text[pos:end]
            value = _ESCAPE_RE.sub(_unescape, raw) if ("\\" in raw or "\r" in raw) else raw
            yield _spanning("STR_PART", value, pos, end, line, column, ends)
            pos = end
            continue

        if mode == _IND:
            if pos >= size:
                raise _unterminated(source, "indented string")
            if text.startswith("''", pos):
                third = text[pos + 2:pos + 3]
                if third == "$" or third == "'":
                    value = "$" if third == "$" else "''"
                    yield ("IND_STR_ESCAPE", line, column, line, column + 3, value, pos, pos + 3)
                    pos += 3
                    continue
                if third == "\\" and pos + 3 < size:
                    escaped = text[pos + 3]
                    value = _ESCAPES.get(escaped, escaped)
                    yield _spanning("IND_STR_ESCAPE", value, pos, pos + 4, line, column, ends)
                    pos += 4
                    continue
                modes.pop()
                opened.pop()
                yield ("IND_STRING_CLOSE", line, column, line, column + 2, "''", pos, pos + 2)
                pos += 2
                continue
            end = _IND_RE.match(text, pos).end()  # type: ignore[union-attr]
            if end == pos:  # a `$` or `'` that the main pattern cannot take
                yield ("IND_STR_ESCAPE", line, column, line, column + 1, text[pos], pos, pos + 1)
                pos += 1
                continue
            yield _spanning("IND_STR_PART", text[pos:end], pos, end, line, column, ends)
            pos = end
            continue

        # Inside a path, right after a segment or an interpolation.
        more = _PATH_MORE_RE.match(text, pos)
        if more is not None:
            end = more.end()
            value = more.group()
            modes[-1] = _PATH_SLASH if value[-1] == "/" else _PATH
            yield ("PATH_STR", line, column, line, column + end - pos, value, pos, end)
            pos = end
            continue
        if mode == _PATH_SLASH:
            raise error(source, "path has a trailing slash", max(pos - 1, 0), pos,
                         "remove the '/' at the end of the path")
        modes.pop()
        yield ("PATH_END", line, column, line, column, "", pos, pos)


def _advance(ends: list[int], line: int, pos: int) -> tuple[int, int, int]:
    """The line at ``pos``, from an earlier one, with where it starts and ends."""
    while pos > ends[line]:
        line += 1
    return line, ends[line - 1] + 1, ends[line]


def _path_token(m: re.Match[str], line: int, column: int, modes: list[int]) -> Token:
    """The token of a match of ``_PATH_RE``; a path also enters the path mode."""
    kind = m.lastgroup
    assert kind is not None, "each alternative of _PATH_RE is a named group"
    start, end = m.span(kind)
    value = m[kind]
    token = ("URI" if kind == "URI" else "PATH_START", line, column, line,
             column + end - start, value, start, end)
    if kind == "PATH_INTERP" or (kind == "PATH" and value[-1] == "/"):
        modes.append(_PATH_SLASH)
    elif kind == "PATH":
        modes.append(_PATH)
    return token


def _spanning(kind: str, value: str, start: int, end: int, line: int, column: int,
              ends: list[int]) -> Token:
    """The token of text[start:end], which may run onto later lines (see tokens)."""
    if end <= ends[line]:
        return (kind, line, column, line, column + end - start, value, start, end)
    end_line = line + 1
    while end > ends[end_line]:
        end_line += 1
    return (kind, line, column, end_line, end - ends[end_line - 1], value, start, end)


def _unterminated(source: Source, what: str) -> NixSyntaxError:
    # Point at where it opened: the end of the file is rarely where the mistake is.
    opener, line, column = source.open_stack[-1]
    span = Span(source.filename, line, column, line, column + len(opener))
    closer = "''" if what == "indented string" else opener
    return NixSyntaxError(f"unterminated {what}: it runs to the end of the file", span,
                          f"close it with {closer}")

"""Parse Nix source text into the AST of :mod:`nixdf.syntax`.

The grammar (``grammar/nix.lark``) is LALR(1) and follows Nix 2.8's parser,
plus the ``|>``/``<|`` pipes of Nix >= 2.24. Lexing cannot be context free in
Nix: ``}`` either closes an attribute set or ends a ``${...}`` inside a string,
a path or an indented string, so :class:`NixLexer` keeps a stack of modes the
way Nix's flex lexer does. The lark tree never leaves this module; a visitor
turns it into :mod:`nixdf.syntax` nodes, each with its span.

Choices the AST contract leaves open:

* ``Str.parts`` merges adjacent literal text and drops empty literals, so
  ``"abc"`` has ``parts == ("abc",)`` and ``""`` has ``parts == ()``.
* ``Path.parts[0]`` is the path as written (``./a``, ``~/a``, ``/a/``...),
  never resolved: resolving needs the file's directory, which is evaluation's
  business.
* As in Nix, ``${"a"}`` (an interpolation of a plain string) is a static key.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer, LexerState

from . import syntax as s
from .errors import NixSyntaxError, Span

__all__ = ["parse"]

_PATH_CHAR = r"[a-zA-Z0-9._\-+]"

# Order matters: Python's alternation takes the first branch that matches
# while flex takes the longest match; this order makes the two agree (a URI or
# a path always out-runs the identifier or number it starts with).
_TOKEN_PATTERNS = [
    r"(?P<WS>[ \t\r\n]+|\#[^\r\n]*|/\*(?:[^*]|\*(?!/))*\*/)",
    r"(?P<URI>[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+)",
    rf"(?P<PATH_INTERP>(?:{_PATH_CHAR}*/|~/)(?=\$\{{))",
    rf"(?P<PATH>(?:{_PATH_CHAR}*|~)(?:/{_PATH_CHAR}+)+/?)",
    rf"(?P<SPATH><{_PATH_CHAR}+(?:/{_PATH_CHAR}+)*>)",
    r"(?P<FLOAT>(?:[1-9][0-9]*\.[0-9]*|0?\.[0-9]+)(?:[Ee][+-]?[0-9]+)?)",
    r"(?P<INT>[0-9]+)",
    r"(?P<ID>[a-zA-Z_][a-zA-Z0-9_'\-]*)",
    r"(?P<IND_OPEN>''(?: *\n)?)",
    r"(?P<OP>\.\.\.|==|!=|<=|>=|&&|\|\||->|//|\+\+|\|>|<\||\$\{|[-+*/<>!?:@;.,=(){}\[\]\"])",
]
_NORMAL_RE = re.compile("|".join(_TOKEN_PATTERNS))
# URIs and paths can only start a run of path characters that ends in `:` or
# `/` (or at a `~`). Elsewhere the cheaper pattern avoids rescanning a long run
# at every token in it, which would make lexing quadratic.
_PLAIN_RE = re.compile("|".join(
    p for p in _TOKEN_PATTERNS if not p.startswith(("(?P<URI>", "(?P<PATH>", "(?P<PATH_INTERP>"))
))
_RUN_RE = re.compile(f"{_PATH_CHAR}*")

_STR_RE = re.compile(r"""(?:[^$"\\]|\$[^{"\\]|\\[\s\S]|\$\\[\s\S])*(?:\$(?="))?""")
_IND_RE = re.compile(r"(?:[^$']|\$[^{']|'[^'$])+")
_PATH_MORE_RE = re.compile(rf"{_PATH_CHAR}*(?:/{_PATH_CHAR}+)+/?|{_PATH_CHAR}*/|{_PATH_CHAR}+")
_ESCAPE_RE = re.compile(r"\\([\s\S])|\r\n?")

_KEYWORDS = {
    "if": "_IF", "then": "_THEN", "else": "_ELSE", "assert": "_ASSERT", "with": "_WITH",
    "let": "_LET", "in": "_IN", "rec": "_REC", "inherit": "_INHERIT", "or": "OR_KW",
}
_OPERATORS = {
    "...": "ELLIPSIS", "==": "EQ", "!=": "NEQ", "<=": "LEQ", ">=": "GEQ", "&&": "AND",
    "||": "OR", "->": "IMPL", "//": "UPDATE", "++": "CONCAT", "|>": "PIPE_INTO",
    "<|": "PIPE_FROM", "${": "INTERP_OPEN", "-": "MINUS", "+": "PLUS", "*": "STAR",
    "/": "SLASH", "<": "LT", ">": "GT", "!": "NOT", "?": "QUESTION", ":": "_COLON",
    "@": "_AT", ";": "_SEMI", ".": "_DOT", ",": "_COMMA", "=": "_ASSIGN", "(": "_LPAREN",
    ")": "_RPAREN", "{": "_LBRACE", "}": "_RBRACE", "[": "_LBRACK", "]": "_RBRACK",
    '"': "STRING_OPEN",
}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}

# Lexer modes, kept on a stack; NORMAL is also pushed for `{` so that the
# matching `}` knows which mode to return to.
_NORMAL, _STRING, _IND, _PATH, _PATH_SLASH = range(5)

_MAX_INT = 2**63 - 1
_RECURSION_LIMIT = 20_000


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    if char is None:  # a raw CR or CR LF: Nix normalises both to LF
        return "\n"
    return _ESCAPES.get(char, char)


class _Source:
    """The text of one parse, plus what the lexer learnt that error messages need."""

    __slots__ = ("text", "filename", "open_stack")

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        # (what opened, line, column) of every `{`, `${`, string still open
        self.open_stack: list[tuple[str, int, int]] = []


class NixLexer(Lexer):
    """Nix's lexer: one regex per mode and a stack of modes, like Nix's flex lexer."""

    # lark's "interface 2": lex() gets the LexerState itself, whose text is our _Source.
    __future_interface__ = 2

    def __init__(self, lexer_conf: Any) -> None:
        pass

    def lex(self, lexer_state: LexerState, parser_state: Any) -> Iterator[Token]:
        source: _Source = lexer_state.text  # type: ignore[assignment]
        return _tokens(source)


def _error(source: _Source, message: str, pos: int, end: int, hint: str | None = None
           ) -> NixSyntaxError:
    line, column = _line_col(source.text, pos)
    end_line, end_column = _line_col(source.text, end)
    span = Span(source.filename, line, column, end_line, end_column)
    return NixSyntaxError(message, span, hint)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _tokens(source: _Source) -> Iterator[Token]:
    text = source.text
    opened = source.open_stack
    size = len(text)
    modes = [_NORMAL]
    pos = 0
    line = 1
    line_start = 0  # index of the first character of the current line
    normal_match = _NORMAL_RE.match
    plain_match = _PLAIN_RE.match
    run_match = _RUN_RE.match
    run_end = -1  # where the run of path characters around `pos` ends
    keywords = _KEYWORDS
    operators = _OPERATORS

    while True:
        mode = modes[-1]
        if mode == _NORMAL:
            if pos >= run_end:
                run_end = run_match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith(("/", ":"), run_end) or text.startswith("~", pos):
                m = normal_match(text, pos)
            else:
                m = plain_match(text, pos)
            if m is None:
                if pos >= size:
                    return
                raise _error(source, f"unexpected character {text[pos]!r}", pos, pos + 1)
            kind = m.lastgroup
            end = m.end()
            value = m.group()
            column = pos - line_start + 1
            if kind == "WS":
                newlines = text.count("\n", pos, end)
                if newlines:
                    line += newlines
                    line_start = text.rfind("\n", pos, end) + 1
                pos = end
                continue
            if kind == "ID":
                kind = keywords.get(value, "ID")
            elif kind == "OP":
                kind = operators[value]
                if kind == "SLASH" and text.startswith("/*", pos):
                    raise _error(source, "unterminated comment", pos, pos + 2,
                                 "add '*/' to close the comment")
                if kind == "_LBRACE" or kind == "INTERP_OPEN":
                    modes.append(_NORMAL)
                    opened.append((value, line, column))
                elif kind == "_RBRACE":
                    if len(modes) > 1:
                        modes.pop()
                        opened.pop()
                elif kind == "STRING_OPEN":
                    modes.append(_STRING)
                    opened.append(('"', line, column))
            elif kind == "PATH":
                kind = "PATH_START"
                modes.append(_PATH_SLASH if value[-1] == "/" else _PATH)
            elif kind == "PATH_INTERP":
                kind = "PATH_START"
                modes.append(_PATH_SLASH)
            elif kind == "IND_OPEN":
                kind = "IND_STRING_OPEN"
                modes.append(_IND)
                opened.append(("''", line, column))
                if value[-1] == "\n":
                    yield Token(kind, value, pos, line, column, line + 1, 1, end)
                    line += 1
                    line_start = end
                    pos = end
                    continue
            elif kind == "INT":
                if int(value) > _MAX_INT:
                    raise _error(source, f"invalid integer '{value}'", pos, end,
                                 "Nix integers are 64-bit")
            elif kind == "FLOAT" and float(value) == float("inf"):
                raise _error(source, f"invalid float '{value}'", pos, end)
            yield Token(kind, value, pos, line, column, line, column + end - pos, end)
            pos = end
            continue

        column = pos - line_start + 1
        # Both kinds of string open an interpolation the same way.
        if mode in (_STRING, _IND) and text.startswith("${", pos):
            modes.append(_NORMAL)
            opened.append(("${", line, column))
            yield Token("INTERP_OPEN", "${", pos, line, column, line, column + 2, pos + 2)
            pos += 2
            continue
        if mode == _STRING:
            if pos >= size:
                raise _unterminated(source, "string")
            char = text[pos]
            if char == '"':
                modes.pop()
                opened.pop()
                yield Token("STRING_CLOSE", char, pos, line, column, line, column + 1, pos + 1)
                pos += 1
                continue
            end = _STR_RE.match(text, pos).end()  # type: ignore[union-attr]
            if end == pos:  # a lone `$` or `\` at the end of the input
                raise _unterminated(source, "string")
            raw = text[pos:end]
            value = _ESCAPE_RE.sub(_unescape, raw) if ("\\" in raw or "\r" in raw) else raw
            token, line, line_start = _spanning("STR_PART", value, text, pos, end, line, column,
                                                line_start)
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
                    yield Token("IND_STR_ESCAPE", value, pos, line, column, line, column + 3,
                                pos + 3)
                    pos += 3
                    continue
                if third == "\\" and pos + 3 < size:
                    escaped = text[pos + 3]
                    value = _ESCAPES.get(escaped, escaped)
                    start_line = line
                    if escaped == "\n":
                        line += 1
                        line_start = pos + 4
                    yield Token("IND_STR_ESCAPE", value, pos, start_line, column, line,
                                pos + 4 - line_start + 1, pos + 4)
                    pos += 4
                    continue
                modes.pop()
                opened.pop()
                yield Token("IND_STRING_CLOSE", "''", pos, line, column, line, column + 2,
                            pos + 2)
                pos += 2
                continue
            m = _IND_RE.match(text, pos)
            if m is None:  # a `$` or `'` that the main pattern cannot take
                yield Token("IND_STR_ESCAPE", text[pos], pos, line, column, line, column + 1,
                            pos + 1)
                pos += 1
                continue
            end = m.end()
            value = m.group()
            token, line, line_start = _spanning("IND_STR_PART", value, text, pos, end, line,
                                                column, line_start)
            yield token
            pos = end
            continue

        # Inside a path, right after a segment or an interpolation.
        if text.startswith("${", pos):
            modes[-1] = _PATH
            modes.append(_NORMAL)
            opened.append(("${", line, column))
            yield Token("INTERP_OPEN", "${", pos, line, column, line, column + 2, pos + 2)
            pos += 2
            continue
        m = _PATH_MORE_RE.match(text, pos)
        if m is not None:
            end = m.end()
            value = m.group()
            modes[-1] = _PATH_SLASH if value[-1] == "/" else _PATH
            yield Token("PATH_STR", value, pos, line, column, line, column + end - pos, end)
            pos = end
            continue
        if mode == _PATH_SLASH:
            raise _error(source, "path has a trailing slash", max(pos - 1, 0), pos,
                         "remove the '/' at the end of the path")
        modes.pop()
        yield Token("PATH_END", "", pos, line, column, line, column, pos)


def _spanning(kind: str, value: str, text: str, pos: int, end: int, line: int, column: int,
              line_start: int) -> tuple[Token, int, int]:
    """A token for text[pos:end], which may span lines; returns the line state after it."""
    newlines = text.count("\n", pos, end)
    end_line = line + newlines
    if newlines:
        line_start = text.rfind("\n", pos, end) + 1
    token = Token(kind, value, pos, line, column, end_line, end - line_start + 1, end)
    return token, end_line, line_start


def _unterminated(source: _Source, what: str) -> NixSyntaxError:
    # Point at where it opened: the end of the file is rarely where the mistake is.
    opener, line, column = source.open_stack[-1]
    span = Span(source.filename, line, column, line, column + len(opener))
    closer = "''" if what == "indented string" else opener
    return NixSyntaxError(f"unterminated {what}: it runs to the end of the file", span,
                          f"close it with {closer}")


# What each terminal is called in error messages.
_DESCRIPTIONS = {
    "ID": "an identifier", "INT": "an integer", "FLOAT": "a float", "URI": "a URI",
    "SPATH": "a search path", "OR_KW": "'or'", "ELLIPSIS": "'...'",
    "_IF": "'if'", "_THEN": "'then'", "_ELSE": "'else'", "_ASSERT": "'assert'",
    "_WITH": "'with'", "_LET": "'let'", "_IN": "'in'", "_REC": "'rec'",
    "_INHERIT": "'inherit'", "STRING_OPEN": "a string", "STR_PART": "string text",
    "STRING_CLOSE": "'\"'", "INTERP_OPEN": "'${'", "IND_STRING_OPEN": "an indented string",
    "IND_STR_PART": "string text", "IND_STR_ESCAPE": "string text",
    "IND_STRING_CLOSE": "\"''\"", "PATH_START": "a path", "PATH_STR": "a path segment",
    "PATH_END": "the end of the path", "EQ": "'=='", "NEQ": "'!='", "LT": "'<'",
    "LEQ": "'<='", "GT": "'>'", "GEQ": "'>='", "AND": "'&&'", "OR": "'||'", "IMPL": "'->'",
    "UPDATE": "'//'", "CONCAT": "'++'", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'",
    "SLASH": "'/'", "NOT": "'!'", "QUESTION": "'?'", "PIPE_INTO": "'|>'",
    "PIPE_FROM": "'<|'", "_LBRACE": "'{'", "_RBRACE": "'}'", "_LPAREN": "'('",
    "_RPAREN": "')'", "_LBRACK": "'['", "_RBRACK": "']'", "_SEMI": "';'", "_COLON": "':'",
    "_AT": "'@'", "_DOT": "'.'", "_COMMA": "','", "_ASSIGN": "'='", "$END": "end of file",
}
_EXPR_START = frozenset({
    "ID", "INT", "FLOAT", "URI", "SPATH", "STRING_OPEN", "IND_STRING_OPEN", "PATH_START",
    "_LPAREN", "_LBRACE", "_LBRACK", "_LET", "_REC", "_IF", "_ASSERT", "_WITH", "NOT", "MINUS",
})
# Terminals that would merely extend the expression before the error.
_CONTINUATIONS = _EXPR_START | frozenset({
    "INTERP_OPEN", "EQ", "NEQ", "LT", "LEQ", "GT", "GEQ", "AND", "OR", "IMPL", "UPDATE", "CONCAT", "PLUS",
    "STAR", "SLASH", "QUESTION", "PIPE_INTO", "PIPE_FROM", "_DOT", "OR_KW",
})
# Why a `;` is due, by the construct whose keyword or `=` opened the statement.
_SEMI_CONTEXT = {
    "_ASSIGN": "after the value of the attribute",
    "_WITH": "after the expression of 'with'",
    "_ASSERT": "after the condition of 'assert'",
    "_INHERIT": "at the end of 'inherit'",
}
_AFTER = {
    "_ASSIGN": "after the attribute name", "_THEN": "after the condition of 'if'",
    "_ELSE": "after the 'then' branch", "_IN": "after the bindings of 'let'",
    "_COLON": "after the function's arguments",
}


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type in ("ID", "INT", "FLOAT", "URI", "SPATH", "PATH_START"):
        return f"'{token}'"
    return _DESCRIPTIONS.get(token.type, repr(str(token)))


def _syntax_error(source: _Source, err: UnexpectedToken) -> NixSyntaxError:
    token = err.token
    expected = set(err.expected)
    structural = expected - _CONTINUATIONS
    got = _describe(token)
    if token.type == "$END":
        size = len(source.text)
        hint = None
        if source.open_stack:
            opener, line, column = source.open_stack[-1]
            hint = f"the '{opener}' at line {line}, column {column} is never closed"
        elif len(structural) == 1:
            hint = f"expected {_DESCRIPTIONS[next(iter(structural))]}"
        return _error(source, "unexpected end of file", size, size, hint)

    start = token.start_pos if token.start_pos is not None else 0
    end = max(token.end_pos if token.end_pos is not None else start, start + 1)
    end = min(end, max(len(source.text), start))
    if structural == {"$END"}:
        return _error(source, f"unexpected {got}", start, end,
                      "the expression is complete before it")
    if len(structural) == 1:
        want = next(iter(structural))
        what = _DESCRIPTIONS[want]
        if want == "_SEMI":
            context = _semi_context(err)
            message = f"expected ';' {context}" if context else "expected ';'"
        else:
            context = _AFTER.get(want)
            message = f"expected {what} {context}" if context else f"expected {what}"
        return _error(source, message, start, end, f"found {got} instead")
    if token.type == "_ASSIGN":
        missing = _missing_semicolon(source, start)
        if missing:
            return _error(source, f"unexpected {got}", start, end, missing)
    if not structural and len(expected & _EXPR_START) > 5:
        return _error(source, f"unexpected {got}, expected an expression", start, end)
    return _error(source, f"unexpected {got}", start, end)


def _missing_semicolon(source: _Source, assign: int) -> str | None:
    """`a = 1 <newline> b = 2;` parses as `1 b` until the `=`: name the line missing its `;`."""
    text = source.text
    line_start = text.rfind("\n", 0, assign) + 1
    if not re.fullmatch(r"\s*[A-Za-z_][A-Za-z0-9_'-]*(\s*\.\s*[A-Za-z_][A-Za-z0-9_'-]*)*\s*",
                        text[line_start:assign]):
        return None
    before = text[:line_start].rstrip()
    if not before or before.endswith(";"):
        return None
    line, _ = _line_col(text, len(before))
    return f"is a ';' missing at the end of line {line}?"


def _semi_context(err: UnexpectedToken) -> str | None:
    state = getattr(err, "state", None)
    stack = getattr(state, "value_stack", None) or ()
    # A `with`/`assert` whose `;` is already on the stack is only the context of
    # the body being parsed, not the construct missing its `;`.
    finished = 0
    for item in reversed(stack):
        if not isinstance(item, Token):
            continue
        if item.type == "_SEMI":
            finished += 1
        elif item.type in ("_WITH", "_ASSERT") and finished:
            finished -= 1
        elif item.type in _SEMI_CONTEXT:
            return _SEMI_CONTEXT[item.type]
    return None


_parser: Lark | None = None


def _get_parser() -> Lark:
    global _parser
    if _parser is None:
        _parser = Lark.open_from_package(
            "nixdf.grammar", "nix.lark", parser="lalr", lexer=NixLexer,
            propagate_positions=True, maybe_placeholders=False, strict=True, cache=True,
        )
    return _parser


def parse(source: str, filename: str = "<string>") -> s.Expr:
    """Parse one Nix expression; raise :class:`NixSyntaxError` for anything invalid."""
    src = _Source(source, filename)
    # The builder recurses once per nesting level; long operator chains such
    # as `a ++ b ++ ...` nest deeper than Python's default limit allows.
    limit = sys.getrecursionlimit()
    try:
        tree = _get_parser().parse(src)  # type: ignore[arg-type]
        sys.setrecursionlimit(max(limit, _RECURSION_LIMIT))
        return _Builder(filename).build(tree)
    except NixSyntaxError:
        raise
    except UnexpectedToken as err:
        raise _syntax_error(src, err) from None
    except UnexpectedInput as err:
        pos = getattr(err, "pos_in_stream", None) or 0
        raise _error(src, "invalid syntax", pos, pos) from None
    except RecursionError:
        raise _error(src, "expression nested too deeply", 0, 0,
                     "split the expression into smaller pieces") from None
    except LarkError as err:  # none should occur, but nothing else may escape
        raise _error(src, f"cannot parse: {err}", 0, 0) from None
    finally:
        sys.setrecursionlimit(limit)


class _Builder:
    """Turns the lark tree into syntax nodes, checking what Nix's parser checks."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def build(self, tree: Tree) -> s.Expr:
        return self.expr(tree.children[0])

    # -- helpers -------------------------------------------------------------

    def span(self, node: Tree | Token) -> Span:
        if isinstance(node, Token):
            return Span(self.filename, node.line, node.column, node.end_line, node.end_column)
        meta = node.meta
        if meta.empty:
            return Span(self.filename, 1, 1, 1, 1)
        return Span(self.filename, meta.line, meta.column, meta.end_line, meta.end_column)

    def fail(self, message: str, node: Tree | Token, hint: str | None = None) -> NixSyntaxError:
        return NixSyntaxError(message, self.span(node), hint)

    def expr(self, node: Tree | Token) -> s.Expr:
        method = getattr(self, "_" + node.data)  # type: ignore[union-attr]
        result: s.Expr = method(node)
        return result

    # -- leaves --------------------------------------------------------------

    def _ident(self, node: Tree) -> s.Expr:
        return s.Ident(str(node.children[0]), self.span(node))

    def _int_(self, node: Tree) -> s.Expr:
        return s.Int(int(node.children[0]), self.span(node))

    def _float_(self, node: Tree) -> s.Expr:
        return s.Float(float(node.children[0]), self.span(node))

    def _spath(self, node: Tree) -> s.Expr:
        return s.SearchPath(str(node.children[0])[1:-1], self.span(node))

    def _uri(self, node: Tree) -> s.Expr:
        return s.Uri(str(node.children[0]), self.span(node))

    def _string(self, node: Tree) -> s.Expr:
        parts: list[str | s.Expr] = []
        for child in node.children[1:-1]:
            parts.append(str(child) if isinstance(child, Token) else self._interp(child))
        return s.Str(_merge(parts), self.span(node))

    def _interp(self, node: Tree) -> s.Expr:
        return self.expr(node.children[1])

    def _ind_string(self, node: Tree) -> s.Expr:
        pieces: list[tuple[str, bool] | s.Expr] = []
        for child in node.children[1:-1]:
            if isinstance(child, Token):
                pieces.append((str(child), child.type == "IND_STR_PART"))
            else:
                pieces.append(self._interp(child))
        return s.Str(_merge(_strip_indentation(pieces)), self.span(node), indented=True)

    def _path(self, node: Tree) -> s.Expr:
        parts: list[str | s.Expr] = []
        for child in node.children[:-1]:
            parts.append(str(child) if isinstance(child, Token) else self._interp(child))
        return s.Path(_merge(parts), self.span(node))

    # -- compound ------------------------------------------------------------

    def _list(self, node: Tree) -> s.Expr:
        return s.List(tuple(self.expr(c) for c in node.children), self.span(node))

    def _empty_braces(self, node: Tree) -> s.Expr:
        return s.AttrSet((), False, self.span(node))

    def _attrset(self, node: Tree) -> s.Expr:
        return s.AttrSet(self.binds(node.children[0]), False, self.span(node))

    def _rec_attrset(self, node: Tree) -> s.Expr:
        return s.AttrSet(self.binds(node.children[0]), True, self.span(node))

    def _legacy_let(self, node: Tree) -> s.Expr:
        span = self.span(node)
        attrs = s.AttrSet(self.binds(node.children[0]), True, span)
        return s.Select(attrs, (s.StaticKey("body", span),), None, span)

    def _let_(self, node: Tree) -> s.Expr:
        binds = self.binds(node.children[0])
        for bind in binds:
            if isinstance(bind, s.Binding) and isinstance(bind.path[0], s.DynamicKey):
                raise NixSyntaxError("dynamic attributes not allowed in let", bind.path[0].span)
        return s.Let(binds, self.expr(node.children[1]), self.span(node))

    def _with_(self, node: Tree) -> s.Expr:
        env, body = node.children
        return s.With(self.expr(env), self.expr(body), self.span(node))

    def _assert_(self, node: Tree) -> s.Expr:
        cond, body = node.children
        return s.Assert(self.expr(cond), self.expr(body), self.span(node))

    def _if_(self, node: Tree) -> s.Expr:
        cond, then, else_ = node.children
        return s.If(self.expr(cond), self.expr(then), self.expr(else_), self.span(node))

    def _binop(self, node: Tree) -> s.Expr:
        left, op, right = node.children
        return s.BinOp(str(op), self.expr(left), self.expr(right), self.span(node))

    def _unop(self, node: Tree) -> s.Expr:
        op, operand = node.children
        return s.UnaryOp(str(op), self.expr(operand), self.span(node))

    def _apply(self, node: Tree) -> s.Expr:
        func, arg = node.children
        return s.Apply(self.expr(func), self.expr(arg), self.span(node))

    def _apply_or(self, node: Tree) -> s.Expr:
        func, or_kw = node.children
        return s.Apply(self.expr(func), s.Ident("or", self.span(or_kw)), self.span(node))

    def _select(self, node: Tree) -> s.Expr:
        target, path = node.children
        return s.Select(self.expr(target), self.attrpath(path), None, self.span(node))

    def _select_or(self, node: Tree) -> s.Expr:
        target, path, _, default = node.children
        return s.Select(self.expr(target), self.attrpath(path), self.expr(default),
                        self.span(node))

    def _has_attr(self, node: Tree) -> s.Expr:
        target, _, path = node.children
        return s.HasAttr(self.expr(target), self.attrpath(path), self.span(node))

    def _lambda_ident(self, node: Tree) -> s.Expr:
        name, body = node.children
        return s.Lambda(str(name), None, self.expr(body), self.span(node))

    def _lambda_formals(self, node: Tree) -> s.Expr:
        formal_set, body = node.children
        return s.Lambda(None, self.formals(formal_set, None), self.expr(body), self.span(node))

    def _lambda_formals_at(self, node: Tree) -> s.Expr:
        formal_set, name, body = node.children
        formals = self.formals(formal_set, name)
        return s.Lambda(str(name), formals, self.expr(body), self.span(node))

    def _lambda_at_formals(self, node: Tree) -> s.Expr:
        name, formal_set, body = node.children
        formals = self.formals(formal_set, name)
        return s.Lambda(str(name), formals, self.expr(body), self.span(node))

    def formals(self, formal_set: Tree, at_name: Token | None) -> s.Formals:
        items: list[s.Formal] = []
        ellipsis = False
        inner = formal_set.children[0]
        if inner.data == "formals":
            for child in inner.children:
                if isinstance(child, Token):  # ELLIPSIS
                    ellipsis = True
                    continue
                for formal in _flatten_formal_list(child):
                    name = formal.children[0]
                    default = self.expr(formal.children[2]) if len(formal.children) > 2 else None
                    items.append(s.Formal(str(name), default, self.span(formal)))
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                raise NixSyntaxError(f"duplicate formal function argument '{item.name}'",
                                     item.span)
            seen.add(item.name)
        if at_name is not None and str(at_name) in seen:
            raise self.fail(f"duplicate formal function argument '{at_name}'", at_name)
        return s.Formals(tuple(items), ellipsis, self.span(formal_set))

    # -- bindings ------------------------------------------------------------

    def binds(self, node: Tree) -> tuple[s.Bind, ...]:
        result: list[s.Bind] = []
        for child in node.children:
            kind = child.data
            if kind == "binding":
                path, value = child.children
                result.append(s.Binding(self.attrpath(path), self.expr(value), self.span(child)))
            else:
                source = self.expr(child.children[0]) if kind == "inherit_from" else None
                names = child.children[1:] if kind == "inherit_from" else child.children
                keys = tuple(self.key(n) for n in names)
                for key in keys:
                    if isinstance(key, s.DynamicKey):
                        raise NixSyntaxError("dynamic attributes not allowed in inherit",
                                             key.span)
                result.append(s.Inherit(source, keys, self.span(child)))
        _check_duplicates(result)
        return tuple(result)

    def attrpath(self, node: Tree) -> tuple[s.Key, ...]:
        return tuple(self.key(child) for child in node.children)

    def key(self, node: Tree) -> s.Key:
        span = self.span(node)
        kind = node.data
        if kind == "key_id":
            return s.StaticKey(str(node.children[0]), span)
        expr = self.expr(node.children[0]) if kind == "key_str" else self.expr(node.children[1])
        name = _static_text(expr)
        if name is not None:
            return s.StaticKey(name, span)
        return s.DynamicKey(expr, span)


def _flatten_formal_list(node: Tree) -> list[Tree]:
    # formal_list is left-recursive: (formal_list formal) nests to the left.
    out: list[Tree] = []
    while len(node.children) == 2:
        out.append(node.children[1])
        node = node.children[0]
    out.append(node.children[0])
    out.reverse()
    return out


def _static_text(expr: s.Expr) -> str | None:
    if isinstance(expr, s.Str) and all(isinstance(p, str) for p in expr.parts):
        return "".join(expr.parts)  # type: ignore[arg-type]
    return None


def _merge(parts: list[str | s.Expr]) -> tuple[str | s.Expr, ...]:
    out: list[str | s.Expr] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + part
                continue
        out.append(part)
    return tuple(out)


def _strip_indentation(pieces: list[tuple[str, bool] | s.Expr]) -> list[str | s.Expr]:
    """Nix's stripIndentation, step for step, quirks included.

    Only spaces indent (a tab is text). Escapes such as ``''$`` and
    interpolations end a line's indentation like any other text, but the
    stripping pass still treats an escaped text's leading spaces as
    indentation, exactly as Nix does.
    """
    min_indent = 1_000_000
    at_start = True
    indent = 0
    for piece in pieces:
        if not isinstance(piece, tuple) or not piece[1]:
            if at_start:
                at_start = False
                min_indent = min(min_indent, indent)
            continue
        for char in piece[0]:
            if at_start:
                if char == " ":
                    indent += 1
                elif char == "\n":
                    indent = 0
                else:
                    at_start = False
                    min_indent = min(min_indent, indent)
            elif char == "\n":
                at_start = True
                indent = 0

    out: list[str | s.Expr] = []
    at_start = True
    dropped = 0
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        if not isinstance(piece, tuple):
            at_start = False
            dropped = 0
            out.append(piece)
            continue
        kept: list[str] = []
        for char in piece[0]:
            if at_start:
                if char == " ":
                    if dropped >= min_indent:
                        kept.append(char)
                    dropped += 1
                elif char == "\n":
                    dropped = 0
                    kept.append(char)
                else:
                    at_start = False
                    dropped = 0
                    kept.append(char)
            else:
                kept.append(char)
                if char == "\n":
                    at_start = True
        text = "".join(kept)
        if index == last:
            cut = text.rfind("\n")
            if cut != -1 and not text[cut + 1:].strip(" "):
                text = text[:cut + 1]
        out.append(text)
    return out


def _check_duplicates(binds: list[s.Bind]) -> None:
    """Reject what Nix's parser rejects: an attribute defined twice.

    ``a.b = 1; a.c = 2;`` and ``a = { b = 1; }; a.c = 2;`` are fine (Nix
    merges them); anything else that names a static attribute twice is not.
    """
    table: dict[str, Any] = {}
    for bind in binds:
        if isinstance(bind, s.Inherit):
            for key in bind.names:
                name = key.name  # type: ignore[union-attr]
                if name in table:
                    raise _duplicate(name, key.span)
                table[name] = None
        else:
            _add(table, bind.path, bind.value)


def _add(table: dict[str, Any], path: tuple[s.Key, ...], value: s.Expr) -> None:
    """Nix's addAttr: a table maps a name to its nested table, or None for a leaf."""
    level = table
    for i, key in enumerate(path[:-1]):
        if isinstance(key, s.DynamicKey):
            return
        existing = level.get(key.name, _MISSING)
        if existing is _MISSING:
            existing = level[key.name] = {}
        elif existing is None:
            raise _duplicate(_path_text(path[:i + 1]), key.span)
        level = existing
    last = path[-1]
    if isinstance(last, s.DynamicKey):
        return
    incoming = _attrset_table(value)
    if last.name not in level:
        level[last.name] = incoming
        return
    existing = level[last.name]
    if existing is None or incoming is None:
        raise _duplicate(_path_text(path), last.span)
    for name, sub in incoming.items():
        if name in existing:
            raise _duplicate(name, last.span)
        existing[name] = sub


_MISSING = object()


def _attrset_table(value: s.Expr) -> dict[str, Any] | None:
    """The table of an attrset literal (which Nix merges into), None for other values."""
    if not isinstance(value, s.AttrSet):
        return None
    table: dict[str, Any] = {}
    for bind in value.bindings:
        if isinstance(bind, s.Inherit):
            for key in bind.names:
                table[key.name] = None  # type: ignore[union-attr]
        else:
            _add(table, bind.path, bind.value)
    return table


def _path_text(path: tuple[s.Key, ...]) -> str:
    return ".".join(_key_text(k) for k in path)


def _key_text(key: s.Key) -> str:
    return key.name if isinstance(key, s.StaticKey) else "${...}"


def _duplicate(name: str, span: Span) -> NixSyntaxError:
    return NixSyntaxError(f"attribute '{name}' already defined", span)

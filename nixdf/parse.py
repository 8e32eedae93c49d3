"""Parse Nix source text into the AST of :mod:`nixdf.syntax`.

The grammar (``grammar/nix.lark``) is LALR(1) and follows Nix 2.8's parser,
plus the ``|>``/``<|`` pipes of Nix >= 2.24. :mod:`nixdf.lexer` makes the
tokens, lark makes the tables (:mod:`nixdf.tables`), and the loop here drives
them, building each syntax node, with its span, the moment its rule is
reduced: no lark tree is ever built, so nothing of lark leaves this package.

Choices the AST contract leaves open:

* ``Str.parts`` merges adjacent literal text and drops empty literals, so
  ``"abc"`` has ``parts == ("abc",)`` and ``""`` has ``parts == ()``.
* ``Path.parts[0]`` is the path as written (``./a``, ``~/a``, ``/a/``...),
  never resolved: resolving needs the file's directory, which is evaluation's
  business.
* As in Nix, ``${"a"}`` (an interpolation of a plain string) is a static key.
"""

from __future__ import annotations

import gc
import re
from collections import defaultdict
from collections.abc import Callable
from operator import itemgetter
from typing import Any, Final

from . import syntax as s
from . import tables as _tables
from .errors import NixSyntaxError, Span
from .lexer import Source, Token, error, line_col, tokens

__all__ = ["parse"]

Pick = Callable[[list[Any]], Any]
Build = Callable[[Any, Span], Any]

_TEXT: Final = 5  # where a token keeps its text (see nixdf.lexer)


def parse(source: str, filename: str = "<string>") -> s.Expr:
    """Parse one Nix expression; raise :class:`NixSyntaxError` for anything invalid."""
    src = Source(source, filename)
    # Parsing allocates a tuple or node per token and frees nothing; the cycle
    # collector would keep rescanning them all (a third of the time) to find no
    # cycle, since a syntax tree has none.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Parser.get().run(src)
    except NixSyntaxError:
        raise
    except RecursionError:
        raise error(src, "expression nested too deeply", 0, 0,
                    "split the expression into smaller pieces") from None
    finally:
        if collecting:
            gc.enable()


# How a reduction makes its value, one of these per rule. The parser's loop
# tests them in this order, the most frequent first; it never meets a _UNIT
# rule, whose reductions its gotos make (see _Parser.goto).
_UNIT = 0  # hands its only child (a rule's) up unchanged: a step up the precedence levels
_NODE = 1  # builds a node from its children, with the span they cover
_LEAF = 2  # builds a node from one token: an identifier, a number, a plain string...
_GROW = 3  # a lark `x*` helper adding an item to its list
_FIRST = 4  # a lark `x*` helper starting its list
_PASS = 5  # hands one of its children up: `( e )`, `${ e }`
_EMPTY = 6  # an empty rule
_ACCEPT = 7  # the start rule: the parse is done

# Rules that are one of their children, by position: an interpolation is
# its expression.
_PASSES = {"interp": 1}


class _Parser:
    """The LALR loop over lark's tables, with one build function per rule."""

    _instance: _Parser | None = None

    def __init__(self, tables: _tables.Tables) -> None:
        self.actions = tables.actions
        self.start = tables.start
        origins = sorted({r.origin for r in tables.rules})
        self.origins = len(origins)
        # (origin, its number, size, how, build, pick) by rule; see _how. What build and
        # pick are depends on `how`, which the loop tests: to mypy they are Any.
        self.rules: tuple[tuple[str, int, int, int, Any, Any], ...] = tuple(
            (r.origin, origins.index(r.origin), r.size) + _how(r) for r in tables.rules)
        # lookahead -> (state below * number of origins + origin) -> state
        self.gotos: defaultdict[str, dict[int, int]] = defaultdict(dict)

    def goto(self, below: int, origin: str, kind: str) -> int:
        """The state after a reduction to ``origin`` uncovers ``below``, with
        ``kind`` next: the goto, then every unit reduction that ``kind`` triggers.

        Most reductions are followed by a few of those, handing an operand up
        the precedence levels; where they end depends on nothing but the
        lookahead, the state below and the rule, so the parser caches it.
        """
        top = self.actions[below][origin]
        code = self.actions[top].get(kind, 0)
        while code < 0 and self.rules[~code][3] == _UNIT:
            top = self.actions[below][self.rules[~code][0]]
            code = self.actions[top].get(kind, 0)
        return top

    @classmethod
    def get(cls) -> _Parser:
        if cls._instance is None:
            cls._instance = cls(_tables.load())
        return cls._instance

    def run(self, source: Source) -> s.Expr:
        actions = self.actions
        rules = self.rules
        width = self.origins
        all_gotos = self.gotos
        filename = source.filename
        new_span = tuple.__new__
        # The stacks hold, at each depth up to `top`, a state, a value, and
        # where the value starts and ends: items 1-2 of `heads[i]` and items
        # 3-4 of `lasts[i]`, a token or a Span (the token's items 1-4 are a
        # span's). A reduction only moves its last child's end down to its
        # first child, and makes a Span only for a node that keeps one.
        # What lies above `top` is stale: indexing the stacks from the bottom
        # and never deleting is what CPython does fastest with a list.
        top = 0
        depth = 64
        state = self.start
        states = [state] * depth
        values: list[Any] = [None] * depth
        heads: list[Any] = [None] * depth
        lasts: list[Any] = [None] * depth
        for token in tokens(source):
            kind = token[0]
            gotos = all_gotos[kind]
            while True:
                try:
                    code = actions[state][kind]
                except KeyError:
                    raise _syntax_error(source, token, actions[state], values[1:top + 1]
                                        ) from None
                if code >= 0:
                    top += 1
                    if top == depth:
                        depth = _deepen(states, values, heads, lasts)
                    state = states[top] = code
                    values[top] = heads[top] = lasts[top] = token
                    break
                # Never a unit reduction: the goto after a reduction makes those.
                origin, number, size, how, build, pick = rules[~code]
                # The rule's value takes the place of its first child.
                first = top - size + 1
                if how == _NODE:
                    head = heads[first]
                    last = lasts[top]
                    children = values[first:top + 1]
                    value = build(pick(children) if pick else children,
                                  new_span(Span, (filename, head[1], head[2], last[3], last[4])))
                    lasts[first] = last
                elif how == _LEAF:
                    leaf = values[top]
                    value = build(leaf, new_span(Span, (filename, leaf[1], leaf[2], leaf[3],
                                                        leaf[4])))
                elif how == _GROW:
                    value = values[first]
                    value.append(values[top])
                    lasts[first] = lasts[top]
                elif how == _FIRST:
                    value = [values[top]]
                    lasts[first] = lasts[top]
                elif how == _PASS:
                    value = values[first + pick]
                    lasts[first] = lasts[top]
                elif how == _EMPTY:  # it sits where the next token starts
                    if first == depth:
                        depth = _deepen(states, values, heads, lasts)
                    pos = new_span(Span, (filename, token[1], token[2], token[1], token[2]))
                    heads[first] = lasts[first] = pos
                    value = build([], pos)
                elif how == _ACCEPT:
                    return values[top]  # type: ignore[no-any-return]
                else:
                    raise AssertionError(f"a unit reduction to {origin} outside a goto")
                top = first
                below = states[top - 1]
                try:
                    state = gotos[below * width + number]
                except KeyError:
                    state = gotos[below * width + number] = self.goto(below, origin, kind)
                states[top] = state
                values[top] = value
        raise AssertionError("the parser stopped before the end of the input")


def _deepen(*stacks: list[Any]) -> int:
    """Double the parser's stacks (their new half is stale); their new depth."""
    for stack in stacks:
        stack.extend(stack)
    return len(stacks[0])


def _how(rule: _tables.Rule) -> tuple[int, Build | None, Pick | int | None]:
    """How a reduction by ``rule`` makes its value: (how, build, pick).

    For a node, ``pick`` chooses the kept children (None: all of them) and
    ``build`` makes the value from them and the span; for a pass-through,
    ``pick`` is the child's position. Both are chosen once per rule, so that
    the parser's loop makes as few Python calls per reduction as possible: a
    pick is a C-level ``itemgetter`` unless helper lists must be spliced in.
    """
    keep, splice, size = rule.keep, rule.splice, rule.size
    if rule.origin == "start":
        return _ACCEPT, None, None
    if rule.origin.startswith("__"):  # lark's `x*` helpers: one growing list
        # the item is always the last child: `__x: item | __x item`, or `_DOT item`
        assert keep[-1] == size - 1, rule
        if splice == (0,):
            return _GROW, None, None
        return _FIRST, None, None
    if rule.expand1 and len(keep) == 1 and not splice:
        if size > 1:
            return _PASS, None, keep[0]
        # A unit rule's child is a rule's, so only a goto can put it on top.
        assert not rule.leaf, rule
        return _UNIT, None, None
    if rule.name in _PASSES:
        return _PASS, None, _PASSES[rule.name]
    if rule.leaf and hasattr(_LEAVES, rule.name):
        return _LEAF, getattr(_LEAVES, rule.name), None
    build = getattr(_NODES, rule.name)
    if not size:
        return _EMPTY, build, None
    return _NODE, build, _pick(keep, splice, size)


def _pick(keep: tuple[int, ...], splice: tuple[int, ...], size: int) -> Pick | None:
    if len(keep) == 1 and keep == splice:  # the helper's list itself, e.g. `binds: bind*`
        return itemgetter(keep[0])
    if splice:
        return _gatherer(keep, splice)
    if keep == tuple(range(size)):
        return None
    if not keep:
        return itemgetter(slice(0, 0))
    if keep == tuple(range(keep[0], keep[-1] + 1)):
        return itemgetter(slice(keep[0], keep[-1] + 1))
    return itemgetter(*keep)


def _gatherer(keep: tuple[int, ...], splice: tuple[int, ...]) -> Pick:
    def gather(children: list[Any]) -> list[Any]:
        out: list[Any] = []
        for index in keep:
            if index in splice:
                out.extend(children[index])
            else:
                out.append(children[index])
        return out
    return gather


def _is_token(value: Any) -> bool:
    return type(value) is tuple and len(value) == 8 and type(value[0]) is str


def _token_span(token: Token, filename: str) -> Span:
    # tuple.__new__ rather than Span(): a named tuple's own __new__ is a Python call
    return tuple.__new__(Span, (filename, token[1], token[2], token[3], token[4]))


class _Nodes:
    """One function per rule name of the grammar: the kept children to a value.

    Tokens arrive as :data:`nixdf.lexer.Token` tuples, everything else as
    the value an earlier reduction made.
    """

    # -- strings and paths ---------------------------------------------------

    def string(self, kept: list[Any], pos: Span) -> s.Expr:
        parts = [c[_TEXT] if type(c) is tuple else c for c in kept[1:-1]]
        return s.Str(_merge(parts), pos)

    def ind_string(self, kept: list[Any], pos: Span) -> s.Expr:
        pieces: list[tuple[str, bool] | s.Expr] = [
            (c[_TEXT], c[0] == "IND_STR_PART") if type(c) is tuple else c for c in kept[1:-1]
        ]
        return s.Str(_merge(_strip_indentation(pieces)), pos, indented=True)

    def path(self, kept: list[Any], pos: Span) -> s.Expr:
        parts = [c[_TEXT] if type(c) is tuple else c for c in kept[:-1]]
        return s.Path(_merge(parts), pos)

    # -- compound ------------------------------------------------------------

    def list_(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.List(tuple(kept), pos)

    def empty_braces(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.AttrSet((), False, pos)

    def attrset(self, kept: list[s.Bind], pos: Span) -> s.Expr:
        return s.AttrSet(self.binds(kept, pos), False, pos)

    def rec_attrset(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.AttrSet(kept[0], True, pos)

    def legacy_let(self, kept: list[Any], pos: Span) -> s.Expr:
        attrs = s.AttrSet(kept[0], True, pos)
        return s.Select(attrs, (s.StaticKey("body", pos),), None, pos)

    def let_(self, kept: list[Any], pos: Span) -> s.Expr:
        binds, body = kept
        for bind in binds:
            if isinstance(bind, s.Binding) and isinstance(bind.path[0], s.DynamicKey):
                raise NixSyntaxError("dynamic attributes not allowed in let", bind.path[0].span)
        return s.Let(binds, body, pos)

    def with_(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.With(kept[0], kept[1], pos)

    def assert_(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.Assert(kept[0], kept[1], pos)

    def if_(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.If(kept[0], kept[1], kept[2], pos)

    def binop(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.BinOp(kept[1][_TEXT], kept[0], kept[2], pos)

    def unop(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.UnaryOp(kept[0][_TEXT], kept[1], pos)

    def apply(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.Apply(kept[0], kept[1], pos)

    def apply_or(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.Apply(kept[0], s.Ident("or", _token_span(kept[1], pos.file)), pos)

    def select(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.Select(kept[0], kept[1], None, pos)

    def select_or(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.Select(kept[0], kept[1], kept[3], pos)

    def has_attr(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.HasAttr(kept[0], kept[2], pos)

    # -- functions -----------------------------------------------------------

    def lambda_ident(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.Lambda(kept[0][_TEXT], None, kept[1], pos)

    def lambda_formals(self, kept: list[Any], pos: Span) -> s.Expr:
        return s.Lambda(None, kept[0], kept[1], pos)

    def lambda_formals_at(self, kept: list[Any], pos: Span) -> s.Expr:
        formals, name, body = kept
        self.check_at(formals, name, pos.file)
        return s.Lambda(name[_TEXT], formals, body, pos)

    def lambda_at_formals(self, kept: list[Any], pos: Span) -> s.Expr:
        name, formals, body = kept
        self.check_at(formals, name, pos.file)
        return s.Lambda(name[_TEXT], formals, body, pos)

    def check_at(self, formals: s.Formals, name: Token, filename: str) -> None:
        if any(f.name == name[_TEXT] for f in formals.items):
            raise NixSyntaxError(f"duplicate formal function argument '{name[_TEXT]}'",
                                 _token_span(name, filename))

    def formal_set(self, kept: list[Any], pos: Span) -> s.Formals:
        inner = kept[0]
        items, ellipsis = ([], False) if isinstance(inner, s.AttrSet) else inner
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                raise NixSyntaxError(f"duplicate formal function argument '{item.name}'",
                                     item.span)
            seen.add(item.name)
        return s.Formals(tuple(items), ellipsis, pos)

    def formals(self, kept: list[Any], pos: Span) -> tuple[list[s.Formal], bool]:
        if _is_token(kept[0]):  # a lone `...`
            return [], True
        return kept[0], len(kept) == 2

    def formal_list(self, kept: list[Any], pos: Span) -> list[s.Formal]:
        if len(kept) == 1:
            return [kept[0]]
        items: list[s.Formal] = kept[0]
        items.append(kept[1])
        return items

    def formal(self, kept: list[Any], pos: Span) -> s.Formal:
        default = kept[2] if len(kept) > 2 else None
        return s.Formal(kept[0][_TEXT], default, pos)

    # -- bindings ------------------------------------------------------------

    def binds(self, kept: list[Any], pos: Span) -> tuple[s.Bind, ...]:
        _check_duplicates(kept)
        return tuple(kept)

    def binding(self, kept: list[Any], pos: Span) -> s.Bind:
        return s.Binding(kept[0], kept[1], pos)

    def binding_id(self, kept: list[Any], pos: Span) -> s.Bind:
        name = kept[0]
        # The name's span made here rather than by _token_span: this is the
        # commonest node of all, and a call costs as much as the span.
        span = tuple.__new__(Span, (pos[0], name[1], name[2], name[3], name[4]))
        return s.Binding((s.StaticKey(name[_TEXT], span),), kept[1], pos)

    def inherit(self, kept: list[Any], pos: Span) -> s.Bind:
        return s.Inherit(None, self.inherited(kept), pos)

    def inherit_from(self, kept: list[Any], pos: Span) -> s.Bind:
        return s.Inherit(kept[0], self.inherited(kept[1:]), pos)

    def inherited(self, keys: list[s.Key]) -> tuple[s.Key, ...]:
        for key in keys:
            if isinstance(key, s.DynamicKey):
                raise NixSyntaxError("dynamic attributes not allowed in inherit", key.span)
        return tuple(keys)

    def long_attrpath(self, kept: list[Any], pos: Span) -> tuple[s.Key, ...]:
        return tuple(kept)

    def key_str(self, kept: list[Any], pos: Span) -> s.Key:
        return self.key(kept[0], pos)

    def key_interp(self, kept: list[Any], pos: Span) -> s.Key:
        return self.key(kept[1], pos)

    def key(self, expr: s.Expr, pos: Span) -> s.Key:
        name = _static_text(expr)
        if name is not None:
            return s.StaticKey(name, pos)
        return s.DynamicKey(expr, pos)


_NODES = _Nodes()


class _Leaves:
    """One function per rule that is a single token: the token to a value.

    The parser calls these with the token itself rather than a list of kept
    children: they are a third of all reductions.
    """

    def ident(self, token: Token, pos: Span) -> s.Expr:
        return s.Ident(token[_TEXT], pos)

    def int_(self, token: Token, pos: Span) -> s.Expr:
        return s.Int(int(token[_TEXT]), pos)

    def float_(self, token: Token, pos: Span) -> s.Expr:
        return s.Float(float(token[_TEXT]), pos)

    def spath(self, token: Token, pos: Span) -> s.Expr:
        return s.SearchPath(token[_TEXT][1:-1], pos)

    def uri(self, token: Token, pos: Span) -> s.Expr:
        return s.Uri(token[_TEXT], pos)

    def plain_string(self, token: Token, pos: Span) -> s.Expr:
        value = token[_TEXT]
        return s.Str((value,) if value else (), pos)

    def attrpath_id(self, token: Token, pos: Span) -> tuple[s.Key, ...]:
        return (s.StaticKey(token[_TEXT], pos),)

    def key_id(self, token: Token, pos: Span) -> s.Key:
        return s.StaticKey(token[_TEXT], pos)


_LEAVES = _Leaves()

# What each terminal is called in error messages.
_DESCRIPTIONS = {
    "ID": "an identifier", "INT": "an integer", "FLOAT": "a float", "URI": "a URI",
    "SPATH": "a search path", "OR_KW": "'or'", "ELLIPSIS": "'...'",
    "_IF": "'if'", "_THEN": "'then'", "_ELSE": "'else'", "_ASSERT": "'assert'",
    "_WITH": "'with'", "_LET": "'let'", "_IN": "'in'", "_REC": "'rec'",
    "_INHERIT": "'inherit'", "STRING": "a string", "STRING_OPEN": "a string",
    "STR_PART": "string text",
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
    "STRING", "ID", "INT", "FLOAT", "URI", "SPATH", "STRING_OPEN", "IND_STRING_OPEN",
    "PATH_START", "_LPAREN", "_LBRACE", "_LBRACK", "_LET", "_REC", "_IF", "_ASSERT", "_WITH",
    "NOT", "MINUS",
})
# Terminals that would merely extend the expression before the error.
_CONTINUATIONS = _EXPR_START | frozenset({
    "INTERP_OPEN", "EQ", "NEQ", "LT", "LEQ", "GT", "GEQ", "AND", "OR", "IMPL", "UPDATE",
    "CONCAT", "PLUS", "STAR", "SLASH", "QUESTION", "PIPE_INTO", "PIPE_FROM", "_DOT", "OR_KW",
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
    kind = token[0]
    if kind == "$END":
        return "end of file"
    if kind in ("ID", "INT", "FLOAT", "URI", "SPATH", "PATH_START"):
        return f"'{token[_TEXT]}'"
    described = _DESCRIPTIONS.get(kind, repr(token[_TEXT]))
    # "unexpected string", not "unexpected a string"
    return described.removeprefix("a ").removeprefix("an ")


def _syntax_error(source: Source, token: Token, row: dict[str, int], values: list[Any]
                  ) -> NixSyntaxError:
    # Nonterminals are lower case: what the row can take next are its upper-case keys.
    expected = {symbol for symbol in row if symbol.isupper()}
    structural = expected - _CONTINUATIONS
    got = _describe(token)
    if token[0] == "$END":
        size = len(source.text)
        hint = None
        if source.open_stack:
            opener, line, column = source.open_stack[-1]
            hint = f"the '{opener}' at line {line}, column {column} is never closed"
        elif len(structural) == 1:
            hint = f"expected {_DESCRIPTIONS[next(iter(structural))]}"
        return error(source, "unexpected end of file", size, size, hint)

    start = token[6]
    end = min(max(token[7], start + 1), max(len(source.text), start))
    if structural == {"$END"}:
        return error(source, f"unexpected {got}", start, end,
                     "the expression is complete before it")
    if len(structural) == 1:
        want = next(iter(structural))
        what = _DESCRIPTIONS[want]
        if want == "_SEMI":
            context = _semi_context(values)
            message = f"expected ';' {context}" if context else "expected ';'"
        else:
            context = _AFTER.get(want)
            message = f"expected {what} {context}" if context else f"expected {what}"
        return error(source, message, start, end, f"found {got} instead")
    if token[0] == "_ASSIGN":
        missing = _missing_semicolon(source, start)
        if missing:
            return error(source, f"unexpected {got}", start, end, missing)
    if not structural and len(expected & _EXPR_START) > 5:
        return error(source, f"unexpected {got}, expected an expression", start, end)
    return error(source, f"unexpected {got}", start, end)


def _missing_semicolon(source: Source, assign: int) -> str | None:
    """`a = 1 <newline> b = 2;` parses as `1 b` until the `=`: name the line missing its `;`."""
    text = source.text
    line_start = text.rfind("\n", 0, assign) + 1
    if not re.fullmatch(r"\s*[A-Za-z_][A-Za-z0-9_'-]*(\s*\.\s*[A-Za-z_][A-Za-z0-9_'-]*)*\s*",
                        text[line_start:assign]):
        return None
    before = text[:line_start].rstrip()
    if not before or before.endswith(";"):
        return None
    line, _ = line_col(text, len(before))
    return f"is a ';' missing at the end of line {line}?"


def _semi_context(values: list[Any]) -> str | None:
    # A `with`/`assert` whose `;` is already on the stack is only the context of
    # the body being parsed, not the construct missing its `;`.
    finished = 0
    for item in reversed(values):
        if not _is_token(item):
            continue
        kind = item[0]
        if kind == "_SEMI":
            finished += 1
        elif kind in ("_WITH", "_ASSERT") and finished:
            finished -= 1
        elif kind in _SEMI_CONTEXT:
            return _SEMI_CONTEXT[kind]
    return None


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
    """Nix's stripIndentation, quirks included.

    Only spaces indent (a tab is text). Escapes such as ``''$`` and
    interpolations end a line's indentation like any other text, but the
    stripping pass still treats an escaped text's leading spaces as
    indentation, exactly as Nix does. A piece's first line may go on from the
    piece before, so it is measured and cut in Python; the lines after its
    newlines are measured and cut by regular expressions, which is what keeps
    long indented strings cheap.
    """
    min_indent = 1_000_000
    at_start = True
    indent = 0  # spaces so far on a line that has had nothing else yet
    for piece in pieces:
        if type(piece) is not tuple or not piece[1]:
            if at_start:
                at_start = False
                min_indent = min(min_indent, indent)
            continue
        text = piece[0]
        newline = text.find("\n")
        if at_start:
            head = text if newline < 0 else text[:newline]
            body = head.lstrip(" ")
            if body:
                at_start = False
                min_indent = min(min_indent, indent + len(head) - len(body))
            else:
                indent += len(head)
        if newline < 0:
            continue
        indents = _INDENTS.findall(text, newline)
        if indents:
            min_indent = min(min_indent, len(min(indents)))
        tail = text[text.rfind("\n") + 1:]
        at_start = not tail.lstrip(" ")
        indent = len(tail)

    out: list[str | s.Expr] = []
    at_start = True
    dropped = 0  # spaces already cut from the start of the line
    dedent = _dedent(min_indent)
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        if not isinstance(piece, tuple):
            at_start = False
            dropped = 0
            out.append(piece)
            continue
        text = piece[0]
        newline = text.find("\n")
        head = text if newline < 0 else text[:newline]
        if at_start:
            body = head.lstrip(" ")
            spaces = len(head) - len(body)
            head = " " * max(0, dropped + spaces - max(dropped, min_indent)) + body
            if body:
                at_start = False
                dropped = 0
            else:
                dropped += spaces
        if newline >= 0:
            # Every line after a newline loses up to min_indent spaces: a line
            # with text has at least that many, one of spaces only loses all.
            tail = text[text.rfind("\n") + 1:]
            at_start = not tail.lstrip(" ")
            dropped = len(tail) if at_start else 0
            head += dedent.sub("\n", text[newline:])
        if index == last:
            cut = head.rfind("\n")
            if cut != -1 and not head[cut + 1:].strip(" "):
                head = head[:cut + 1]
        out.append(head)
    return out


# The indentation of each line after a newline that has text on it.
_INDENTS = re.compile(r"\n( *)[^ \n]")
_DEDENTS: dict[int, re.Pattern[str]] = {}


def _dedent(width: int) -> re.Pattern[str]:
    """A newline and up to ``width`` spaces after it."""
    pattern = _DEDENTS.get(width)
    if pattern is None:
        pattern = _DEDENTS[width] = re.compile(f"\n {{0,{width}}}")
    return pattern


def _check_duplicates(binds: list[s.Bind]) -> None:
    """Reject what Nix's parser rejects: an attribute defined twice.

    ``a.b = 1; a.c = 2;`` and ``a = { b = 1; }; a.c = 2;`` are fine (Nix
    merges them); anything else that names a static attribute twice is not.
    """
    try:
        # The usual bindings: each a Binding whose path starts with a static
        # name, no two alike. A set of them is made at C speed.
        if len({bind.path[0].name for bind in binds}) == len(binds):  # type: ignore[union-attr]
            return None
    except AttributeError:  # an inherit, or a dynamic name
        pass
    first: set[str] = set()
    for bind in binds:
        keys = bind.names if isinstance(bind, s.Inherit) else bind.path[:1]
        for key in keys:
            if isinstance(key, s.StaticKey):
                if key.name in first:
                    return _check_nested(binds)
                first.add(key.name)
    # No name starts two bindings, so none can clash: the common case, and the
    # one that needs no table of the nested attribute sets.
    return None


def _check_nested(binds: list[s.Bind]) -> None:
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

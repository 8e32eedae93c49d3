"""Print nixdf's AST the way ``nix-instantiate --parse`` (Nix 2.8) prints Nix's.

The parser tests and ``benchmarks/corpus.py`` compare the two printouts, so a
difference in any node, operator grouping or string escape shows. Two things
in Nix's output carry no meaning and are normalised on both sides by
:func:`canonical` and :func:`merge_literals`: attribute order (Nix 2.8 orders
attributes by symbol address) and, for indented strings, where one literal
piece ends and the next begins.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from nixdf import syntax as s
from nixdf.parse import parse

# What `~` means in both printouts: run nix-instantiate with this HOME.
HOME = "/home/nixdf-test"
_KEYWORDS = {"if", "then", "else", "assert", "with", "let", "in", "rec", "inherit"}
_ID_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_'\-]*\Z")
_CALLS = {"-": "__sub", "*": "__mul", "/": "__div"}


def show_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in '\\"$':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def show_id(name: str) -> str:
    return name if _ID_RE.match(name) and name not in _KEYWORDS else show_string(name)


@dataclass
class _Attrs:
    """An attribute set as Nix's parser holds it: nested paths already merged."""

    recursive: bool
    static: dict[str, object] = field(default_factory=dict)
    dynamic: list[tuple[s.Expr, object]] = field(default_factory=list)


_INHERITED = object()


def _attrs_of(bindings: tuple[s.Bind, ...], recursive: bool) -> _Attrs:
    attrs = _Attrs(recursive)
    for bind in bindings:
        if isinstance(bind, s.Inherit):
            for key in bind.names:
                assert isinstance(key, s.StaticKey)
                attrs.static[key.name] = (
                    _INHERITED if bind.source is None
                    else s.Select(bind.source, (key,), None, key.span)
                )
        else:
            _add_attr(attrs, bind.path, bind.value)
    return attrs


def _value(expr: s.Expr) -> object:
    if isinstance(expr, s.AttrSet):
        return _attrs_of(expr.bindings, expr.recursive)
    return expr


def _add_attr(attrs: _Attrs, path: tuple[s.Key, ...], value: s.Expr) -> None:
    for key in path[:-1]:
        if isinstance(key, s.StaticKey):
            nested = attrs.static.get(key.name)
            if not isinstance(nested, _Attrs):
                nested = attrs.static[key.name] = _Attrs(False)
            attrs = nested
        else:
            nested = _Attrs(False)
            attrs.dynamic.append((key.expr, nested))
            attrs = nested
    last = path[-1]
    if isinstance(last, s.DynamicKey):
        attrs.dynamic.append((last.expr, _value(value)))
        return
    existing = attrs.static.get(last.name)
    incoming = _value(value)
    if isinstance(existing, _Attrs) and isinstance(incoming, _Attrs):
        existing.static.update(incoming.static)  # Nix merges only the static names
    else:
        attrs.static[last.name] = incoming


def _show_value(value: object, base: str) -> str:
    if isinstance(value, _Attrs):
        return _show_attrs(value, base)
    return to_nix_parse_format(value, base)  # type: ignore[arg-type]


def _show_attrs(attrs: _Attrs, base: str) -> str:
    out = ["rec { " if attrs.recursive else "{ "]
    for name in sorted(attrs.static, key=lambda n: n.encode()):
        value = attrs.static[name]
        if value is _INHERITED:
            out.append(f"inherit {show_id(name)} ; ")
        else:
            out.append(f"{show_id(name)} = {_show_value(value, base)}; ")
    for key, value in attrs.dynamic:
        out.append(f'"${{{to_nix_parse_format(key, base)}}}" = {_show_value(value, base)}; ')
    out.append("}")
    return "".join(out)


def _show_path(path: tuple[s.Key, ...], base: str) -> str:
    return ".".join(
        show_id(k.name) if isinstance(k, s.StaticKey)
        else f'"${{{to_nix_parse_format(k.expr, base)}}}"'
        for k in path
    )


def _resolve(raw: str, base: str) -> str:
    if raw.startswith("~"):
        return HOME + raw[1:]
    resolved = posixpath.normpath(posixpath.join(base, raw))
    return resolved + "/" if raw.endswith("/") and len(raw) > 1 else resolved


def _show_parts(parts: tuple[str | s.Expr, ...], base: str) -> str:
    return "(" + " + ".join(
        show_string(p) if isinstance(p, str) else to_nix_parse_format(p, base) for p in parts
    ) + ")"


def to_nix_parse_format(expr: s.Expr, base: str = "/") -> str:
    """``expr`` as ``nix-instantiate --parse`` prints it; ``base`` resolves relative paths."""
    if isinstance(expr, s.Int):
        return str(expr.value)
    if isinstance(expr, s.Float):
        return "%g" % expr.value
    if isinstance(expr, s.Str):
        if all(isinstance(p, str) for p in expr.parts):
            return show_string("".join(expr.parts))  # type: ignore[arg-type]
        return _show_parts(expr.parts, base)
    if isinstance(expr, s.Path):
        start = _resolve(expr.parts[0], base)  # type: ignore[arg-type]
        if len(expr.parts) == 1:
            return start
        return "(" + " + ".join(
            [start] + [show_string(p) if isinstance(p, str) else to_nix_parse_format(p, base)
                       for p in expr.parts[1:]]
        ) + ")"
    if isinstance(expr, s.SearchPath):
        return f"(__findFile __nixPath {show_string(expr.name)})"
    if isinstance(expr, s.Uri):
        return show_string(expr.value)
    if isinstance(expr, s.Ident):
        return expr.name
    if isinstance(expr, s.AttrSet):
        return _show_attrs(_attrs_of(expr.bindings, expr.recursive), base)
    if isinstance(expr, s.List):
        return "[ " + "".join(f"({to_nix_parse_format(i, base)}) " for i in expr.items) + "]"
    if isinstance(expr, s.Select):
        text = f"({to_nix_parse_format(expr.expr, base)}).{_show_path(expr.path, base)}"
        if expr.default is not None:
            text += f" or ({to_nix_parse_format(expr.default, base)})"
        return text
    if isinstance(expr, s.HasAttr):
        return f"(({to_nix_parse_format(expr.expr, base)}) ? {_show_path(expr.path, base)})"
    if isinstance(expr, s.Let):
        attrs = _attrs_of(expr.bindings, False)
        out = ["(let "]
        for name in sorted(attrs.static, key=lambda n: n.encode()):
            value = attrs.static[name]
            if value is _INHERITED:
                out.append(f"inherit {show_id(name)}; ")
            else:
                out.append(f"{show_id(name)} = {_show_value(value, base)}; ")
        out.append(f"in {to_nix_parse_format(expr.body, base)})")
        return "".join(out)
    if isinstance(expr, s.With):
        return f"(with {to_nix_parse_format(expr.env, base)}; {to_nix_parse_format(expr.body, base)})"
    if isinstance(expr, s.Assert):
        return f"assert {to_nix_parse_format(expr.cond, base)}; {to_nix_parse_format(expr.body, base)}"
    if isinstance(expr, s.If):
        return (f"(if {to_nix_parse_format(expr.cond, base)} then "
                f"{to_nix_parse_format(expr.then, base)} else {to_nix_parse_format(expr.else_, base)})")
    if isinstance(expr, s.Lambda):
        out = ["("]
        if expr.formals is not None:
            # Nix 2.8 orders formals, like attributes, by symbol address: sort them.
            formals = sorted(expr.formals.items, key=lambda f: f.name.encode())
            items = [f.name + (f" ? {to_nix_parse_format(f.default, base)}" if f.default else "")
                     for f in formals]
            if expr.formals.ellipsis:
                items.append("...")
            out.append("{ " + ", ".join(items) + " }")
            if expr.param is not None:
                out.append(" @ ")
        if expr.param is not None:
            out.append(expr.param)
        out.append(f": {to_nix_parse_format(expr.body, base)})")
        return "".join(out)
    if isinstance(expr, s.Apply):
        args: list[s.Expr] = []
        func: s.Expr = expr
        while isinstance(func, s.Apply):  # Nix keeps one call node with all its arguments
            args.append(func.arg)
            func = func.func
        shown = " ".join(to_nix_parse_format(a, base) for a in reversed(args))
        return f"({to_nix_parse_format(func, base)} {shown})"
    if isinstance(expr, s.UnaryOp):
        operand = to_nix_parse_format(expr.operand, base)
        return f"(__sub 0 {operand})" if expr.op == "-" else f"(! {operand})"
    if isinstance(expr, s.BinOp):
        left = to_nix_parse_format(expr.left, base)
        right = to_nix_parse_format(expr.right, base)
        if expr.op in _CALLS:
            return f"({_CALLS[expr.op]} {left} {right})"
        if expr.op == "<":
            return f"(__lessThan {left} {right})"
        if expr.op == ">":
            return f"(__lessThan {right} {left})"
        if expr.op == "<=":
            return f"(! (__lessThan {right} {left}))"
        if expr.op == ">=":
            return f"(! (__lessThan {left} {right}))"
        return f"({left} {expr.op} {right})"
    raise AssertionError(f"unknown node {expr!r}")


_LITERAL_SPLIT = re.compile(r'("(?:[^"\\]|\\.)*")', re.S)


def merge_literals(text: str) -> str:
    """Join adjacent string literals of a printed concatenation and drop empty ones.

    Nix keeps an indented string's lexer pieces (``''$`` and a lone ``'`` are
    pieces of their own) and empty pieces; the AST contract merges them.
    """
    # (is a string literal, text); split() alternates code and literals
    pieces = [[i % 2 == 1, piece] for i, piece in enumerate(_LITERAL_SPLIT.split(text))]
    changed = True
    while changed:
        changed = False
        for i in range(1, len(pieces) - 1):
            literal, piece = pieces[i]
            if not literal:
                continue
            before, after = pieces[i - 1], pieces[i + 1]
            if after[1] == " + " and i + 2 < len(pieces) and pieces[i + 2][0]:
                pieces[i:i + 3] = [[True, piece[:-1] + pieces[i + 2][1][1:]]]
            elif piece == '""' and after[1].startswith(" + ") and before[1].endswith(("(", " + ")):
                after[1] = after[1][3:]
                del pieces[i]
            elif piece == '""' and before[1].endswith(" + ") and after[1].startswith(")"):
                before[1] = before[1][:-3]
                del pieces[i]
            elif (before[1].endswith("(") and after[1].startswith(")")
                  and not before[1].endswith("[ (")):
                before[1] = before[1][:-1]
                after[1] = after[1][1:]
            else:
                continue
            changed = True
            break
    return "".join(piece for _, piece in pieces)


_DIR_BEFORE_PLUS = re.compile(r"(?<=[ (\[])(/[A-Za-z0-9._\-+/]*)(?= \+ )")


# Nix prints a keyword used as an attribute name bare (`{ assert = 1; }`), and
# the root path as `/`; neither reads back.
_KEYWORD_NAME = re.compile(r"(?<=[{;] )(assert|else|if|in|inherit|let|rec|then|with)(?= = )")
_ROOT_PATH = re.compile(r"(?<=[ (\[])/(?=[ )\];])")


def canonical(printed: str, base: str) -> str:
    """Reparse printed output and print it again, which sorts every attribute set.

    A path that ends in ``/`` before an interpolation prints as a path token
    Nix cannot read back, so it goes back in as a string; so do the root path
    and keywords used as attribute names.
    """
    readable = _DIR_BEFORE_PLUS.sub(r'"\1"', printed)
    readable = _ROOT_PATH.sub('"/"', _KEYWORD_NAME.sub(r'"\1"', readable))
    readable = _parenthesise_asserts(readable)
    return to_nix_parse_format(parse(readable), base)


_SCAN = re.compile(r""""(?:[^"\\]|\\.)*"|(?<![\w'.-])(?:assert|then|else)(?![\w'-])|[()\[\]{};,]""",
                   re.S)


def _parenthesise_asserts(printed: str) -> str:
    """``(f assert c; b)``, as Nix prints an assert argument, does not parse:
    make it ``(f (assert c; b))``. An assert's body runs to the end of the
    bracket it stands in, or to the next ``;`` there that is not another
    assert's own (``{ a = assert c; b; }``), or to a ``then``, ``else`` or
    ``,`` there."""
    inserts: list[tuple[int, str]] = []
    # per open bracket: [asserts still owed their own `;`, asserts whose body is open]
    levels: list[list[int]] = [[0, 0]]
    for match in _SCAN.finditer(printed):
        token = match.group()
        level = levels[-1]
        if token == "assert":
            inserts.append((match.start(), "("))
            level[0] += 1
        elif token in (";", "then", "else", ","):
            if token == ";" and level[0]:
                level[0] -= 1
                level[1] += 1
            else:
                inserts.extend((match.start(), ")") for _ in range(level[1]))
                level[1] = 0
        elif token in "([{":
            levels.append([0, 0])
        elif token in ")]}":
            inserts.extend((match.start(), ")") for _ in range(levels.pop()[1]))
    inserts.extend((len(printed), ")") for _ in range(levels.pop()[1]))
    out = printed
    for index, text in sorted(inserts, key=lambda item: item[0], reverse=True):
        out = out[:index] + text + out[index:]
    return out

"""Static evaluation: the part of a Nixfile that must become Dockerfile text.

Nix itself evaluates the Nixfile inside the builder; this module only computes
the values nixdf writes into the Dockerfile (names, tags, config, scripts,
image-to-image references) and finds where the images are. Evaluation is lazy,
as in Nix, so a package expression nobody asks about is never looked at.
Anything only Nix can know (``pkgs.redis``, ``import``, a string interpolating
a store path) becomes an :class:`Opaque` value; a stage that needs it static
reports it with its location.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Union

from . import syntax as s
from .builders import BUILDERS, NIX2CONTAINER, NIX2CONTAINER_FUNCTIONS, WITH_NIX_DB
from .errors import EvalError, NeedsLockError, Span
from .record import Record, ValueRecord


@dataclass(slots=True, repr=False, eq=False)
class Opaque(ValueRecord):
    """A value only Nix can compute, described for error messages."""

    description: str
    span: Span
    path: tuple[str, ...] = ()


@dataclass(slots=True, repr=False, eq=False)
class OpaqueUpdate(Opaque):
    """``opaque // { … }``: what only Nix knows, with some attributes known here. The idiom
    ``l = pkgs.lib // builtins`` (nix2container's own files) keeps both lib and builtins."""

    update: Attrs | None = None


@dataclass(slots=True, repr=False, eq=False)
class Builder(ValueRecord):
    """``buildImage`` and friends, however they were reached."""

    name: str


@dataclass(slots=True, repr=False, eq=False)
class Thunk(Record):
    """An unevaluated expression and its scope; forced at most once."""

    expr: s.Expr | None
    env: Env | None
    value: Value | None = None
    forcing: bool = False

    @staticmethod
    def of(value: Value) -> Thunk:
        return Thunk(None, None, value)

    def force(self) -> Value:
        if self.value is not None:
            return self.value
        assert self.expr is not None and self.env is not None
        if self.forcing:
            raise EvalError("infinite recursion encountered", self.expr.span)
        self.forcing = True
        try:
            self.value = _eval(self.expr, self.env)
        finally:
            self.forcing = False
        return self.value


@dataclass(slots=True, repr=False, eq=False)
class Attrs(Record):
    """A Nix attribute set: unevaluated values, and where each key was defined."""

    items: dict[str, Thunk]
    key_spans: dict[str, Span]
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class BuiltinsSet(Attrs):
    """`builtins`: what nixdf does not implement is left to Nix, not an error."""


@dataclass(slots=True, repr=False, eq=False)
class ListValue(Record):
    """A Nix list of unevaluated items."""

    items: tuple[Thunk, ...]
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Closure(Record):
    """A Nix function and the scope it was defined in."""

    func: s.Lambda
    env: Env


@dataclass(slots=True, repr=False, eq=False)
class Primop(Record):
    """A builtin function; ``args`` are those applied so far, fewer than ``arity``."""

    name: str
    arity: int
    impl: Callable[[list[Thunk], Span], Value]
    args: tuple[Thunk, ...] = ()


@dataclass(slots=True, repr=False, eq=False)
class ImageCall(Record):
    """One ``buildImage { … }`` application: the builder and its argument set."""

    builder: str
    args: Attrs
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class PulledImage(Record):
    """``dockerTools.pullImage { … }`` or nix2container's (``function`` says which, as their
    arguments differ): a registry image pinned by digest."""

    args: Attrs
    span: Span
    function: str = "pullImage"


@dataclass(slots=True, repr=False, eq=False)
class LayerCall(Record):
    """``nix2container.buildLayer { … }``: an explicit layer of a nix2container image."""

    args: Attrs
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class PathValue(ValueRecord):
    """A Nix path, as the text it evaluates to."""

    value: str


@dataclass(slots=True, repr=False, eq=False)
class Null(ValueRecord):
    """Nix ``null`` (Python's None is reserved for "not evaluated yet")."""


NULL = Null()

Value = Union[  # noqa: UP007 - a runtime alias; `|` needs every class defined first anyway
    str, bool, int, float, Null, PathValue, Attrs, ListValue, Closure, Primop, Builder,
    ImageCall, PulledImage, LayerCall, Opaque,
]


@dataclass(slots=True, repr=False, eq=False)
class Env(Record):
    """A scope: its bindings, the enclosing scope, and the set of a ``with``."""

    vars: dict[str, Thunk]
    parent: Env | None = None
    # A `with` scope: consulted only when no lexical binding matches.
    with_value: Thunk | None = None
    withs: list[Thunk] = field(default_factory=list)

    def lookup(self, name: str, span: Span) -> Value:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name].force()
            env = env.parent
        env = self
        while env is not None:
            if env.with_value is not None:
                scope = env.with_value.force()
                if isinstance(scope, Attrs) and name in scope.items:
                    return scope.items[name].force()
                if isinstance(scope, Opaque):
                    return _select_opaque(scope, name, span)
            env = env.parent
        raise EvalError(f"undefined variable '{name}'", span)


_TYPE_NAMES: dict[type, str] = {
    bool: "a Boolean", str: "a string", int: "an integer", float: "a float",
    Null: "null", PathValue: "a path", Attrs: "a set", ListValue: "a list",
    Closure: "a function", Primop: "a function", Builder: "a function",
    ImageCall: "an image", PulledImage: "a pulled image", LayerCall: "a layer",
    Opaque: "a value only Nix knows",
}


def type_name(value: Value) -> str:
    return kind_name(type(value))


def kind_name(kind: type) -> str:
    """Nix's word for a kind of value (bool before int: a Python bool is an int)."""
    return next(_TYPE_NAMES[cls] for cls in kind.__mro__ if cls in _TYPE_NAMES)


def force_static(thunk: Thunk, what: str, span: Span) -> Value:
    """Force a value that must become Dockerfile text; refuse what only Nix knows."""
    value = thunk.force()
    if isinstance(value, Opaque):
        raise NeedsLockError(
            f"{what} must be known before the build, but it is {value.description}",
            value.span if value.span.file else span,
            hint="nixdf writes this value into the Dockerfile. Run `nixdf lock` (nixdf build "
            "does it by itself): Nix computes it in the builder and the lock file beside the "
            "Nixfile keeps it, store paths and all.",
        )
    return value


# --- evaluation --------------------------------------------------------------


def _eval(expr: s.Expr, env: Env) -> Value:
    match expr:
        case s.Int(value=v) | s.Float(value=v):
            return v
        case s.Str():
            return _eval_string(expr, env)
        case s.Path():
            text = _eval_string(s.Str(expr.parts, expr.span), env)
            return text if isinstance(text, Opaque) else PathValue(str(text))
        case s.SearchPath(name=name):
            return Opaque(f"the search path <{name}>", expr.span)
        case s.Uri(value=v):
            return v
        case s.Ident(name=name):
            return env.lookup(name, expr.span)
        case s.AttrSet():
            if expr.recursive:
                scope = Env({}, env)
                attrs = _bind_all(expr.bindings, scope, env, expr.span)
                scope.vars = attrs.items
                return attrs
            return _bind_all(expr.bindings, env, env, expr.span)
        case s.List(items=items):
            return ListValue(tuple(Thunk(i, env) for i in items), expr.span)
        case s.Select():
            return _eval_select(expr, env)
        case s.HasAttr():
            value = _eval(expr.expr, env)
            for key in expr.path:
                if isinstance(value, Opaque):
                    return Opaque("an attribute test on a value only Nix knows", expr.span)
                if not isinstance(value, Attrs):
                    return False
                name = _key_name(key, env)
                if name not in value.items:
                    return False
                value = value.items[name].force()
            return True
        case s.Let():
            scope = Env({}, env)
            scope.vars = _bind_all(expr.bindings, scope, env, expr.span).items
            return _eval(expr.body, scope)
        case s.With():
            return _eval(expr.body, Env({}, env, Thunk(expr.env, env)))
        case s.Assert():
            cond = _eval(expr.cond, env)
            if cond is False:
                raise EvalError("assertion failed", expr.cond.span)
            return _eval(expr.body, env)
        case s.If():
            cond = _eval(expr.cond, env)
            if isinstance(cond, Opaque):
                return Opaque("a conditional on a value only Nix knows", expr.span)
            if not isinstance(cond, bool):
                raise EvalError(f"'if' needs a Boolean, got {type_name(cond)}", expr.cond.span)
            return _eval(expr.then if cond else expr.else_, env)
        case s.Lambda():
            return Closure(expr, env)
        case s.Apply():
            return apply(_eval(expr.func, env), Thunk(expr.arg, env), expr.span)
        case s.UnaryOp(op="!"):
            value = _eval(expr.operand, env)
            if isinstance(value, Opaque):
                return value
            return not _expect(value, bool, expr.operand.span)
        case s.UnaryOp():
            value = _eval(expr.operand, env)
            if isinstance(value, Opaque):
                return value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise EvalError(f"cannot negate {type_name(value)}", expr.operand.span)
            return -value
        case s.BinOp():
            return _eval_binop(expr, env)
    raise AssertionError(f"unhandled syntax node {type(expr).__name__}")


def _expect(value: Value, kind: type, span: Span) -> Value:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EvalError(f"expected {kind_name(kind)}, got {type_name(value)}", span)
    return value


def _eval_string(expr: s.Str, env: Env) -> Value:
    out: list[str] = []
    for part in expr.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = _eval(part, env)
        if isinstance(value, Opaque):
            return Opaque(f"a string interpolating {value.description}", part.span)
        out.append(_coerce_to_string(value, part.span, interpolation=True))
    return "".join(out)


def _coerce_to_string(value: Value, span: Span, *, interpolation: bool = False) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, PathValue):
        return value.value
    if not interpolation:
        if isinstance(value, bool):
            return "1" if value else ""
        if isinstance(value, int):
            return str(value)
        if isinstance(value, Null):
            return ""
        if isinstance(value, ListValue):
            return " ".join(_coerce_to_string(i.force(), span) for i in value.items)
    raise EvalError(f"cannot coerce {type_name(value)} to a string", span)


def _key_name(key: s.Key, env: Env) -> str:
    if isinstance(key, s.StaticKey):
        return key.name
    value = _eval(key.expr, env)
    if isinstance(value, Opaque):
        raise EvalError(f"this attribute name is {value.description}", key.span)
    if not isinstance(value, str):
        raise EvalError(f"an attribute name must be a string, got {type_name(value)}", key.span)
    return value


def _bind_all(binds: tuple[s.Bind, ...], env: Env, inherit_env: Env, span: Span) -> Attrs:
    """Build a set from bindings; nested paths (``a.b = 1; a.c = 2;``) merge."""
    result = Attrs({}, {}, span)
    for bind in binds:
        if isinstance(bind, s.Inherit):
            for key in bind.names:
                name = _key_name(key, env)
                _define(result, name, key.span, _inherited(bind, name, key.span, env, inherit_env))
            continue
        target = result
        names = [_key_name(k, env) for k in bind.path]
        for name, key in zip(names[:-1], bind.path[:-1], strict=False):
            existing = target.items.get(name)
            if existing is None:
                nested = Attrs({}, {}, key.span)
                target.items[name] = Thunk.of(nested)
                target.key_spans[name] = key.span
                target = nested
                continue
            value = existing.force()
            if not isinstance(value, Attrs):
                raise EvalError(f"attribute '{name}' already defined", key.span)
            target = value
        _define(target, names[-1], bind.path[-1].span, Thunk(bind.value, env))
    return result


def _inherited(bind: s.Inherit, name: str, span: Span, env: Env, inherit_env: Env) -> Thunk:
    if bind.source is None:
        # `inherit x;` looks outside the set: in a rec set or let, not at its own binding.
        return Thunk(s.Ident(name, span), inherit_env)
    return Thunk(s.Select(bind.source, (s.StaticKey(name, span),), None, span), env)


def _define(target: Attrs, name: str, span: Span, thunk: Thunk) -> None:
    if name in target.items:
        raise EvalError(
            f"attribute '{name}' already defined at {target.key_spans[name]}", span
        )
    target.items[name] = thunk
    target.key_spans[name] = span


def _eval_select(expr: s.Select, env: Env) -> Value:
    value = _eval(expr.expr, env)
    for key in expr.path:
        name = _key_name(key, env)
        if isinstance(value, Opaque):
            value = _select_opaque(value, name, expr.span)
            continue
        if isinstance(value, Attrs) and name in value.items:
            value = value.items[name].force()
            continue
        if isinstance(value, BuiltinsSet):
            value = Opaque(f"builtins.{name}", key.span)
            continue
        if expr.default is not None:
            return _eval(expr.default, env)
        if isinstance(value, Attrs):
            raise EvalError(f"attribute '{name}' missing", key.span)
        raise EvalError(f"cannot select '{name}' from {type_name(value)}", key.span)
    return value


# The root of what `import` gives: maybe a package set (`import <nixpkgs> {}`, a pinned
# fetchTarball, niv's sources.nixpkgs), whose dockerTools builders and lib are nixdf's, as
# the builder's Nix side makes them (templates/lib.nix).
IMPORTED = "<import>"


def _select_opaque(value: Opaque, name: str, span: Span) -> Value:
    if isinstance(value, OpaqueUpdate) and value.update and name in value.update.items:
        return value.update.items[name].force()
    path = (*value.path, name)
    # What an import gives is a package set here: its dockerTools and lib are nixdf's.
    known = ("pkgs", *path[1:]) if path[0] == IMPORTED else path
    # pkgs.lib.optional, lib.strings.optionalString, `with lib; …`: nixpkgs' lib.
    if known[:2] == ("pkgs", "lib") and len(known) in (3, 4) and name in _LIB:
        return _LIB[name]
    if known[-1] in (*BUILDERS, *WITH_NIX_DB, "pullImage") and known[:-1] in (
        ("pkgs", "dockerTools"),
        ("dockerTools",),
    ):
        return Builder(known[-1])
    if path[:-1] == (NIX2CONTAINER,) and name in NIX2CONTAINER_FUNCTIONS:
        return Builder(f"{NIX2CONTAINER}.{name}")
    if path[0] == IMPORTED:
        return Opaque(f"{'.'.join(path[1:])} from an import", span, path)
    if value.path:
        return Opaque(".".join(path), span, path)
    return Opaque(f"an attribute of {value.description}", span)


def apply(func: Value, arg: Thunk, span: Span) -> Value:
    if isinstance(func, Builder):
        if func.name == f"{NIX2CONTAINER}.pullImageFromManifest":
            raise EvalError(
                "nix2container.pullImageFromManifest is not supported yet", span,
                hint="use nix2container.pullImage { imageName; imageDigest; sha256; }: nixdf "
                "writes it as FROM imageName@imageDigest.")
        args = arg.force()
        if not isinstance(args, Attrs):
            raise EvalError(f"{func.name} takes an attribute set, got {type_name(args)}", span)
        if func.name in ("pullImage", f"{NIX2CONTAINER}.pullImage"):
            return PulledImage(args, span, func.name)
        if func.name == f"{NIX2CONTAINER}.buildLayer":
            return LayerCall(args, span)
        return ImageCall(func.name, args, span)
    if isinstance(func, Closure):
        return _call(func, arg, span)
    if isinstance(func, Primop):
        given = (*func.args, arg)
        if len(given) < func.arity:
            return Primop(func.name, func.arity, func.impl, given)
        return func.impl(list(given), span)
    if isinstance(func, Opaque):
        # `import <nixpkgs> { … }` is as much a package set as what it imports.
        called = func.path if func.path == (IMPORTED,) else ()
        return Opaque(f"the result of calling {func.description}", span, called)
    raise EvalError(f"attempt to call {type_name(func)}, which is not a function", span)


def _call(func: Closure, arg: Thunk, span: Span) -> Value:
    lam = func.func
    scope = Env({}, func.env)
    if lam.param is not None:
        scope.vars[lam.param] = arg
    if lam.formals is not None:
        given = arg.force()
        if isinstance(given, Opaque):
            return Opaque(f"the result of calling a function with {given.description}", span)
        if not isinstance(given, Attrs):
            raise EvalError(f"function expects a set, got {type_name(given)}", span)
        for formal in lam.formals.items:
            if formal.name in given.items:
                scope.vars[formal.name] = given.items[formal.name]
            elif formal.default is not None:
                scope.vars[formal.name] = Thunk(formal.default, scope)
            else:
                raise EvalError(f"function called without required argument '{formal.name}'",
                                span)
        if not lam.formals.ellipsis:
            allowed = {f.name for f in lam.formals.items}
            for name in given.items:
                if name not in allowed:
                    raise EvalError(f"function called with unexpected argument '{name}'", span)
    return _eval(lam.body, scope)


def _eval_binop(expr: s.BinOp, env: Env) -> Value:
    op = expr.op
    if op in ("&&", "||", "->"):
        left = _eval(expr.left, env)
        if isinstance(left, Opaque):
            return Opaque("a Boolean only Nix knows", expr.span)
        _expect(left, bool, expr.left.span)
        if (op == "&&" and not left) or (op == "||" and left) or (op == "->" and not left):
            return op != "&&"
        right = _eval(expr.right, env)
        return right if isinstance(right, Opaque) else _expect(right, bool, expr.right.span)
    if op == "|>":
        return apply(_eval(expr.right, env), Thunk(expr.left, env), expr.span)
    if op == "<|":
        return apply(_eval(expr.left, env), Thunk(expr.right, env), expr.span)
    left, right = _eval(expr.left, env), _eval(expr.right, env)
    if op in ("==", "!="):
        if isinstance(left, Opaque) or isinstance(right, Opaque):
            return Opaque("a comparison with a value only Nix knows", expr.span)
        equal = _equal(left, right)
        return equal if op == "==" else not equal
    if op == "//" and isinstance(left, Opaque) and isinstance(right, Attrs):
        return OpaqueUpdate(left.description, left.span, left.path, right)
    for side in (left, right):
        if isinstance(side, Opaque):
            return Opaque(side.description, side.span)
    if op == "+":
        if isinstance(left, str | PathValue):
            text = _coerce_to_string(left, expr.left.span) + _coerce_to_string(
                right, expr.right.span, interpolation=True)
            return PathValue(text) if isinstance(left, PathValue) else text
        return _arith(op, left, right, expr)
    if op == "++":
        _expect(left, ListValue, expr.left.span)
        _expect(right, ListValue, expr.right.span)
        assert isinstance(left, ListValue) and isinstance(right, ListValue)
        return ListValue(left.items + right.items, expr.span)
    if op == "//":
        if isinstance(left, ImageCall) and isinstance(right, Attrs):
            # `buildLayeredImage { … } // { passthru = …; }` (as nixpkgs' examples write it)
            # adds attributes to the image's derivation; the image itself is the same.
            return left
        _expect(left, Attrs, expr.left.span)
        _expect(right, Attrs, expr.right.span)
        assert isinstance(left, Attrs) and isinstance(right, Attrs)
        return Attrs({**left.items, **right.items}, {**left.key_spans, **right.key_spans},
                     expr.span)
    if op in ("<", "<=", ">", ">="):
        if type(left) is not type(right) and not (
            isinstance(left, int | float) and isinstance(right, int | float)
        ):
            raise EvalError(f"cannot compare {type_name(left)} with {type_name(right)}",
                            expr.span)
        a, b = left, right
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]  # type: ignore[operator]
    return _arith(op, left, right, expr)


def _arith(op: str, left: Value, right: Value, expr: s.BinOp) -> Value:
    for side, span in ((left, expr.left.span), (right, expr.right.span)):
        if isinstance(side, bool) or not isinstance(side, int | float):
            raise EvalError(f"'{op}' needs numbers, got {type_name(side)}", span)
    a, b = left, right
    assert isinstance(a, int | float) and isinstance(b, int | float)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise EvalError("division by zero", expr.right.span)
    return a // b if isinstance(a, int) and isinstance(b, int) else a / b


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, Attrs) and isinstance(b, Attrs):
        return a.items.keys() == b.items.keys() and all(
            _equal(a.items[k].force(), b.items[k].force()) for k in a.items)
    if isinstance(a, ListValue) and isinstance(b, ListValue):
        return len(a.items) == len(b.items) and all(
            _equal(x.force(), y.force()) for x, y in zip(a.items, b.items, strict=True))
    return type(a) is type(b) and a == b


# --- builtins ----------------------------------------------------------------


def _forced(args: list[Thunk]) -> list[Value]:
    values = [a.force() for a in args]
    for value in values:
        if isinstance(value, Opaque):
            raise _OpaqueArgument(value)
    return values


class _OpaqueArgument(Exception):
    def __init__(self, value: Opaque) -> None:
        self.value = value


def _lenient(name: str, arity: int, fn: Callable[[list[Value], Span], Value]) -> Primop:
    """A builtin whose result is opaque when any argument is."""
    def impl(args: list[Thunk], span: Span) -> Value:
        try:
            return fn(_forced(args), span)
        except _OpaqueArgument as opaque:
            return Opaque(f"the result of {name} on {opaque.value.description}", span)
    return Primop(name, arity, impl)


def _to_string(args: list[Value], span: Span) -> Value:
    return _coerce_to_string(args[0], span)


def _concat_strings_sep(args: list[Value], span: Span) -> Value:
    sep, items = args
    _expect(items, ListValue, span)
    assert isinstance(items, ListValue)
    parts = [i.force() for i in items.items]
    for part in parts:
        if isinstance(part, Opaque):
            return Opaque(f"a string joining {part.description}", span)
    return _coerce_to_string(sep, span).join(_coerce_to_string(p, span) for p in parts)


def _map(args: list[Thunk], span: Span) -> Value:
    func, items = args[0].force(), args[1].force()
    if isinstance(items, Opaque):
        return Opaque(f"a list mapped over {items.description}", span)
    _expect(items, ListValue, span)
    assert isinstance(items, ListValue)
    return ListValue(tuple(_apply_later(func, i, span) for i in items.items), span)


def _apply_later(func: Value, arg: Thunk, span: Span) -> Thunk:
    """``func arg``, evaluated only when forced (map is lazy in its elements)."""
    env = Env({"f": Thunk.of(func), "x": arg})
    return Thunk(s.Apply(s.Ident("f", span), s.Ident("x", span), span), env)


def _attr_names(args: list[Value], span: Span) -> Value:
    attrs = _expect(args[0], Attrs, span)
    assert isinstance(attrs, Attrs)
    return ListValue(tuple(Thunk.of(k) for k in sorted(attrs.items)), span)


def _length(args: list[Value], span: Span) -> Value:
    items = _expect(args[0], ListValue, span)
    assert isinstance(items, ListValue)
    return len(items.items)


def _to_json(args: list[Value], span: Span) -> Value:
    return json.dumps(to_python(args[0], span), separators=(",", ":"), sort_keys=True)


def _import(args: list[Thunk], span: Span) -> Value:
    return Opaque("the result of import", span, (IMPORTED,))


def _opaque_primop(name: str, arity: int) -> Primop:
    def impl(args: list[Thunk], span: Span) -> Value:
        return Opaque(f"the result of {name}", span)
    return Primop(name, arity, impl)


def _foldl(args: list[Thunk], span: Span) -> Value:
    """``foldl' op nul list``: strict in the accumulator, as Nix's is."""
    op, items = args[0].force(), args[2].force()
    if isinstance(items, Opaque):
        return Opaque(f"a fold over {items.description}", span)
    _expect(items, ListValue, span)
    assert isinstance(items, ListValue)
    acc = args[1]
    for item in items.items:
        acc = Thunk.of(apply(apply(op, acc, span), item, span))
    return acc.force()


def _to_int(args: list[Value], span: Span) -> Value:
    # lib.toInt: decimal digits, optionally signed and surrounded by whitespace.
    text = _coerce_to_string(args[0], span)
    if not re.fullmatch(r"\s*-?(0|[1-9][0-9]*)\s*", text):
        raise EvalError(f"lib.toInt: could not convert {text!r} to an integer", span)
    return int(text)


def _throw(args: list[Value], span: Span) -> Value:
    raise EvalError(f"evaluation aborted: {_coerce_to_string(args[0], span)}", span)


def _condition(thunk: Thunk, span: Span) -> bool | Opaque:
    cond = thunk.force()
    if isinstance(cond, Opaque):
        return cond
    _expect(cond, bool, span)
    assert isinstance(cond, bool)
    return cond


def _optional_of(empty: Callable[[Span], Value], wrap: Callable[[Thunk, Span], Value],
                 name: str) -> Primop:
    def impl(args: list[Thunk], span: Span) -> Value:
        cond = _condition(args[0], span)
        if isinstance(cond, Opaque):
            return Opaque(f"the result of lib.{name} on {cond.description}", span)
        return wrap(args[1], span) if cond else empty(span)
    return Primop(name, 2, impl)


def _attrs_of(value: Value, span: Span) -> Attrs:
    _expect(value, Attrs, span)
    assert isinstance(value, Attrs)
    return value


def _list_of(value: Value, span: Span) -> ListValue:
    _expect(value, ListValue, span)
    assert isinstance(value, ListValue)
    return value


def _call2(func: Value, a: Thunk, b: Thunk, span: Span) -> Thunk:
    env = Env({"f": Thunk.of(func), "a": a, "b": b})
    call = s.Apply(s.Apply(s.Ident("f", span), s.Ident("a", span), span), s.Ident("b", span),
                   span)
    return Thunk(call, env)


def _map_attrs(args: list[Thunk], span: Span) -> Value:
    func, attrs = args[0].force(), args[1].force()
    if isinstance(attrs, Opaque):
        return Opaque(f"a set mapped over {attrs.description}", span)
    attrs = _attrs_of(attrs, span)
    return Attrs({k: _call2(func, Thunk.of(k), v, span) for k, v in attrs.items.items()},
                 dict(attrs.key_spans), span)


def _map_attrs_to_list(args: list[Thunk], span: Span) -> Value:
    func, attrs = args[0].force(), args[1].force()
    if isinstance(attrs, Opaque):
        return Opaque(f"a list mapped over {attrs.description}", span)
    attrs = _attrs_of(attrs, span)
    return ListValue(tuple(_call2(func, Thunk.of(k), attrs.items[k], span)
                           for k in sorted(attrs.items)), span)


def _attr_values(args: list[Value], span: Span) -> Value:
    attrs = _attrs_of(args[0], span)
    return ListValue(tuple(attrs.items[k] for k in sorted(attrs.items)), span)


def _filter(args: list[Thunk], span: Span) -> Value:
    func, items = args[0].force(), args[1].force()
    if isinstance(items, Opaque):
        return Opaque(f"a list filtered from {items.description}", span)
    kept = []
    for item in _list_of(items, span).items:
        verdict = apply(func, item, span)
        if isinstance(verdict, Opaque):
            return Opaque(f"a list filtered by {verdict.description}", span)
        if _expect(verdict, bool, span):
            kept.append(item)
    return ListValue(tuple(kept), span)


def _concat_lists(args: list[Value], span: Span) -> Value:
    items: tuple[Thunk, ...] = ()
    for inner in _list_of(args[0], span).items:
        value = inner.force()
        if isinstance(value, Opaque):
            return Opaque(f"a list joining {value.description}", span)
        items += _list_of(value, span).items
    return ListValue(items, span)


def _concat_map_strings_sep(args: list[Thunk], span: Span) -> Value:
    sep, func, items = args[0].force(), args[1].force(), args[2].force()
    if isinstance(items, Opaque) or isinstance(sep, Opaque):
        return Opaque("a string joined from a value only Nix knows", span)
    mapped = ListValue(tuple(_apply_later(func, i, span)
                             for i in _list_of(items, span).items), span)
    return _concat_strings_sep([sep, mapped], span)


def _elem_at(args: list[Value], span: Span) -> Value:
    items, index = _list_of(args[0], span), args[1]
    _expect(index, int, span)
    assert isinstance(index, int)
    if not 0 <= index < len(items.items):
        raise EvalError(f"list index {index} is out of bounds", span)
    return items.items[index].force()


def _head(args: list[Value], span: Span) -> Value:
    return _elem_at([args[0], 0], span)


def _tail(args: list[Value], span: Span) -> Value:
    items = _list_of(args[0], span)
    if not items.items:
        raise EvalError("'tail' called on an empty list", span)
    return ListValue(items.items[1:], span)


def _elem(args: list[Value], span: Span) -> Value:
    needle, items = args
    return any(_equal(needle, i.force()) for i in _list_of(items, span).items)


def _has_attr(args: list[Value], span: Span) -> Value:
    name, attrs = args
    return _coerce_to_string(name, span) in _attrs_of(attrs, span).items


def _get_attr(args: list[Value], span: Span) -> Value:
    name, attrs = _coerce_to_string(args[0], span), _attrs_of(args[1], span)
    if name not in attrs.items:
        raise EvalError(f"attribute '{name}' missing", span)
    return attrs.items[name].force()


def _list_to_attrs(args: list[Value], span: Span) -> Value:
    result = Attrs({}, {}, span)
    for item in _list_of(args[0], span).items:
        pair = _attrs_of(item.force(), span)
        name = pair.items["name"].force()
        if isinstance(name, Opaque):
            return Opaque(f"a set named by {name.description}", span)
        result.items.setdefault(_coerce_to_string(name, span), pair.items["value"])
        result.key_spans.setdefault(_coerce_to_string(name, span), span)
    return result


def _replace_strings(args: list[Value], span: Span) -> Value:
    old = [_coerce_to_string(i.force(), span) for i in _list_of(args[0], span).items]
    new = [_coerce_to_string(i.force(), span) for i in _list_of(args[1], span).items]
    text = _coerce_to_string(args[2], span)
    if len(old) != len(new):
        raise EvalError("replaceStrings needs lists of the same length", span)
    out, pos = [], 0
    while pos <= len(text):
        for pattern, replacement in zip(old, new, strict=True):
            if text.startswith(pattern, pos):
                out.append(replacement)
                pos += len(pattern) if pattern else 0
                if not pattern:
                    out.append(text[pos:pos + 1])
                    pos += 1
                break
        else:
            out.append(text[pos:pos + 1])
            pos += 1
    return "".join(out)


def _has_prefix(args: list[Value], span: Span) -> Value:
    return _coerce_to_string(args[1], span).startswith(_coerce_to_string(args[0], span))


def _has_suffix(args: list[Value], span: Span) -> Value:
    return _coerce_to_string(args[1], span).endswith(_coerce_to_string(args[0], span))


def _is(kind: type) -> Callable[[list[Value], Span], Value]:
    def check(args: list[Value], span: Span) -> Value:
        return isinstance(args[0], kind) and not (kind is int and isinstance(args[0], bool))
    return check


def _base_name_of(args: list[Value], span: Span) -> Value:
    return _coerce_to_string(args[0], span).rstrip("/").rsplit("/", 1)[-1]


def _dir_of(args: list[Value], span: Span) -> Value:
    text = _coerce_to_string(args[0], span)
    head = text.rstrip("/").rsplit("/", 1)[0] if "/" in text.rstrip("/") else "."
    result = head or "/"
    return PathValue(result) if isinstance(args[0], PathValue) else result


def _remove_attrs(args: list[Value], span: Span) -> Value:
    attrs = _attrs_of(args[0], span)
    drop = {_coerce_to_string(i.force(), span) for i in _list_of(args[1], span).items}
    return Attrs({k: v for k, v in attrs.items.items() if k not in drop},
                 {k: v for k, v in attrs.key_spans.items() if k not in drop}, span)


def _builtins() -> dict[str, Value]:
    table: dict[str, Value] = {
        "baseNameOf": _lenient("baseNameOf", 1, _base_name_of),
        "dirOf": _lenient("dirOf", 1, _dir_of),
        "isNull": _lenient("isNull", 1, _is(Null)),
        "removeAttrs": _lenient("removeAttrs", 2, _remove_attrs),
        "mapAttrs": Primop("mapAttrs", 2, _map_attrs),
        "attrValues": _lenient("attrValues", 1, _attr_values),
        "filter": Primop("filter", 2, _filter),
        "concatLists": _lenient("concatLists", 1, _concat_lists),
        "elemAt": _lenient("elemAt", 2, _elem_at),
        "head": _lenient("head", 1, _head),
        "tail": _lenient("tail", 1, _tail),
        "elem": _lenient("elem", 2, _elem),
        "hasAttr": _lenient("hasAttr", 2, _has_attr),
        "getAttr": _lenient("getAttr", 2, _get_attr),
        "listToAttrs": _lenient("listToAttrs", 1, _list_to_attrs),
        "replaceStrings": _lenient("replaceStrings", 3, _replace_strings),
        "isString": _lenient("isString", 1, _is(str)),
        "isList": _lenient("isList", 1, _is(ListValue)),
        "isAttrs": _lenient("isAttrs", 1, _is(Attrs)),
        "isBool": _lenient("isBool", 1, _is(bool)),
        "isInt": _lenient("isInt", 1, _is(int)),
        "toString": _lenient("toString", 1, _to_string),
        "concatStringsSep": _lenient("concatStringsSep", 2, _concat_strings_sep),
        "map": Primop("map", 2, _map),
        "foldl'": Primop("foldl'", 3, _foldl),
        "attrNames": _lenient("attrNames", 1, _attr_names),
        "length": _lenient("length", 1, _length),
        "toJSON": _lenient("toJSON", 1, _to_json),
        "throw": _lenient("throw", 1, _throw),
        "abort": _lenient("abort", 1, _throw),
        "import": Primop("import", 1, _import),
        "derivation": _opaque_primop("derivation", 1),
        "fetchTarball": _opaque_primop("fetchTarball", 1),
        "true": True,
        "false": False,
        "null": NULL,
    }
    return table


_GLOBALS = ("toString", "map", "import", "derivation", "fetchTarball", "throw", "abort",
            "true", "false", "null", "baseNameOf", "dirOf", "isNull", "removeAttrs")

# The nixpkgs lib functions image configs reach for, with lib's own semantics.
_LIB: dict[str, Value] = {
    "optional": _optional_of(lambda span: ListValue((), span),
                             lambda item, span: ListValue((item,), span), "optional"),
    "optionals": _optional_of(lambda span: ListValue((), span),
                              lambda items, span: items.force(), "optionals"),
    "optionalString": _optional_of(lambda span: "", lambda text, span: text.force(),
                                   "optionalString"),
    "optionalAttrs": _optional_of(lambda span: Attrs({}, {}, span),
                                  lambda attrs, span: attrs.force(), "optionalAttrs"),
    "concatStringsSep": _lenient("concatStringsSep", 2, _concat_strings_sep),
    "concatMapStringsSep": Primop("concatMapStringsSep", 3, _concat_map_strings_sep),
    "mapAttrs": Primop("mapAttrs", 2, _map_attrs),
    "mapAttrsToList": Primop("mapAttrsToList", 2, _map_attrs_to_list),
    "attrNames": _lenient("attrNames", 1, _attr_names),
    "attrValues": _lenient("attrValues", 1, _attr_values),
    "concatLists": _lenient("concatLists", 1, _concat_lists),
    "hasPrefix": _lenient("hasPrefix", 2, _has_prefix),
    "hasSuffix": _lenient("hasSuffix", 2, _has_suffix),
    "filter": Primop("filter", 2, _filter),
    "elem": _lenient("elem", 2, _elem),
    "foldl'": Primop("foldl'", 3, _foldl),
    "toInt": _lenient("toInt", 1, _to_int),
}


def global_env(extra: dict[str, Value]) -> Env:
    table = _builtins()
    builtins_set = BuiltinsSet({k: Thunk.of(v) for k, v in table.items()}, {},
                               Span("", 0, 0, 0, 0))
    env_vars = {name: Thunk.of(table[name]) for name in _GLOBALS}
    env_vars["builtins"] = Thunk.of(builtins_set)
    root = Env(env_vars)
    return Env({k: Thunk.of(v) for k, v in extra.items()}, root)


def to_python(value: Value, span: Span) -> object:
    """Deep-force a static value into JSON-like Python data (for tests and toJSON)."""
    match value:
        case Null():
            return None
        case PathValue(value=v):
            return v
        case Attrs():
            return {k: to_python(t.force(), span) for k, t in sorted(value.items.items())}
        case ListValue():
            return [to_python(t.force(), span) for t in value.items]
        case Opaque():
            raise EvalError(f"this value is {value.description}", value.span)
        case Closure() | Primop() | Builder() | ImageCall() | PulledImage() | LayerCall():
            raise EvalError(f"cannot convert {type_name(value)} to data", span)
    return value


def from_json(data: object, span: Span) -> Value:
    """JSON-like Python data (what the lock file holds) as a static value."""
    match data:
        case None:
            return NULL
        case dict():
            return Attrs({k: Thunk.of(from_json(v, span)) for k, v in data.items()},
                         {k: span for k in data}, span)
        case list():
            return ListValue(tuple(Thunk.of(from_json(v, span)) for v in data), span)
        case bool() | int() | float() | str():
            return data
    raise EvalError(f"cannot read {data!r} as a Nix value", span)


# --- finding the images ------------------------------------------------------


@dataclass(slots=True, repr=False, eq=False)
class FoundImage(ValueRecord):
    """An image of the Nixfile: where Nix finds it (``attr``) and its call."""

    attr: str | None
    call: ImageCall
    key_span: Span


_IMAGE_ATTR = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


# Deep enough for any Nixfile a person writes; Python frames, not the C stack, are spent.
_EVALUATION_DEPTH = 10_000


@contextmanager
def evaluation(span: Span) -> Iterator[None]:
    """Where static evaluation happens: absurd nesting is a located error, not a crash."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, _EVALUATION_DEPTH))
    try:
        yield
    except RecursionError:
        raise EvalError("this Nixfile nests too deeply for nixdf to evaluate", span,
                        hint="nixdf follows at most a few thousand levels of bindings and "
                        "calls; flatten the chain.") from None
    finally:
        sys.setrecursionlimit(previous)


def find_images(expr: s.Expr) -> list[FoundImage]:
    """Evaluate a Nixfile far enough to list its images, in source order.

    A Nixfile is a ``buildImage`` call, a set of them, or a function taking
    ``{ pkgs, buildImage, ... }`` that returns either; free names in the first
    two forms are the same scope the function form can ask for.
    """
    here = expr.span
    scope: dict[str, Value] = {
        "pkgs": Opaque("pkgs", here, ("pkgs",)),
        "lib": Opaque("pkgs.lib", here, ("pkgs", "lib")),
        "dockerTools": Opaque("pkgs.dockerTools", here, ("dockerTools",)),
        # nixdf's own nix2container: only its functions are known (see _select_opaque).
        NIX2CONTAINER: Opaque(NIX2CONTAINER, here, (NIX2CONTAINER,)),
    }
    # pullImage too: nixpkgs' examples take it as an argument, as they take buildImage
    # (the builder's Nix side finds it among dockerTools' attributes).
    scope.update({name: Builder(name) for name in (*BUILDERS, *WITH_NIX_DB, "pullImage")})
    top = _eval(expr, global_env(scope))
    if isinstance(top, Closure):
        top = _call_with_scope(top, scope)
    if isinstance(top, ImageCall):
        return _with_bases([FoundImage(None, top, top.span)])
    if not isinstance(top, Attrs):
        raise EvalError(
            f"a Nixfile must give a buildImage call or a set of them, not {type_name(top)}",
            here)
    found = []
    for name, thunk in top.items.items():
        value = thunk.force()
        if not isinstance(value, ImageCall):
            continue
        span = top.key_spans[name]
        if not _IMAGE_ATTR.fullmatch(name):
            raise EvalError(f"image attribute name {json.dumps(name)} cannot name a build "
                            "stage", span, hint="use letters, digits, '_' and '-'.")
        found.append(FoundImage(name, value, span))
    if not found:
        raise EvalError("this Nixfile defines no image", here,
                        hint='add an attribute such as `app = buildImage { name = "app"; };`')
    return _with_bases(found)


def _with_bases(found: list[FoundImage]) -> list[FoundImage]:
    """The images, and the bases they reach through ``fromImage`` that no attribute names.

    nixpkgs' examples build a chain of images in a ``let`` (``l1``, ``l2``, then
    ``l3 = buildImage { fromImage = l2; … }``); each such base is found where Nix finds
    it too, as ``l3``'s attribute path plus ``.fromImage`` (nixdf's builders return
    their arguments on the Nix side), so it gets a build stage of its own.
    """
    known = {id(image.call) for image in found}
    result = []
    for image in found:
        result.append(image)
        attr, call = image.attr, image.call
        while "fromImage" in call.args.items:
            base = call.args.items["fromImage"].force()
            if not isinstance(base, ImageCall) or id(base) in known:
                break
            known.add(id(base))
            attr = f"{attr}.fromImage" if attr else "fromImage"
            result.append(FoundImage(attr, base, call.args.key_spans["fromImage"]))
            call = base
    return result


def _call_with_scope(func: Closure, scope: dict[str, Value]) -> Value:
    lam = func.func
    if lam.formals is not None:
        scope = dict(scope)
        for formal in lam.formals.items:
            if formal.name not in scope and formal.default is None:
                # As callPackage does, and the builder's Nix side: pkgs.NAME.
                scope[formal.name] = Opaque(f"pkgs.{formal.name}", formal.span,
                                            ("pkgs", formal.name))
        # Only the asked-for names, unless none are named.
        wanted = {f.name for f in lam.formals.items}
        if wanted:
            scope = {k: v for k, v in scope.items() if k in wanted}
    args = Attrs({k: Thunk.of(v) for k, v in scope.items()}, {}, lam.span)
    return _call(func, Thunk.of(args), lam.span)

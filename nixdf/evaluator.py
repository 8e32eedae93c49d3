"""Static evaluation: the part of a Nixfile that must become Dockerfile text.

Nix itself evaluates the Nixfile inside the builder; this module only computes
the values nixdf writes into the Dockerfile (names, tags, config, scripts,
image-to-image references). Evaluation is lazy, as in Nix, so a package expression
nobody asks about is never looked at. Anything only Nix can know (``pkgs.redis``,
``import``, a string interpolating a store path) becomes an :class:`Opaque` value; a
stage that needs it static reports it with its location.

The values are :mod:`nixdf.values`', the builtins :mod:`nixdf.primops`'; where a
Nixfile's images are is :mod:`nixdf.evaluate`'s.
"""

from __future__ import annotations

from . import syntax as s
from .builders import BUILDERS, NIX2CONTAINER, NIX2CONTAINER_FUNCTIONS, WITH_NIX_DB
from .errors import EvalError, Span
from .primops import LIB, builder
from .values import (
    IMPORTED,
    Attrs,
    BuiltinsSet,
    Closure,
    Env,
    ImageCall,
    ListValue,
    Opaque,
    OpaqueUpdate,
    PathValue,
    Primop,
    Thunk,
    Value,
    coerce_to_string,
    equal,
    expect,
    register_evaluator,
    type_name,
)


def eval_expr(expr: s.Expr, env: Env) -> Value:
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
            return _lookup(env, name, expr.span)
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
            value = eval_expr(expr.expr, env)
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
            return eval_expr(expr.body, scope)
        case s.With():
            return eval_expr(expr.body, Env({}, env, Thunk(expr.env, env)))
        case s.Assert():
            cond = eval_expr(expr.cond, env)
            if cond is False:
                raise EvalError("assertion failed", expr.cond.span)
            return eval_expr(expr.body, env)
        case s.If():
            cond = eval_expr(expr.cond, env)
            if isinstance(cond, Opaque):
                return Opaque("a conditional on a value only Nix knows", expr.span)
            if not isinstance(cond, bool):
                raise EvalError(f"'if' needs a Boolean, got {type_name(cond)}", expr.cond.span)
            return eval_expr(expr.then if cond else expr.else_, env)
        case s.Lambda():
            return Closure(expr, env)
        case s.Apply():
            return apply(eval_expr(expr.func, env), Thunk(expr.arg, env), expr.span)
        case s.UnaryOp(op="!"):
            value = eval_expr(expr.operand, env)
            if isinstance(value, Opaque):
                return value
            return not expect(value, bool, expr.operand.span)
        case s.UnaryOp():
            value = eval_expr(expr.operand, env)
            if isinstance(value, Opaque):
                return value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise EvalError(f"cannot negate {type_name(value)}", expr.operand.span)
            return -value
        case s.BinOp():
            return _eval_binop(expr, env)
    raise AssertionError(f"unhandled syntax node {type(expr).__name__}")


def _lookup(start: Env, name: str, span: Span) -> Value:
    """A name: the innermost binding, else the innermost `with` set that has it."""
    env: Env | None = start
    while env is not None:
        if name in env.vars:
            return env.vars[name].force()
        env = env.parent
    env = start
    while env is not None:
        if env.with_value is not None:
            scope = env.with_value.force()
            if isinstance(scope, Attrs) and name in scope.items:
                return scope.items[name].force()
            if isinstance(scope, Opaque):
                return _select_opaque(scope, name, span)
        env = env.parent
    raise EvalError(f"undefined variable '{name}'", span)


def _eval_string(expr: s.Str, env: Env) -> Value:
    out: list[str] = []
    for part in expr.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = eval_expr(part, env)
        if isinstance(value, Opaque):
            return Opaque(f"a string interpolating {value.description}", part.span)
        out.append(coerce_to_string(value, part.span, interpolation=True))
    return "".join(out)


def _key_name(key: s.Key, env: Env) -> str:
    if isinstance(key, s.StaticKey):
        return key.name
    value = eval_expr(key.expr, env)
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
    value = eval_expr(expr.expr, env)
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
            return eval_expr(expr.default, env)
        if isinstance(value, Attrs):
            raise EvalError(f"attribute '{name}' missing", key.span)
        raise EvalError(f"cannot select '{name}' from {type_name(value)}", key.span)
    return value


def _select_opaque(value: Opaque, name: str, span: Span) -> Value:
    if isinstance(value, OpaqueUpdate) and value.update and name in value.update.items:
        return value.update.items[name].force()
    path = (*value.path, name)
    # What an import gives is a package set here: its dockerTools and lib are nixdf's.
    known = ("pkgs", *path[1:]) if path[0] == IMPORTED else path
    # pkgs.lib.optional, lib.strings.optionalString, `with lib; …`: nixpkgs' lib.
    if known[:2] == ("pkgs", "lib") and len(known) in (3, 4) and name in LIB:
        return LIB[name]
    if known[-1] in (*BUILDERS, *WITH_NIX_DB, "pullImage") and known[:-1] in (
        ("pkgs", "dockerTools"),
        ("dockerTools",),
    ):
        return builder(known[-1])
    if path[:-1] == (NIX2CONTAINER,) and name in NIX2CONTAINER_FUNCTIONS:
        return builder(f"{NIX2CONTAINER}.{name}")
    if path[0] == IMPORTED:
        return Opaque(f"{'.'.join(path[1:])} from an import", span, path)
    if value.path:
        return Opaque(".".join(path), span, path)
    return Opaque(f"an attribute of {value.description}", span)


def apply(func: Value, arg: Thunk, span: Span) -> Value:
    if isinstance(func, Closure):
        return call(func, arg, span)
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


def call(func: Closure, arg: Thunk, span: Span) -> Value:
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
    return eval_expr(lam.body, scope)


def _eval_binop(expr: s.BinOp, env: Env) -> Value:
    op = expr.op
    if op in ("&&", "||", "->"):
        left = eval_expr(expr.left, env)
        if isinstance(left, Opaque):
            return Opaque("a Boolean only Nix knows", expr.span)
        expect(left, bool, expr.left.span)
        if (op == "&&" and not left) or (op == "||" and left) or (op == "->" and not left):
            return op != "&&"
        right = eval_expr(expr.right, env)
        return right if isinstance(right, Opaque) else expect(right, bool, expr.right.span)
    if op == "|>":
        return apply(eval_expr(expr.right, env), Thunk(expr.left, env), expr.span)
    if op == "<|":
        return apply(eval_expr(expr.left, env), Thunk(expr.right, env), expr.span)
    left, right = eval_expr(expr.left, env), eval_expr(expr.right, env)
    if op in ("==", "!="):
        if isinstance(left, Opaque) or isinstance(right, Opaque):
            return Opaque("a comparison with a value only Nix knows", expr.span)
        same = equal(left, right)
        return same if op == "==" else not same
    if op == "//" and isinstance(left, Opaque) and isinstance(right, Attrs):
        return OpaqueUpdate(left.description, left.span, left.path, right)
    for side in (left, right):
        if isinstance(side, Opaque):
            return Opaque(side.description, side.span)
    if op == "+":
        if isinstance(left, str | PathValue):
            text = coerce_to_string(left, expr.left.span) + coerce_to_string(
                right, expr.right.span, interpolation=True)
            return PathValue(text) if isinstance(left, PathValue) else text
        return _arith(op, left, right, expr)
    if op == "++":
        expect(left, ListValue, expr.left.span)
        expect(right, ListValue, expr.right.span)
        assert isinstance(left, ListValue) and isinstance(right, ListValue)
        return ListValue(left.items + right.items, expr.span)
    if op == "//":
        if isinstance(left, ImageCall) and isinstance(right, Attrs):
            # `buildLayeredImage { … } // { passthru = …; }` (as nixpkgs' examples write it)
            # adds attributes to the image's derivation; the image itself is the same.
            return left
        expect(left, Attrs, expr.left.span)
        expect(right, Attrs, expr.right.span)
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


# --- builtins ----------------------------------------------------------------


# --- finding the images ------------------------------------------------------


register_evaluator(eval_expr)

"""Nix's builtins and the nixpkgs lib functions image configs reach for, as far as nixdf
evaluates them: each with Nix's own semantics, and an :class:`Opaque` result where an
argument is only Nix's to know.

A builtin calls a function it is given (map's, filter's) the way the Nixfile would: an
application in a small scope of its own, forced through the evaluator like any thunk, so
that this module needs only the values, not the evaluator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from . import syntax as s
from .builders import NIX2CONTAINER
from .errors import EvalError, Span
from .values import (
    IMPORTED,
    NULL,
    Attrs,
    BuiltinsSet,
    Env,
    ImageCall,
    LayerCall,
    ListValue,
    Null,
    Opaque,
    PathValue,
    Primop,
    PulledImage,
    Thunk,
    Value,
    coerce_to_string,
    equal,
    expect,
    to_python,
    type_name,
)


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
    return coerce_to_string(args[0], span)


def _concat_strings_sep(args: list[Value], span: Span) -> Value:
    sep, items = args
    expect(items, ListValue, span)
    assert isinstance(items, ListValue)
    parts = [i.force() for i in items.items]
    for part in parts:
        if isinstance(part, Opaque):
            return Opaque(f"a string joining {part.description}", span)
    return coerce_to_string(sep, span).join(coerce_to_string(p, span) for p in parts)


def _map(args: list[Thunk], span: Span) -> Value:
    func, items = args[0].force(), args[1].force()
    if isinstance(items, Opaque):
        return Opaque(f"a list mapped over {items.description}", span)
    expect(items, ListValue, span)
    assert isinstance(items, ListValue)
    return ListValue(tuple(_apply_later(func, i, span) for i in items.items), span)


def _apply_later(func: Value, arg: Thunk, span: Span) -> Thunk:
    """``func arg``, evaluated only when forced (map is lazy in its elements)."""
    env = Env({"f": Thunk.of(func), "x": arg})
    return Thunk(s.Apply(s.Ident("f", span), s.Ident("x", span), span), env)


def _attr_names(args: list[Value], span: Span) -> Value:
    attrs = expect(args[0], Attrs, span)
    assert isinstance(attrs, Attrs)
    return ListValue(tuple(Thunk.of(k) for k in sorted(attrs.items)), span)


def _length(args: list[Value], span: Span) -> Value:
    items = expect(args[0], ListValue, span)
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
    expect(items, ListValue, span)
    assert isinstance(items, ListValue)
    acc = args[1]
    for item in items.items:
        acc = Thunk.of(_call2(op, acc, item, span).force())
    return acc.force()


def _to_int(args: list[Value], span: Span) -> Value:
    # lib.toInt: decimal digits, optionally signed and surrounded by whitespace.
    text = coerce_to_string(args[0], span)
    if not re.fullmatch(r"\s*-?(0|[1-9][0-9]*)\s*", text):
        raise EvalError(f"lib.toInt: could not convert {text!r} to an integer", span)
    return int(text)


def _throw(args: list[Value], span: Span) -> Value:
    raise EvalError(f"evaluation aborted: {coerce_to_string(args[0], span)}", span)


def _condition(thunk: Thunk, span: Span) -> bool | Opaque:
    cond = thunk.force()
    if isinstance(cond, Opaque):
        return cond
    expect(cond, bool, span)
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
    expect(value, Attrs, span)
    assert isinstance(value, Attrs)
    return value


def _list_of(value: Value, span: Span) -> ListValue:
    expect(value, ListValue, span)
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
        verdict = _apply_later(func, item, span).force()
        if isinstance(verdict, Opaque):
            return Opaque(f"a list filtered by {verdict.description}", span)
        if expect(verdict, bool, span):
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
    expect(index, int, span)
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
    return any(equal(needle, i.force()) for i in _list_of(items, span).items)


def _has_attr(args: list[Value], span: Span) -> Value:
    name, attrs = args
    return coerce_to_string(name, span) in _attrs_of(attrs, span).items


def _get_attr(args: list[Value], span: Span) -> Value:
    name, attrs = coerce_to_string(args[0], span), _attrs_of(args[1], span)
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
        result.items.setdefault(coerce_to_string(name, span), pair.items["value"])
        result.key_spans.setdefault(coerce_to_string(name, span), span)
    return result


def _replace_strings(args: list[Value], span: Span) -> Value:
    old = [coerce_to_string(i.force(), span) for i in _list_of(args[0], span).items]
    new = [coerce_to_string(i.force(), span) for i in _list_of(args[1], span).items]
    text = coerce_to_string(args[2], span)
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
    return coerce_to_string(args[1], span).startswith(coerce_to_string(args[0], span))


def _has_suffix(args: list[Value], span: Span) -> Value:
    return coerce_to_string(args[1], span).endswith(coerce_to_string(args[0], span))


def _is(kind: type) -> Callable[[list[Value], Span], Value]:
    def check(args: list[Value], span: Span) -> Value:
        return isinstance(args[0], kind) and not (kind is int and isinstance(args[0], bool))
    return check


def _base_name_of(args: list[Value], span: Span) -> Value:
    return coerce_to_string(args[0], span).rstrip("/").rsplit("/", 1)[-1]


def _dir_of(args: list[Value], span: Span) -> Value:
    text = coerce_to_string(args[0], span)
    head = text.rstrip("/").rsplit("/", 1)[0] if "/" in text.rstrip("/") else "."
    result = head or "/"
    return PathValue(result) if isinstance(args[0], PathValue) else result


def _remove_attrs(args: list[Value], span: Span) -> Value:
    attrs = _attrs_of(args[0], span)
    drop = {coerce_to_string(i.force(), span) for i in _list_of(args[1], span).items}
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
LIB: dict[str, Value] = {
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


# One primop per builder, made when first reached: `pkgs.dockerTools.buildImage` and the
# `buildImage` a Nixfile's function takes are one function, equal as Nix would have them.
_BUILDERS: dict[str, Primop] = {}


def builder(name: str) -> Primop:
    """``buildImage`` and friends (dockerTools', nix2container's), however they were reached:
    a primop whose application is the image: the call, a pulled image or a layer, with its
    argument set, which spec.py reads."""
    if name not in _BUILDERS:
        _BUILDERS[name] = Primop(name, 1, lambda args, span: _build(name, args[0], span))
    return _BUILDERS[name]


def _build(name: str, arg: Thunk, span: Span) -> Value:
    if name == f"{NIX2CONTAINER}.pullImageFromManifest":
        raise EvalError(
            "nix2container.pullImageFromManifest is not supported yet", span,
            hint="use nix2container.pullImage { imageName; imageDigest; sha256; }: nixdf "
            "writes it as FROM imageName@imageDigest.")
    args = arg.force()
    if not isinstance(args, Attrs):
        raise EvalError(f"{name} takes an attribute set, got {type_name(args)}", span)
    if name in ("pullImage", f"{NIX2CONTAINER}.pullImage"):
        return PulledImage(args, span, name)
    if name == f"{NIX2CONTAINER}.buildLayer":
        return LayerCall(args, span)
    return ImageCall(name, args, span)

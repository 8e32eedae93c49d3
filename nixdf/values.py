"""The values of nixdf's static Nix evaluation, and what can be said of a value alone: its
type's name, its truth as data (JSON in and out), equality, coercion to a string.

The lowest of the evaluator's modules: the builtins (:mod:`nixdf.primops`) make values
and the evaluator (:mod:`nixdf.evaluator`) uses both. A thunk is forced by the evaluator,
which registers itself here (:func:`register_evaluator`) so that this module need not
import it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from . import syntax as s
from .errors import EvalError, NeedsLockError, Span
from .record import Record, ValueRecord


def _unregistered(expr: s.Expr, env: Env) -> Value:
    raise AssertionError("nixdf.evaluator registers the evaluator when it is imported")


_evaluate: Callable[[s.Expr, Env], Value] = _unregistered


def register_evaluator(evaluate: Callable[[s.Expr, Env], Value]) -> None:
    """How a thunk's expression becomes a value: nixdf.evaluator's eval_expr."""
    global _evaluate
    _evaluate = evaluate


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
            self.value = _evaluate(self.expr, self.env)
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
    str, bool, int, float, Null, PathValue, Attrs, ListValue, Closure, Primop,
    ImageCall, PulledImage, LayerCall, Opaque,
]


@dataclass(slots=True, repr=False, eq=False)
class Env(Record):
    """A scope: its bindings, the enclosing scope, and the set of a ``with``."""

    vars: dict[str, Thunk]
    parent: Env | None = None
    # A `with` scope: consulted only when no lexical binding matches.
    with_value: Thunk | None = None


_TYPE_NAMES: dict[type, str] = {
    bool: "a Boolean", str: "a string", int: "an integer", float: "a float",
    Null: "null", PathValue: "a path", Attrs: "a set", ListValue: "a list",
    Closure: "a function", Primop: "a function",
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


def expect(value: Value, kind: type, span: Span) -> Value:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EvalError(f"expected {kind_name(kind)}, got {type_name(value)}", span)
    return value


def coerce_to_string(value: Value, span: Span, *, interpolation: bool = False) -> str:
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
            return " ".join(coerce_to_string(i.force(), span) for i in value.items)
    raise EvalError(f"cannot coerce {type_name(value)} to a string", span)


# The root of what `import` gives: maybe a package set (`import <nixpkgs> {}`, a pinned
# fetchTarball, niv's sources.nixpkgs), whose dockerTools builders and lib are nixdf's, as
# the builder's Nix side makes them (templates/lib.nix).
IMPORTED = "<import>"


def equal(a: Value, b: Value) -> bool:
    if isinstance(a, Attrs) and isinstance(b, Attrs):
        return a.items.keys() == b.items.keys() and all(
            equal(a.items[k].force(), b.items[k].force()) for k in a.items)
    if isinstance(a, ListValue) and isinstance(b, ListValue):
        return len(a.items) == len(b.items) and all(
            equal(x.force(), y.force()) for x, y in zip(a.items, b.items, strict=True))
    return type(a) is type(b) and a == b


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
        case Closure() | Primop() | ImageCall() | PulledImage() | LayerCall():
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


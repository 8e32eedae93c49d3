"""The Nix abstract syntax tree: frozen dataclasses, each node with its span.

The parser builds these and nothing else leaves it; later stages (the static
evaluator, the spec builder) only ever see these nodes. Strings arrive with
escapes resolved and indented strings already stripped the way Nix strips them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Span


@dataclass(frozen=True, slots=True)
class Int:
    """``42``: a 64-bit integer."""

    value: int
    span: Span


@dataclass(frozen=True, slots=True)
class Float:
    """``1.5``, ``.5``, ``1e3``."""

    value: float
    span: Span


@dataclass(frozen=True, slots=True)
class Str:
    """A string; ``parts`` alternate literal text and interpolated expressions."""

    parts: tuple[str | Expr, ...]
    span: Span
    indented: bool = False


@dataclass(frozen=True, slots=True)
class Path:
    """``./a``, ``/a``, ``~/a``, ``a/b``; ``parts`` as in :class:`Str`."""

    parts: tuple[str | Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class SearchPath:
    """``<nixpkgs>``; ``name`` without the angle brackets."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Uri:
    """``https://example.org/x``: an unquoted URI, a string."""

    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Ident:
    """A variable: ``pkgs``."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class StaticKey:
    """An attribute name known at parse time: ``a`` or ``"a"``."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class DynamicKey:
    """An attribute name computed at evaluation time: ``${e}`` or ``"a${e}"``."""

    expr: Expr
    span: Span


Key = StaticKey | DynamicKey


@dataclass(frozen=True, slots=True)
class Binding:
    """``a.b.c = value;``"""

    path: tuple[Key, ...]
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Inherit:
    """``inherit a b;`` or ``inherit (source) a b;``"""

    source: Expr | None
    names: tuple[Key, ...]
    span: Span


Bind = Binding | Inherit


@dataclass(frozen=True, slots=True)
class AttrSet:
    """``{ a = 1; }`` or, with ``recursive``, ``rec { ... }``."""

    bindings: tuple[Bind, ...]
    recursive: bool
    span: Span


@dataclass(frozen=True, slots=True)
class List:
    """``[ a b ]``."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Select:
    """``expr.a.b`` or ``expr.a.b or default``."""

    expr: Expr
    path: tuple[Key, ...]
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class HasAttr:
    """``expr ? a.b``"""

    expr: Expr
    path: tuple[Key, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Let:
    """``let bindings in body``."""

    bindings: tuple[Bind, ...]
    body: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class With:
    """``with env; body``."""

    env: Expr
    body: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Assert:
    """``assert cond; body``."""

    cond: Expr
    body: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    """``if cond then a else b``."""

    cond: Expr
    then: Expr
    else_: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Formal:
    """One argument of a ``{ ... }:`` function, with its default if it has one."""

    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Formals:
    """The ``{ a, b ? 1, ... }`` of a function; ``ellipsis`` for ``...``."""

    items: tuple[Formal, ...]
    ellipsis: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Lambda:
    """``x: body``, ``{ a, b ? 1, ... }: body``, or with an ``@`` name (``param``)."""

    param: str | None
    formals: Formals | None
    body: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Apply:
    """``func arg``: one argument; ``f a b`` is ``Apply(Apply(f, a), b)``."""

    func: Expr
    arg: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    """``op`` is the Nix spelling: + - * / ++ // == != < <= > >= && || -> |> <|"""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class UnaryOp:
    """``op`` is ``-`` or ``!``."""

    op: str
    operand: Expr
    span: Span


Expr = (
    Int | Float | Str | Path | SearchPath | Uri | Ident | AttrSet | List | Select | HasAttr
    | Let | With | Assert | If | Lambda | Apply | BinOp | UnaryOp
)

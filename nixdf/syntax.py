"""The Nix abstract syntax tree: slotted dataclasses, each node with its span.

The parser builds these and nothing else leaves it; later stages (the static
evaluator, the spec builder) only ever see these nodes. Strings arrive with
escapes resolved and indented strings already stripped the way Nix strips them.

Two choices are about speed, measured with the corpus benchmark and a cold
``nixdf render``. Nodes are never changed once built, yet they are not
``frozen``: a frozen dataclass sets each field through ``object.__setattr__``,
which made a node two and a half times dearer to build, and the parser builds
one for nearly every token. And equality and repr come from :class:`Node`
rather than from ``@dataclass``, which compiles every method it makes for
every class, on every start.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import Span


class Node:
    """What every node shares: equality and a repr, field by field."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))  # type: ignore[arg-type]
        return f"{type(self).__name__}({shown})"


@dataclass(slots=True, repr=False, eq=False)
class Int(Node):
    """``42``: a 64-bit integer."""

    value: int
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Float(Node):
    """``1.5``, ``.5``, ``1e3``."""

    value: float
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Str(Node):
    """A string; ``parts`` alternate literal text and interpolated expressions."""

    parts: tuple[str | Expr, ...]
    span: Span
    indented: bool = False


@dataclass(slots=True, repr=False, eq=False)
class Path(Node):
    """``./a``, ``/a``, ``~/a``, ``a/b``; ``parts`` as in :class:`Str`."""

    parts: tuple[str | Expr, ...]
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class SearchPath(Node):
    """``<nixpkgs>``; ``name`` without the angle brackets."""

    name: str
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Uri(Node):
    """``https://example.org/x``: an unquoted URI, a string."""

    value: str
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Ident(Node):
    """A variable: ``pkgs``."""

    name: str
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class StaticKey(Node):
    """An attribute name known at parse time: ``a`` or ``"a"``."""

    name: str
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class DynamicKey(Node):
    """An attribute name computed at evaluation time: ``${e}`` or ``"a${e}"``."""

    expr: Expr
    span: Span


Key = StaticKey | DynamicKey


@dataclass(slots=True, repr=False, eq=False)
class Binding(Node):
    """``a.b.c = value;``"""

    path: tuple[Key, ...]
    value: Expr
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Inherit(Node):
    """``inherit a b;`` or ``inherit (source) a b;``"""

    source: Expr | None
    names: tuple[Key, ...]
    span: Span


Bind = Binding | Inherit


@dataclass(slots=True, repr=False, eq=False)
class AttrSet(Node):
    """``{ a = 1; }`` or, with ``recursive``, ``rec { ... }``."""

    bindings: tuple[Bind, ...]
    recursive: bool
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class List(Node):
    """``[ a b ]``."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Select(Node):
    """``expr.a.b`` or ``expr.a.b or default``."""

    expr: Expr
    path: tuple[Key, ...]
    default: Expr | None
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class HasAttr(Node):
    """``expr ? a.b``"""

    expr: Expr
    path: tuple[Key, ...]
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Let(Node):
    """``let bindings in body``."""

    bindings: tuple[Bind, ...]
    body: Expr
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class With(Node):
    """``with env; body``."""

    env: Expr
    body: Expr
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Assert(Node):
    """``assert cond; body``."""

    cond: Expr
    body: Expr
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class If(Node):
    """``if cond then a else b``."""

    cond: Expr
    then: Expr
    else_: Expr
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Formal(Node):
    """One argument of a ``{ ... }:`` function, with its default if it has one."""

    name: str
    default: Expr | None
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Formals(Node):
    """The ``{ a, b ? 1, ... }`` of a function; ``ellipsis`` for ``...``."""

    items: tuple[Formal, ...]
    ellipsis: bool
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Lambda(Node):
    """``x: body``, ``{ a, b ? 1, ... }: body``, or with an ``@`` name (``param``)."""

    param: str | None
    formals: Formals | None
    body: Expr
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class Apply(Node):
    """``func arg``: one argument; ``f a b`` is ``Apply(Apply(f, a), b)``."""

    func: Expr
    arg: Expr
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class BinOp(Node):
    """``op`` is the Nix spelling: + - * / ++ // == != < <= > >= && || -> |> <|"""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(slots=True, repr=False, eq=False)
class UnaryOp(Node):
    """``op`` is ``-`` or ``!``."""

    op: str
    operand: Expr
    span: Span


Expr = (
    Int | Float | Str | Path | SearchPath | Uri | Ident | AttrSet | List | Select | HasAttr
    | Let | With | Assert | If | Lambda | Apply | BinOp | UnaryOp
)

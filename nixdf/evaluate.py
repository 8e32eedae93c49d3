"""The Nixfile's convention: where its images are, and the scope its expression sees.

A Nixfile is a ``buildImage`` call, a set of them, or a function taking
``{ pkgs, buildImage, ... }`` that returns either. :func:`find_images` evaluates it
(:mod:`nixdf.evaluator`) far enough to list them, in source order.

The values (:mod:`nixdf.values`) are re-exported: the stages after evaluation take them
from here.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from . import syntax as s
from .builders import BUILDERS, NIX2CONTAINER, WITH_NIX_DB
from .errors import EvalError, Span
from .evaluator import call, eval_expr
from .primops import builder, global_env
from .record import ValueRecord
from .values import (
    NULL,
    Attrs,
    Closure,
    ImageCall,
    LayerCall,
    ListValue,
    Opaque,
    PathValue,
    PulledImage,
    Thunk,
    Value,
    force_static,
    from_json,
    to_python,
    type_name,
)

__all__ = [
    "NULL", "Attrs", "FoundImage", "ImageCall", "LayerCall", "ListValue", "Opaque", "PathValue",
    "PulledImage", "Thunk", "Value", "evaluation", "find_images", "force_static", "from_json",
    "to_python", "type_name",
]


@dataclass(slots=True, repr=False, eq=False)
class FoundImage(ValueRecord):
    """An image of the Nixfile: where Nix finds it (``attr``) and its call."""

    attr: str | None
    call: ImageCall
    key_span: Span
    # The call as evaluation made it, where ``call`` reads the lock's values instead
    # (lockfile.apply_lock): the one other images' fromImage reach.
    origin: ImageCall | None = None

    @property
    def evaluated(self) -> ImageCall:
        """The call as evaluation made it."""
        return self.origin or self.call


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
        # nixdf's own nix2container: only its functions are known (see nixdf.evaluator).
        NIX2CONTAINER: Opaque(NIX2CONTAINER, here, (NIX2CONTAINER,)),
    }
    # pullImage too: nixpkgs' examples take it as an argument, as they take buildImage
    # (the builder's Nix side finds it among dockerTools' attributes).
    scope.update({name: builder(name) for name in (*BUILDERS, *WITH_NIX_DB, "pullImage")})
    top = eval_expr(expr, global_env(scope))
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
    return call(func, Thunk.of(args), lam.span)


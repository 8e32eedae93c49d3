"""Store paths into image layers, the way the layered dockerTools builders do it.

Two strategies, both under a budget of store layers (the customisation layer is
not counted here):

``auto`` (nixpkgs' default since its auto-layer, NixOS/nixpkgs#355189): the
largest paths each lead a layer of their own, which also takes the dependencies
used by nothing outside that path's own closure; dependencies shared by several
leaders get a layer per set of leaders sharing them. Closures hold a few large
paths and many small ones, so isolating the large ones is what lets other images
and other versions share the most bytes.

``popularity`` (nixpkgs' ``referencesByPopularity``, the default before): each
path ranks by how many paths of the closure depend on it, directly or not; the
most depended-upon (libc, the shells' runtime) are the most likely to be shared
and to stay the same across versions, so each of the first ``budget - 1`` gets a
layer of its own and the rest share the last one.

Ties go to the name (the part after the hash), never to the hash, so the same
closure always gives the same layers and a rebuilt path keeps its place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = ["STRATEGIES", "StorePath", "auto_layer", "by_popularity", "split"]


@dataclass(frozen=True, slots=True)
class StorePath:
    """One path of a closure, as ``nix path-info`` reports it."""

    path: str
    nar_size: int
    references: tuple[str, ...]


def split(closure: Sequence[StorePath], budget: int, strategy: str) -> list[list[str]]:
    """The closure's paths in at most ``budget`` layers, ``strategy`` one of STRATEGIES."""
    if budget < 1:
        raise ValueError("a layer budget is at least 1")
    return STRATEGIES[strategy](closure, budget)


def by_popularity(closure: Sequence[StorePath], budget: int) -> list[list[str]]:
    """Most depended-upon first, each alone, the rest together in the last layer."""
    references = _references(closure)
    count = _depended_on(references)
    ranked = sorted(references, key=lambda p: (-count[p], _name(p), p))
    if len(ranked) <= budget:
        return [[path] for path in ranked]
    alone = budget - 1
    return [[path] for path in ranked[:alone]] + [sorted(ranked[alone:], key=_order)]


def auto_layer(closure: Sequence[StorePath], budget: int) -> list[list[str]]:
    """Largest paths first, each leading a layer with the dependencies only it uses."""
    references = _references(closure)
    users: dict[str, set[str]] = {path: set() for path in references}
    for path, referred in references.items():
        for dependency in referred:
            users[dependency].add(path)
    size = {entry.path: entry.nar_size for entry in closure}
    # Each path is keyed by the set of leaders whose layer it belongs to; paths
    # with the same key share a layer. At first there is no leader: one layer.
    key: dict[str, frozenset[str]] = dict.fromkeys(references, frozenset())
    for leader in sorted(references, key=lambda p: (-size[p], _name(p), p)):
        below = _walk(leader, references.__getitem__) - {leader}
        above = _walk(leader, users.__getitem__) - {leader}
        trial = dict(key)
        trial[leader] = frozenset({leader})
        for dependency in below:
            # Leaders above this one no longer claim it: they reach it through it.
            kept = trial[dependency] - above
            if not kept & below:
                kept |= {leader}
            trial[dependency] = kept
        if len(set(trial.values())) > budget:
            break
        key = trial
    layers: dict[frozenset[str], list[str]] = {}
    for path in references:
        layers.setdefault(key[path], []).append(path)
    depended_on = _depended_on(references)
    closure_size = {
        k: sum(size[p] for p in set().union(*(_walk(p, references.__getitem__) for p in paths)))
        for k, paths in layers.items()}
    # Most depended-upon first, by the member fewest paths depend on: what many paths
    # use changes least, and without COPY --link a changed layer rebuilds every layer
    # after it. Then the smallest closure first, so a layer follows those it uses.
    ordered = sorted(layers, key=lambda k: (-min(depended_on[p] for p in layers[k]),
                                            closure_size[k], sorted(map(_order, layers[k]))))
    return [sorted(layers[k], key=_order) for k in ordered]


STRATEGIES: dict[str, Callable[[Sequence[StorePath], int], list[list[str]]]] = {
    "auto": auto_layer,
    "popularity": by_popularity,
}


def _references(closure: Sequence[StorePath]) -> dict[str, tuple[str, ...]]:
    # Self-references and paths outside the closure take no part in the layering.
    paths = {entry.path for entry in closure}
    return {entry.path: tuple(r for r in entry.references if r in paths and r != entry.path)
            for entry in closure}


def _depended_on(references: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """How many other paths of the closure depend on each path, directly or not."""
    count = dict.fromkeys(references, 0)
    for path in references:
        for reached in _walk(path, references.__getitem__) - {path}:
            count[reached] += 1
    return count


def _walk(start: str, step: Callable[[str], Iterable[str]]) -> set[str]:
    """``start`` and every path reached from it by ``step``."""
    seen = {start}
    stack = [start]
    while stack:
        for reached in step(stack.pop()):
            if reached not in seen:
                seen.add(reached)
                stack.append(reached)
    return seen


def _name(path: str) -> str:
    # /nix/store/<hash>-name: order by name, not by hash, so a rebuilt path keeps its place.
    return path.rsplit("/", 1)[-1].partition("-")[2]


def _order(path: str) -> tuple[str, str]:
    return _name(path), path

"""Store paths into image layers, the way the layered dockerTools builders do it.

nixpkgs' ``referencesByPopularity`` ranks each path of the closure by how many
paths of the closure depend on it, directly or not: the most depended-upon
(libc, the shells' runtime) are the most likely to be shared with other images
and to stay the same across versions, so each of the first ``budget - 1`` gets
a layer of its own, and the rest share the last one. Ties go to the name, so
that the same closure always gives the same layers: one changed path moves no
other path to another layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["by_popularity"]


def by_popularity(references: Mapping[str, Sequence[str]], budget: int) -> list[list[str]]:
    """The closure's paths (keys; values: what each refers to) in at most ``budget`` layers."""
    if budget < 1:
        raise ValueError("a layer budget is at least 1")
    depending: dict[str, set[str]] = {path: {path} for path in references}
    # Walk from each path through what it refers to: every path reached depends-on-ly
    # counts it. Closures are small (hundreds of paths), so a walk per path is cheap.
    for path in references:
        seen = {path}
        stack = [path]
        while stack:
            for referred in references.get(stack.pop(), ()):
                if referred in references and referred not in seen:
                    seen.add(referred)
                    depending[referred].add(path)
                    stack.append(referred)
    ranked = sorted(references, key=lambda p: (-len(depending[p]), _name(p), p))
    if len(ranked) <= budget:
        return [[path] for path in ranked]
    alone = budget - 1
    return [[path] for path in ranked[:alone]] + [sorted(ranked[alone:])]


def _name(path: str) -> str:
    # /nix/store/<hash>-name: order by name, not by hash, so a rebuilt path keeps its place.
    return path.rsplit("/", 1)[-1].partition("-")[2]

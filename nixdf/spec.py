"""From evaluated ``buildImage`` calls to image specs: plain, checked data.

Every value that will become Dockerfile text is forced here, statically, and checked for
shape; anything else is Nix's business in the builder. Each builder family has its module
(:mod:`nixdf.dockertools`, :mod:`nixdf.nix2container`), the config its own
(:mod:`nixdf.imageconfig`), and what an instruction can carry is :mod:`nixdf.vocabulary`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from .arguments import not_a_package_hint as not_a_package_hint
from .arguments import value_span
from .builders import NIX2CONTAINER, WITH_NIX_DB
from .dockertools import dockertools_spec
from .errors import SpecError
from .evaluate import FoundImage, ImageCall
from .image import Healthcheck as Healthcheck  # the spec's data, as plan and render read it
from .image import ImageConfig as ImageConfig
from .image import ImageSpec
from .nix2container import nix2container_spec
from .vocabulary import REFERENCE as REFERENCE


def to_specs(images: Sequence[FoundImage]) -> list[ImageSpec]:
    """Check each image's arguments and config; values become plain tuples and strings."""
    by_call = {id(found.evaluated): found.attr for found in images}
    return [_to_spec(found, by_call) for found in images]


def name_clash(images: Sequence[FoundImage], specs: Sequence[ImageSpec]) -> SpecError | None:
    """Two images under one name:tag: the engine keeps one image by that name, so building
    both would replace one with the other, without a word. Not an error of the Nixfile
    itself (nixpkgs' dockerTools examples name two images alike): building either one alone
    is fine. The same call reached by two attributes is one image, built twice alike."""
    first: dict[str, FoundImage] = {}
    for found, spec in zip(images, specs, strict=True):
        reference = f"{spec.name}:{spec.tag}"
        earlier = first.setdefault(reference, found)
        if earlier.call is found.call:
            continue
        before = value_span(earlier.call.args, "name")
        return SpecError(f"the images {_shown(earlier.attr)} and {_shown(found.attr)} are both "
                         f"named {reference}", value_span(found.call.args, "name"),
                         hint=f"{_shown(earlier.attr)} is named at {before}; building both would "
                         "leave the engine one image of that name. Build one at a time with "
                         "--target (and -t for another name), or give each image its own name "
                         "or tag.")
    return None


def _shown(attr: str | None) -> str:
    return attr if attr is not None else "(the Nixfile's own)"


def _to_spec(found: FoundImage, by_call: dict[int, str | None]) -> ImageSpec:
    if found.call.builder.startswith(f"{NIX2CONTAINER}."):
        return nix2container_spec(found, by_call)
    return dockertools_spec(found, by_call)


def records_closure(call: ImageCall) -> bool:
    """Whether the lock records the image's closure, which its layers are split from: the
    layered builders', and a nix2container image's with a maxLayers above 1."""
    if call.builder.startswith(f"{NIX2CONTAINER}."):
        layers = call.args.items.get("maxLayers")
        value = layers.force() if layers is not None else 1
        return isinstance(value, int) and not isinstance(value, bool) and value > 1
    return WITH_NIX_DB.get(call.builder, call.builder) != "buildImage"



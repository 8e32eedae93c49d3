"""nix2container's images (nlewo/nix2container): ``buildImage`` and its explicit layers
(``buildLayer``), perms, and the store split by popularity; no scripts."""

from __future__ import annotations

import re

from .arguments import (
    base_image,
    check_arguments,
    described,
    did_you_mean,
    flag,
    id_number,
    image_platform,
    name_and_tag,
    optional_string,
    packages_only,
    span_of,
    static,
    timestamp,
    value_span,
)
from .builders import NIX2CONTAINER
from .errors import Span, SpecError
from .evaluate import NULL, Attrs, FoundImage, LayerCall, ListValue, Opaque, type_name
from .image import NIX2CONTAINER_CREATED, ImageSpec
from .imageconfig import image_config

# buildLayer's; `reproducible` and `metadata` shape only how nix2container writes the layer
# (a tar kept in the store, the layer's history entry): accepted, they change nothing here.
_LAYER_ARGUMENTS = ("deps", "copyToRoot", "contents", "ignore", "layers", "reproducible",
                    "perms", "maxLayers", "metadata")


_PERM_KEYS = ("path", "regex", "mode", "orMode", "uid", "gid", "uname", "gname")


def nix2container_spec(found: FoundImage, by_call: dict[int, str | None]) -> ImageSpec:
    """nix2container.buildImage: copyToRoot lands at / as it is (symlinks kept), its closure
    and the config's store paths in /nix/store; explicit layers below; no scripts."""
    call = found.call
    args = call.args
    check_arguments(call, call.builder)
    name, tag = name_and_tag(call)
    packages_only(args)
    from_image, from_attr = base_image(args, by_call, found.evaluated)
    layers = _explicit_layers(args)
    _check_perms(args, call.builder)
    created = (0 if optional_string(args, "created") in (None, NIX2CONTAINER_CREATED)
               else timestamp(args, "created"))
    return ImageSpec(
        attr=found.attr,
        name=name,
        tag=tag,
        from_image=from_image,
        from_attr=from_attr,
        layered=False,
        keep_contents_dirlinks=True,
        include_store_paths=True,
        store_owner=(0, 0),
        scripts=(),
        config=image_config(args, oci_only=True),
        span=call.span,
        created=created,
        nix_db=flag(args, "initializeNixDatabase"),
        nix_db_owner=(id_number(args, "nixUid"), id_number(args, "nixGid")),
        nix2container=True,
        explicit_layers=layers,
        platform=image_platform(args, "arch"),
        max_layers=_nix2container_max_layers(args, bool(layers)),
        layering="popularity",
    )


def _nix2container_max_layers(args: Attrs, explicit_layers: bool) -> int:
    """nix2container's maxLayers: how many layers the store of copyToRoot and config (the
    customisation layer) is split into, by popularity; 1 by default."""
    if "maxLayers" not in args.items:
        return 1
    value = static(args, "maxLayers", "'maxLayers'")
    span = value_span(args, "maxLayers")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 125:
        raise SpecError("'maxLayers' must be a number from 1 to 125", span,
                        hint="Docker refuses images of about 125 layers and more.")
    if value > 1 and explicit_layers:
        raise SpecError("maxLayers together with explicit layers is not supported yet", span,
                        hint="give the paths that change seldom a nix2container.buildLayer of "
                        "their own instead, or remove 'layers'.")
    return value


def _layer_list(owner: Attrs, what: str) -> list[tuple[LayerCall, Span]]:
    """The buildLayer calls in ``owner``'s `layers`, each with where it is written."""
    if "layers" not in owner.items:
        return []
    value = owner.items["layers"].force()
    if value is NULL:
        return []
    if not isinstance(value, ListValue):
        raise SpecError(f"the layers of {what} must be a list of nix2container.buildLayer "
                        f"calls, but this is {described(value)}", value_span(owner, "layers"),
                        hint=_LAYERS_HINT)
    layers = []
    for thunk in value.items:
        span = span_of(thunk, value_span(owner, "layers"))
        layer = thunk.force()
        if not isinstance(layer, LayerCall):
            raise SpecError(f"a layer must be a nix2container.buildLayer call, but this is "
                            f"{described(layer)}", span, hint=_LAYERS_HINT)
        layers.append((layer, span))
    return layers


# nixdf gives each layer a COPY, so it counts them before the build.
_LAYERS_HINT = ("nixdf counts the layers before the build: write each as "
                "(nix2container.buildLayer { … }) in the list.")


# An image of about 125 layers is refused by Docker.
_MOST_LAYERS = 124


# Layers, each with the indices through `layers` that reach it.
_Placed = list[tuple[tuple[int, ...], LayerCall]]


def _explicit_layers(args: Attrs) -> tuple[tuple[int, ...], ...]:
    """The image's explicit layers in nix2container's order (each layer's nested layers,
    then the layers themselves) as index paths; a layer reached twice counts once."""
    order: list[tuple[int, ...]] = []
    seen: set[int] = set()
    visiting: set[int] = set()

    def nested(owner: Attrs, what: str, path: tuple[int, ...]) -> _Placed:
        parents = _layer_list(owner, what)
        result = []
        for index, (layer, span) in enumerate(parents):
            if id(layer) in visiting:
                raise SpecError("this layer is among its own layers", span)
            visiting.add(id(layer))
            _check_layer(layer)
            result += nested(layer.args, "a buildLayer", (*path, index))
            visiting.discard(id(layer))
        return result + [((*path, index), layer) for index, (layer, _) in enumerate(parents)]

    for path, layer in nested(args, "nix2container.buildImage", ()):
        if id(layer) not in seen:
            seen.add(id(layer))
            order.append(path)
    if len(order) > _MOST_LAYERS:
        raise SpecError(f"this image has {len(order)} explicit layers, more than Docker runs",
                        value_span(args, "layers"), hint="join some buildLayer calls.")
    return tuple(order)


def _check_layer(layer: LayerCall) -> None:
    what = f"{NIX2CONTAINER}.buildLayer"
    args = layer.args
    for key, span in args.key_spans.items():
        if key not in _LAYER_ARGUMENTS:
            raise SpecError(f"{what} has no argument '{key}'", span,
                            hint=did_you_mean(key, _LAYER_ARGUMENTS))
    if "copyToRoot" in args.items and "contents" in args.items:
        raise SpecError("give either 'copyToRoot' or its old name 'contents', not both",
                        args.key_spans["contents"])
    if "maxLayers" in args.items:
        value = static(args, "maxLayers", "'maxLayers'")
        if value != 1 or isinstance(value, bool):
            raise SpecError("a buildLayer's maxLayers is not supported yet",
                            value_span(args, "maxLayers"),
                            hint="split the layer into several buildLayer calls, one for each "
                            "group of paths.")
    packages_only(args, ("deps", "copyToRoot", "contents"))
    _check_perms(args, what)


# Go's regexp syntax (RE2) that the builder's `grep -E` (POSIX ERE) does not read the same.
_NOT_ERE = r"\\[dDpPAzQE]|\(\?|[*+?}]\?"


def _check_perms(args: Attrs, what: str) -> None:
    """nix2container's perms, as far as they are known here: Nix evaluates them in the
    builder (each `path` is a derivation), so what only Nix knows is checked there."""
    if "perms" not in args.items:
        return
    value = args.items["perms"].force()
    if isinstance(value, Opaque) or value is NULL:
        return
    span = value_span(args, "perms")
    if not isinstance(value, ListValue):
        raise SpecError(f"the perms of {what} must be a list, got {type_name(value)}", span)
    for thunk in value.items:
        perm = thunk.force()
        perm_span = span_of(thunk, span)
        if isinstance(perm, Opaque):
            continue
        if not isinstance(perm, Attrs):
            raise SpecError(f"an entry of perms must be a set, got {type_name(perm)}", perm_span)
        for key, key_span in perm.key_spans.items():
            if key not in _PERM_KEYS:
                raise SpecError(f"perms entries have no key '{key}'", key_span,
                                hint=did_you_mean(key, _PERM_KEYS))
        for key in ("mode", "orMode"):
            mode = perm.items[key].force() if key in perm.items else None
            if not isinstance(mode, str | Opaque | None) or (
                    isinstance(mode, str) and not re.fullmatch(r"[0-7]{1,4}", mode)):
                raise SpecError(f"a perms {key} must be an octal mode such as \"0755\"",
                                span_of(perm.items[key], perm.key_spans[key]))
        for key in ("uid", "gid"):
            number = perm.items[key].force() if key in perm.items else 0
            if not isinstance(number, Opaque) and (
                    isinstance(number, bool) or not isinstance(number, int) or number < 0):
                raise SpecError(f"a perms {key} must be a user or group number",
                                span_of(perm.items[key], perm.key_spans[key]))
        regex = perm.items["regex"].force() if "regex" in perm.items else ""
        if isinstance(regex, str) and (re.search(_NOT_ERE, regex) or "\n" in regex):
            raise SpecError("this perms regex uses syntax nixdf cannot match yet",
                            span_of(perm.items["regex"], perm.key_spans["regex"]),
                            hint="nixdf matches it with grep -E (POSIX extended regular "
                            "expressions): no \\d, \\p, (?…) or lazy quantifiers, one line.")

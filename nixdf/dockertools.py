"""nixpkgs dockerTools' images: ``buildImage``, ``buildLayeredImage``,
``streamLayeredImage`` and their ``WithNixDb`` forms; scripts, layering, compressor."""

from __future__ import annotations

from typing import TypedDict

from .arguments import (
    base_image,
    check_arguments,
    flag,
    id_number,
    image_platform,
    name_and_tag,
    optional_string,
    packages_only,
    static,
    timestamp,
    value_span,
)
from .builders import WITH_NIX_DB
from .errors import SpecError
from .evaluate import NULL, Attrs, FoundImage, to_python
from .image import ImageSpec
from .imageconfig import image_config


def dockertools_spec(found: FoundImage, by_call: dict[int, str | None]) -> ImageSpec:
    """A dockerTools image: its arguments checked, its scripts in dockerTools' order."""
    call = found.call
    args = call.args
    # buildImageWithNixDb is buildImage with includeNixDB = true; likewise the layered one.
    builder = WITH_NIX_DB.get(call.builder, call.builder)
    layered = builder != "buildImage"
    check_arguments(call, builder)
    name, tag = name_and_tag(call)
    created = timestamp(args, "created")
    mtime = timestamp(args, "mtime")
    _compressor(args)
    packages_only(args)
    from_image, from_attr = base_image(args, by_call, found.evaluated)
    # dockerTools' order: buildImage runs runAsRoot then extraCommands; the layered
    # builders run extraCommands, then fakeRootCommands (real root here, no fakeroot).
    order = (("extraCommands", "fakeRootCommands") if layered
             else ("runAsRoot", "extraCommands"))
    scripts = tuple((key, script) for key in order if (script := _script(args, key)))
    return ImageSpec(
        attr=found.attr,
        name=name,
        tag=tag,
        from_image=from_image,
        from_attr=from_attr,
        layered=layered,
        keep_contents_dirlinks=flag(args, "keepContentsDirlinks"),
        include_store_paths=flag(args, "includeStorePaths", default=True),
        store_owner=(id_number(args, "uid"), id_number(args, "gid")),
        scripts=scripts,
        config=image_config(args),
        span=call.span,
        created=created,
        mtime=mtime,
        nix_db=call.builder in WITH_NIX_DB or flag(args, "includeNixDB"),
        platform=image_platform(args, "architecture"),
        **(_layering(args) if layered else _Layering()),
    )


# dockerTools' default; the runtime refuses images of about 125 layers and more.
_MAX_LAYERS = range(2, 126)


def _max_layers(args: Attrs) -> int:
    if "maxLayers" not in args.items:
        return 100
    value = static(args, "maxLayers", "'maxLayers'")
    if isinstance(value, bool) or not isinstance(value, int) or value not in _MAX_LAYERS:
        raise SpecError("'maxLayers' must be a number from 2 to 125",
                        value_span(args, "maxLayers"),
                        hint="dockerTools needs at least 2; Docker refuses images of about 125 "
                        "layers and more.")
    return value


_COMPRESSORS = ("none", "gz", "zstd")


def _compressor(args: Attrs) -> None:
    """dockerTools' compressor only chooses how its image tarball is compressed; nixdf's
    image goes to the engine, which compresses the layers itself when it pushes them."""
    value = optional_string(args, "compressor")
    if value is not None and value not in _COMPRESSORS:
        raise SpecError(f"compressor {value!r} is not one dockerTools knows",
                        value_span(args, "compressor"), hint='"none", "gz" or "zstd".')


# nixpkgs' popularityContestLayeringPipeline writes this pipeline; nixdf knows no other.
_POPULARITY_PIPELINE = '[ [ "popularity_contest" ] [ "limit_layers" N ] ]'


class _Layering(TypedDict, total=False):
    """ImageSpec's fields for a layered image's layers (their defaults otherwise)."""

    max_layers: int
    layering: str


def _layering(args: Attrs) -> _Layering:
    """maxLayers and layeringPipeline: the layer budget and how the store is split."""
    if "layeringPipeline" not in args.items or args.items["layeringPipeline"].force() is NULL:
        return {"max_layers": _max_layers(args), "layering": "auto"}
    span = value_span(args, "layeringPipeline")
    match to_python(static(args, "layeringPipeline", "'layeringPipeline'"), span):
        case [["popularity_contest"], ["limit_layers", int(limit)]] if (
                not isinstance(limit, bool) and limit + 1 in _MAX_LAYERS):
            # The pipeline's limit counts store layers; the customisation layer is one more.
            return {"max_layers": limit + 1, "layering": "popularity"}
    raise SpecError("nixdf knows only the popularity contest as a 'layeringPipeline'", span,
                    hint=f"write {_POPULARITY_PIPELINE} with N from 1 to 124, or remove it for "
                    "nixpkgs' default auto-layer (maxLayers is its budget).")


def _script(args: Attrs, key: str) -> str | None:
    if key not in args.items or args.items[key].force() is NULL:
        return None
    value = static(args, key, f"the {key} script")
    if not isinstance(value, str):
        raise SpecError(f"'{key}' must be a string of shell commands", value_span(args, key))
    if "\x00" in value:
        raise SpecError(f"'{key}' contains a NUL byte", value_span(args, key))
    return value if value.strip() else None

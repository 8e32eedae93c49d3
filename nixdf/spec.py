"""From evaluated ``buildImage`` calls to image specs: plain, checked data.

This is where dockerTools' and nix2container's argument names and config keys live. Every value
that will become Dockerfile text is forced here, statically, and checked for
shape; anything else is Nix's business in the builder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict

from .builders import NIX2CONTAINER, WITH_NIX_DB
from .errors import Span, SpecError
from .evaluate import (
    NULL,
    Attrs,
    FoundImage,
    ImageCall,
    LayerCall,
    ListValue,
    Opaque,
    PathValue,
    PulledImage,
    Thunk,
    Value,
    force_static,
    to_python,
    type_name,
)
from .layers import StorePath
from .record import ValueRecord

# dockerTools' default `created`; anything else needs the reproducibility work.
DEFAULT_CREATED = "1970-01-01T00:00:01Z"
# nix2container's default `created`, before anything SOURCE_DATE_EPOCH can say: the image
# gets the earliest time it can, 1970-01-01T00:00:00Z.
NIX2CONTAINER_CREATED = "0001-01-01T00:00:00Z"


@dataclass(slots=True, repr=False, eq=False)
class Healthcheck(ValueRecord):
    """Docker's Healthcheck: ``test`` is ("NONE",), ("CMD", …) or ("CMD-SHELL", command);
    durations in nanoseconds, 0 for the default."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0


@dataclass(slots=True, repr=False, eq=False)
class ImageConfig(ValueRecord):
    """The OCI/Docker config keys that have a Dockerfile instruction."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None
    volumes: tuple[str, ...] = ()
    exposed_ports: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str | None = None
    user: str | None = None
    healthcheck: Healthcheck | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] | None = None


@dataclass(slots=True, repr=False, eq=False)
class ImageSpec(ValueRecord):
    """One image: what Nix builds (found at ``attr``) and what the Dockerfile says."""

    attr: str | None
    name: str
    tag: str
    from_image: str | None
    from_attr: str | None
    layered: bool
    keep_contents_dirlinks: bool
    include_store_paths: bool
    store_owner: tuple[int, int]
    scripts: tuple[tuple[str, str], ...]
    config: ImageConfig
    span: Span
    # Config or scripts name store paths (values from the lock file).
    store_refs: bool = False
    # The layered builders' budget (store layers and the customisation layer), how
    # the store is split (nixdf.layers.STRATEGIES), and the closure the lock recorded.
    max_layers: int = 100
    layering: str = "auto"
    closure: tuple[StorePath, ...] = ()
    # `created`, and the layered builders' `mtime` of every file, in seconds since the
    # epoch; None for "now" (the build's own times).
    created: int | None = 1
    mtime: int | None = 1
    # A Nix database of the image's store paths in /nix/var/nix/db (dockerTools'
    # includeNixDB, nix2container's initializeNixDatabase), owned by nix_db_owner.
    nix_db: bool = False
    nix_db_owner: tuple[int, int] = (0, 0)
    # nix2container.buildImage, and its explicit layers (`layers`, nested ones first), each
    # as the indices through `layers` that reach it from the image's arguments.
    nix2container: bool = False
    explicit_layers: tuple[tuple[int, ...], ...] = ()
    # dockerTools' architecture and variant, nix2container's arch: the image's platform
    # ("linux/arm64"); None: the engine's own, which is their default too.
    platform: str | None = None


# Each builder's arguments (nixpkgs dockerTools). Those that only shape the VM, the
# derivation, its tarball or its logging (diskSize, buildVMMemorySize, meta, passthru,
# compressor, debug) are accepted and change nothing; maxLayers is met by the single store layer.
_ARGUMENTS = {
    "buildImage": (
        "name", "tag", "fromImage", "fromImageName", "fromImageTag", "copyToRoot", "contents",
        "keepContentsDirlinks", "config", "architecture", "runAsRoot", "extraCommands", "uid",
        "gid", "diskSize", "buildVMMemorySize", "created", "compressor", "includeNixDB",
        "meta", "variant",
    ),
    "buildLayeredImage": (
        "name", "tag", "fromImage", "contents", "config", "architecture", "created", "mtime",
        "uid", "gid", "uname", "gname", "maxLayers", "extraCommands", "fakeRootCommands",
        "enableFakechroot", "includeStorePaths", "includeNixDB", "passthru", "meta",
        "layeringPipeline", "debug", "compressor", "variant",
    ),
}
_ARGUMENTS["streamLayeredImage"] = tuple(a for a in _ARGUMENTS["buildLayeredImage"]
                                         if a != "compressor")
# nix2container's (nlewo/nix2container default.nix); `meta` only labels the derivation.
_ARGUMENTS[f"{NIX2CONTAINER}.buildImage"] = (
    "name", "tag", "config", "layers", "copyToRoot", "contents", "fromImage", "arch", "perms",
    "maxLayers", "initializeNixDatabase", "nixUid", "nixGid", "created", "meta",
)
# buildLayer's; `reproducible` and `metadata` shape only how nix2container writes the layer
# (a tar kept in the store, the layer's history entry): accepted, they change nothing here.
_LAYER_ARGUMENTS = ("deps", "copyToRoot", "contents", "ignore", "layers", "reproducible",
                    "perms", "maxLayers", "metadata")
_PERM_KEYS = ("path", "regex", "mode", "orMode", "uid", "gid", "uname", "gname")
_SCRIPTS = ("runAsRoot", "extraCommands", "fakeRootCommands")
# Arguments nixdf refuses for now, each with what to do instead.
_NOT_YET = {
    "fromImageName": "give fromImage an image reference instead, such as \"debian:bookworm\".",
    "fromImageTag": "give fromImage an image reference instead, such as \"debian:bookworm\".",
    "uid": "remove it and chown in runAsRoot, which runs as real root.",
    "gid": "remove it and chown in runAsRoot, which runs as real root.",
}

_CONFIG_KEYS = (
    "Cmd", "Entrypoint", "Env", "WorkingDir", "Volumes", "ExposedPorts", "Labels",
    "StopSignal", "User", "Healthcheck", "OnBuild", "Shell",
)
_HEALTHCHECK_KEYS = ("Test", "Interval", "Timeout", "StartPeriod", "Retries")
# ONBUILD may not hold these (Dockerfile reference).
_ONBUILD_FORBIDDEN = ("ONBUILD", "FROM", "MAINTAINER")
_CONFIG_NO_DOCKERFILE_FORM = ("ArgsEscaped", "Memory", "MemorySwap", "CpuShares")

# Docker's reference grammar (distribution/reference): lower-case path components,
# an optional registry host with port, and tags of at most 128 characters.
_NAME = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# A full reference: name, optional :tag, optional @digest (what FROM may say).
REFERENCE = re.compile(rf"(?:{_NAME.pattern})(?::{_TAG.pattern})?(?:@sha256:[0-9a-f]{{64}})?")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_PORT = re.compile(r"[0-9]{1,5}(?:-[0-9]{1,5})?(?:/(?:tcp|udp|sctp))?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What Docker's signal parser takes (STOPSIGNAL fails the build on anything else). This
# pattern, _NOT_ERE's and _DIGEST's are for arguments few Nixfiles give: kept as text, each
# is compiled (and cached by re) when one is given, not on every start.
_SIGNAL = r"(?:SIG)?[A-Z][A-Z0-9]*(?:[+-][0-9]+)?|[0-9]+"


def to_specs(images: Sequence[FoundImage]) -> list[ImageSpec]:
    """Check each image's arguments and config; values become plain tuples and strings."""
    by_call = {id(found.call): found.attr for found in images}
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
        before = _value_span(earlier.call.args, "name")
        return SpecError(f"the images {_shown(earlier.attr)} and {_shown(found.attr)} are both "
                         f"named {reference}", _value_span(found.call.args, "name"),
                         hint=f"{_shown(earlier.attr)} is named at {before}; building both would "
                         "leave the engine one image of that name. Build one at a time with "
                         "--target (and -t for another name), or give each image its own name "
                         "or tag.")
    return None


def _shown(attr: str | None) -> str:
    return attr if attr is not None else "(the Nixfile's own)"


def _to_spec(found: FoundImage, by_call: dict[int, str | None]) -> ImageSpec:
    call = found.call
    if call.builder.startswith(f"{NIX2CONTAINER}."):
        return _nix2container_spec(found, by_call)
    args = call.args
    # buildImageWithNixDb is buildImage with includeNixDB = true; likewise the layered one.
    builder = WITH_NIX_DB.get(call.builder, call.builder)
    layered = builder != "buildImage"
    _check_arguments(call, builder)
    name, tag = _name_and_tag(call)
    created = _timestamp(args, "created")
    mtime = _timestamp(args, "mtime")
    _compressor(args)
    _packages_only(args)
    from_image, from_attr = _from_image(args, by_call, call)
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
        keep_contents_dirlinks=_bool(args, "keepContentsDirlinks"),
        include_store_paths=_bool(args, "includeStorePaths", default=True),
        store_owner=(_int(args, "uid"), _int(args, "gid")),
        scripts=scripts,
        config=_config(args),
        span=call.span,
        created=created,
        mtime=mtime,
        nix_db=call.builder in WITH_NIX_DB or _bool(args, "includeNixDB"),
        platform=_platform(args, "architecture"),
        **(_layering(args) if layered else _Layering()),
    )


def _check_arguments(call: ImageCall, builder: str) -> None:
    """Every argument is one of ``builder``'s that nixdf supports; contents is given once."""
    args, allowed = call.args, _ARGUMENTS[builder]
    for key, span in args.key_spans.items():
        if key not in allowed and builder.startswith(NIX2CONTAINER) and key in _SCRIPTS:
            raise SpecError(f"{call.builder} has no argument '{key}'", span,
                            hint="nix2container runs no scripts: make the files with a "
                            "derivation in copyToRoot, and set their owners and modes with "
                            "perms.")
        if key not in allowed:
            raise SpecError(f"{call.builder} has no argument '{key}'", span,
                            hint=_other_builders(key, builder)
                            or _did_you_mean(key, allowed))
        # The layered builders do own the store by uid/gid; buildImage does not yet.
        if key in _NOT_YET and not (builder != "buildImage" and key in ("uid", "gid")):
            raise SpecError(f"the {call.builder} argument '{key}' is not supported yet", span,
                            hint=_NOT_YET[key])
    if "copyToRoot" in args.items and "contents" in args.items:
        raise SpecError("give either 'copyToRoot' or its old name 'contents', not both",
                        args.key_spans["contents"])


def _name_and_tag(call: ImageCall) -> tuple[str, str]:
    """The image's name, lower-cased as both builders do, and its tag (default latest)."""
    args = call.args
    if "name" not in args.items:
        raise SpecError(f"{call.builder} needs a 'name'", call.span)
    name = _string(args, "name", call.builder)
    if not _NAME.fullmatch(name.lower()):
        raise SpecError(f"image name {name!r} is not a valid image reference",
                        _value_span(args, "name"),
                        hint="use lower-case letters, digits and . _ - separated by '/'.")
    tag = _optional_string(args, "tag") or "latest"
    if not _TAG.fullmatch(tag):
        raise SpecError(f"tag {tag!r} is not a valid image tag", _value_span(args, "tag"),
                        hint="up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -.")
    return name.lower(), tag


def _nix2container_spec(found: FoundImage, by_call: dict[int, str | None]) -> ImageSpec:
    """nix2container.buildImage: copyToRoot lands at / as it is (symlinks kept), its closure
    and the config's store paths in /nix/store; explicit layers below; no scripts."""
    call = found.call
    args = call.args
    _check_arguments(call, call.builder)
    name, tag = _name_and_tag(call)
    _packages_only(args)
    from_image, from_attr = _from_image(args, by_call, call)
    layers = _explicit_layers(args)
    _check_perms(args, call.builder)
    created = (0 if _optional_string(args, "created") in (None, NIX2CONTAINER_CREATED)
               else _timestamp(args, "created"))
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
        config=_config(args, oci_only=True),
        span=call.span,
        created=created,
        nix_db=_bool(args, "initializeNixDatabase"),
        nix_db_owner=(_int(args, "nixUid"), _int(args, "nixGid")),
        nix2container=True,
        explicit_layers=layers,
        platform=_platform(args, "arch"),
        max_layers=_nix2container_max_layers(args, bool(layers)),
        layering="popularity",
    )


def records_closure(call: ImageCall) -> bool:
    """Whether the lock records the image's closure, which its layers are split from: the
    layered builders', and a nix2container image's with a maxLayers above 1."""
    if call.builder.startswith(f"{NIX2CONTAINER}."):
        layers = call.args.items.get("maxLayers")
        value = layers.force() if layers is not None else 1
        return isinstance(value, int) and not isinstance(value, bool) and value > 1
    return WITH_NIX_DB.get(call.builder, call.builder) != "buildImage"


def _nix2container_max_layers(args: Attrs, explicit_layers: bool) -> int:
    """nix2container's maxLayers: how many layers the store of copyToRoot and config (the
    customisation layer) is split into, by popularity; 1 by default."""
    if "maxLayers" not in args.items:
        return 1
    value = _static(args, "maxLayers", "'maxLayers'")
    span = _value_span(args, "maxLayers")
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
                        f"calls, but this is {_description(value)}", _value_span(owner, "layers"),
                        hint=_LAYERS_HINT)
    layers = []
    for thunk in value.items:
        span = _span_of(thunk, _value_span(owner, "layers"))
        layer = thunk.force()
        if not isinstance(layer, LayerCall):
            raise SpecError(f"a layer must be a nix2container.buildLayer call, but this is "
                            f"{_description(layer)}", span, hint=_LAYERS_HINT)
        layers.append((layer, span))
    return layers


# nixdf gives each layer a COPY, so it counts them before the build.
_LAYERS_HINT = ("nixdf counts the layers before the build: write each as "
                "(nix2container.buildLayer { … }) in the list.")


def _description(value: Value) -> str:
    return value.description if isinstance(value, Opaque) else type_name(value)


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
                        _value_span(args, "layers"), hint="join some buildLayer calls.")
    return tuple(order)


def _check_layer(layer: LayerCall) -> None:
    what = f"{NIX2CONTAINER}.buildLayer"
    args = layer.args
    for key, span in args.key_spans.items():
        if key not in _LAYER_ARGUMENTS:
            raise SpecError(f"{what} has no argument '{key}'", span,
                            hint=_did_you_mean(key, _LAYER_ARGUMENTS))
    if "copyToRoot" in args.items and "contents" in args.items:
        raise SpecError("give either 'copyToRoot' or its old name 'contents', not both",
                        args.key_spans["contents"])
    if "maxLayers" in args.items:
        value = _static(args, "maxLayers", "'maxLayers'")
        if value != 1 or isinstance(value, bool):
            raise SpecError("a buildLayer's maxLayers is not supported yet",
                            _value_span(args, "maxLayers"),
                            hint="split the layer into several buildLayer calls, one for each "
                            "group of paths.")
    _packages_only(args, ("deps", "copyToRoot", "contents"))
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
    span = _value_span(args, "perms")
    if not isinstance(value, ListValue):
        raise SpecError(f"the perms of {what} must be a list, got {type_name(value)}", span)
    for thunk in value.items:
        perm = thunk.force()
        perm_span = _span_of(thunk, span)
        if isinstance(perm, Opaque):
            continue
        if not isinstance(perm, Attrs):
            raise SpecError(f"an entry of perms must be a set, got {type_name(perm)}", perm_span)
        for key, key_span in perm.key_spans.items():
            if key not in _PERM_KEYS:
                raise SpecError(f"perms entries have no key '{key}'", key_span,
                                hint=_did_you_mean(key, _PERM_KEYS))
        for key in ("mode", "orMode"):
            mode = perm.items[key].force() if key in perm.items else None
            if not isinstance(mode, str | Opaque | None) or (
                    isinstance(mode, str) and not re.fullmatch(r"[0-7]{1,4}", mode)):
                raise SpecError(f"a perms {key} must be an octal mode such as \"0755\"",
                                _span_of(perm.items[key], perm.key_spans[key]))
        for key in ("uid", "gid"):
            number = perm.items[key].force() if key in perm.items else 0
            if not isinstance(number, Opaque) and (
                    isinstance(number, bool) or not isinstance(number, int) or number < 0):
                raise SpecError(f"a perms {key} must be a user or group number",
                                _span_of(perm.items[key], perm.key_spans[key]))
        regex = perm.items["regex"].force() if "regex" in perm.items else ""
        if isinstance(regex, str) and (re.search(_NOT_ERE, regex) or "\n" in regex):
            raise SpecError("this perms regex uses syntax nixdf cannot match yet",
                            _span_of(perm.items["regex"], perm.key_spans["regex"]),
                            hint="nixdf matches it with grep -E (POSIX extended regular "
                            "expressions): no \\d, \\p, (?…) or lazy quantifiers, one line.")


def _timestamp(args: Attrs, key: str) -> int | None:
    """`created` or `mtime`: dockerTools' default, "now", or an RFC 3339 time, as epoch
    seconds."""
    created = _optional_string(args, key)
    if created is None or created == DEFAULT_CREATED:
        return 1
    if created == "now":
        return None
    import datetime  # only a chosen time needs it

    try:
        when = datetime.datetime.fromisoformat(created.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or "T" not in created.upper():
        raise SpecError(f"'{key}' must be \"now\" or an RFC 3339 time, got {created!r}",
                        _value_span(args, key),
                        hint="such as \"2024-05-01T12:00:00Z\" (dockerTools' default is "
                        f"{DEFAULT_CREATED}).")
    epoch = int(when.timestamp())
    if epoch < 0:
        raise SpecError(f"'{key}' must not be before 1970", _value_span(args, key),
                        hint="SOURCE_DATE_EPOCH, which carries it, counts from 1970.")
    return epoch


# Arguments whose counterpart in the other builders does the same job.
_COUNTERPARTS = {"fakeRootCommands": "runAsRoot", "runAsRoot": "fakeRootCommands",
                 "copyToRoot": "contents"}


def _other_builders(key: str, builder: str) -> str | None:
    owners = [b for b, names in _ARGUMENTS.items() if key in names and b != builder]
    if not owners:
        return None
    hint = f"'{key}' is an argument of {' and '.join(owners)}"
    counterpart = _COUNTERPARTS.get(key)
    if counterpart in _ARGUMENTS[builder]:
        hint += f"; {builder}'s '{counterpart}' does the same job"
    return hint + "."


def _did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    folded = {c.lower(): c for c in choices}
    if word.lower() in folded:
        return f"did you mean '{folded[word.lower()]}'? (names are case-sensitive)"
    import difflib  # only a misspelt name needs it

    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else "expected one of: " + ", ".join(choices)


def _value_span(args: Attrs, key: str) -> Span:
    thunk = args.items[key]
    return thunk.expr.span if thunk.expr is not None else args.key_spans[key]


def _static(args: Attrs, key: str, what: str) -> Value:
    return force_static(args.items[key], what, _value_span(args, key))


def _string(args: Attrs, key: str, what: str) -> str:
    value = _static(args, key, f"'{key}'")
    if not isinstance(value, str):
        raise SpecError(f"'{key}' must be a string, got {type_name(value)}",
                        _value_span(args, key))
    if _CONTROL.search(value):
        raise SpecError(f"'{key}' contains a control character", _value_span(args, key))
    return value


def _optional_string(args: Attrs, key: str) -> str | None:
    if key not in args.items or args.items[key].force() is NULL:
        return None
    return _string(args, key, key)


# Docker's architecture names (Go's GOARCH), and the names Nix and Linux give some of them,
# taken as containerd's platforms.Normalize takes them; an alias may imply an ARM variant.
_ARCHITECTURES = ("386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le",
                  "mipsle", "ppc64", "ppc64le", "riscv64", "s390x")
_ARCHITECTURE_ALIASES = {
    "x86_64": ("amd64", None), "x86-64": ("amd64", None), "aarch64": ("arm64", None),
    "i386": ("386", None), "i486": ("386", None), "i586": ("386", None), "i686": ("386", None),
    "armhf": ("arm", "v7"), "armv7l": ("arm", "v7"), "armel": ("arm", "v6"),
    "armv6l": ("arm", "v6"), "powerpc64le": ("ppc64le", None),
}


def _platform(args: Attrs, key: str) -> str | None:
    """The image's platform from its architecture (and variant): the build's --platform.

    The builder stage then runs on the engine's own platform, as dockerTools builds on
    the build machine: the contents must be built for the architecture (pkgsCross).
    """
    arch = _optional_string(args, key)
    variant = _optional_string(args, "variant")
    if not arch:  # nix2container's default "", like dockerTools' default: the build's own
        if variant:
            raise SpecError("'variant' needs an 'architecture'", _value_span(args, "variant"))
        return None
    normal, implied = _ARCHITECTURE_ALIASES.get(arch, (arch, None))
    if normal not in _ARCHITECTURES:
        raise SpecError(f"'{key}' is {arch!r}, which is no architecture Docker knows",
                        _value_span(args, key),
                        hint="use Docker's name for it (Go's GOARCH), one of: "
                        + ", ".join(_ARCHITECTURES))
    variant = variant or implied
    if variant is not None and not re.fullmatch(r"v[0-9]+", variant):
        raise SpecError(f"'variant' is {variant!r}; Docker's variants are v5 to v8 for arm "
                        "and v8 for arm64", _value_span(args, "variant"))
    return "/".join(("linux", normal, *((variant,) if variant else ())))


def _int(args: Attrs, key: str) -> int:
    if key not in args.items:
        return 0
    value = _static(args, key, f"'{key}'")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise SpecError(f"'{key}' must be a user or group number", _value_span(args, key))
    return value


# dockerTools' default; the runtime refuses images of about 125 layers and more.
_MAX_LAYERS = range(2, 126)


def _max_layers(args: Attrs) -> int:
    if "maxLayers" not in args.items:
        return 100
    value = _static(args, "maxLayers", "'maxLayers'")
    if isinstance(value, bool) or not isinstance(value, int) or value not in _MAX_LAYERS:
        raise SpecError("'maxLayers' must be a number from 2 to 125",
                        _value_span(args, "maxLayers"),
                        hint="dockerTools needs at least 2; Docker refuses images of about 125 "
                        "layers and more.")
    return value


def _packages_only(args: Attrs, keys: tuple[str, ...] = ("copyToRoot", "contents")) -> None:
    """Each item of the contents is a package (a derivation), as dockerTools needs: it
    copies what each one's store path holds. nix-build, which builds them here, would leave
    out any other set (``pkgs.lib``) without a word. What is known here is checked here,
    at its place; what only Nix knows (``pkgs.lib``) the builder checks (templates/lib.nix)."""
    for key in keys:
        if key not in args.items:
            continue
        value = args.items[key].force()
        if value is NULL:
            continue  # no contents, as dockerTools' default
        items = value.items if isinstance(value, ListValue) else (args.items[key],)
        for item in items:
            found = item.force()
            span = _span_of(item, args.key_spans[key])
            if isinstance(found, PathValue):
                raise SpecError(f"the path {found.value} in '{key}' is not supported yet", span,
                                hint="nixdf builds the contents with nix-build, which takes "
                                "derivations only; put the files in one, e.g. pkgs.runCommand "
                                "\"files\" { } \"cp -r ${./files} $out\".")
            if not isinstance(found, Opaque) and not _is_derivation(found):
                what = (f"an item of '{key}' must be a package" if isinstance(value, ListValue)
                        else f"'{key}' must be a package or a list of packages")
                raise SpecError(f"{what}, not {type_name(found)}", span,
                                hint=not_a_package_hint(type_name(found)))


def not_a_package_hint(kind: str) -> str:
    """What to write instead of an item of the contents of ``kind`` ("a string", …)."""
    hint = ("each item of the contents is a package (a derivation, such as pkgs.hello), whose "
            "store path is copied into the image")
    if kind == "a string":
        # dockerTools takes "${pkgs.hello}" too; nix-build, which builds the contents, does not.
        return hint + "; a string, even a store path such as \"${pkgs.hello}\", is not " \
            "supported yet: give the package itself."
    return hint + "."


def _is_derivation(value: Value) -> bool:
    if not isinstance(value, Attrs) or "type" not in value.items:
        return False
    return value.items["type"].force() == "derivation"


_COMPRESSORS = ("none", "gz", "zstd")


def _compressor(args: Attrs) -> None:
    """dockerTools' compressor only chooses how its image tarball is compressed; nixdf's
    image goes to the engine, which compresses the layers itself when it pushes them."""
    value = _optional_string(args, "compressor")
    if value is not None and value not in _COMPRESSORS:
        raise SpecError(f"compressor {value!r} is not one dockerTools knows",
                        _value_span(args, "compressor"), hint='"none", "gz" or "zstd".')


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
    span = _value_span(args, "layeringPipeline")
    match to_python(_static(args, "layeringPipeline", "'layeringPipeline'"), span):
        case [["popularity_contest"], ["limit_layers", int(limit)]] if (
                not isinstance(limit, bool) and limit + 1 in _MAX_LAYERS):
            # The pipeline's limit counts store layers; the customisation layer is one more.
            return {"max_layers": limit + 1, "layering": "popularity"}
    raise SpecError("nixdf knows only the popularity contest as a 'layeringPipeline'", span,
                    hint=f"write {_POPULARITY_PIPELINE} with N from 1 to 124, or remove it for "
                    "nixpkgs' default auto-layer (maxLayers is its budget).")


def _bool(args: Attrs, key: str, *, default: bool = False) -> bool:
    if key not in args.items:
        return default
    value = _static(args, key, f"'{key}'")
    if not isinstance(value, bool):
        raise SpecError(f"'{key}' must be true or false", _value_span(args, key))
    return value


def _script(args: Attrs, key: str) -> str | None:
    if key not in args.items or args.items[key].force() is NULL:
        return None
    value = _static(args, key, f"the {key} script")
    if not isinstance(value, str):
        raise SpecError(f"'{key}' must be a string of shell commands", _value_span(args, key))
    if "\x00" in value:
        raise SpecError(f"'{key}' contains a NUL byte", _value_span(args, key))
    return value if value.strip() else None


def _from_image(args: Attrs, by_call: dict[int, str | None],
                call: ImageCall) -> tuple[str | None, str | None]:
    if "fromImage" not in args.items:
        return None, None
    value = args.items["fromImage"].force()
    span = _value_span(args, "fromImage")
    # nix2container's default fromImage is "".
    if value is NULL or value == "":
        return None, None
    if isinstance(value, ImageCall):
        if id(value) not in by_call or value is call:
            raise SpecError("fromImage names an image that is not one of this Nixfile's "
                            "images", span, hint="bind the base image to an attribute of the "
                            "Nixfile's set so it gets its own build stage.")
        return None, by_call[id(value)]
    if isinstance(value, str):
        if not REFERENCE.fullmatch(value):
            raise SpecError(f"fromImage {value!r} is not an image reference", span,
                            hint="NAME[:TAG][@sha256:DIGEST], e.g. \"debian:bookworm\".")
        return value, None
    if isinstance(value, PulledImage):
        return _pulled(value), None
    hint = ("give an image reference such as \"debian:bookworm@sha256:…\", a pullImage, or "
            "another image of this Nixfile; image tarballs are not supported yet.")
    if isinstance(value, Opaque):
        raise SpecError(f"fromImage must be known before the build, but it is "
                        f"{value.description}", span, hint=hint)
    raise SpecError(f"fromImage cannot be {type_name(value)}", span, hint=hint)


_PULL_ARGUMENTS = {
    "pullImage": ("imageName", "imageDigest", "sha256", "hash", "finalImageName",
                  "finalImageTag", "os", "arch", "tlsVerify", "name"),
    f"{NIX2CONTAINER}.pullImage": ("imageName", "imageDigest", "sha256", "os", "arch",
                                   "tlsVerify", "name"),
}
_DIGEST = r"sha256:[0-9a-f]{64}"


def _pulled(image: PulledImage) -> str:
    """pullImage's name and digest: the base, pinned as the Nix file pinned it."""
    args, function = image.args, image.function
    allowed = _PULL_ARGUMENTS[function]
    for key, span in args.key_spans.items():
        if key not in allowed:
            raise SpecError(f"{function} has no argument '{key}'", span,
                            hint=_did_you_mean(key, allowed))
        if key in ("os", "arch"):
            raise SpecError(f"{function}'s '{key}' is not supported yet", span,
                            hint="nixdf builds for the engine's platform; the digest of a "
                            "multi-platform index selects the matching image.")
    for key in ("imageName", "imageDigest"):
        if key not in args.items:
            raise SpecError(f"{function} needs '{key}'", image.span)
    name, digest = _string(args, "imageName", function), _string(args, "imageDigest",
                                                                   function)
    if not _NAME.fullmatch(name):
        raise SpecError(f"imageName {name!r} is not an image name", _value_span(args,
                                                                                 "imageName"))
    if not re.fullmatch(_DIGEST, digest):
        raise SpecError(f"imageDigest {digest!r} is not a sha256 digest",
                        _value_span(args, "imageDigest"), hint="sha256: and 64 hex digits.")
    return f"{name}@{digest}"


# Docker's own config keys, which the OCI image config nix2container writes has not:
# nix2container drops them, and so does nixdf for its images.
_DOCKER_ONLY_KEYS = ("Healthcheck", "OnBuild", "Shell")


def _config(args: Attrs, *, oci_only: bool = False) -> ImageConfig:
    if "config" not in args.items or args.items["config"].force() is NULL:
        return ImageConfig()
    value = _static(args, "config", "'config'")
    if not isinstance(value, Attrs):
        raise SpecError("'config' must be an attribute set", _value_span(args, "config"))
    config = _canonical_keys(value)
    if oci_only:
        for key in _DOCKER_ONLY_KEYS:
            config.items.pop(key, None)
    env = tuple(_env_entry(t, config) for t in _list_items(config, "Env"))
    return ImageConfig(
        entrypoint=_command(config, "Entrypoint"),
        cmd=_command(config, "Cmd"),
        env=env,
        working_dir=_config_string(config, "WorkingDir"),
        volumes=tuple(_set_keys(config, "Volumes", _check_path)),
        exposed_ports=tuple(_set_keys(config, "ExposedPorts", _check_port)),
        labels=tuple(sorted(
            (k, _label(k, t, config, s)) for k, t, s in _set_items(config, "Labels"))),
        stop_signal=_signal(config),
        user=_config_string(config, "User"),
        healthcheck=_healthcheck(config),
        on_build=tuple(_on_build(t, config) for t in _list_items(config, "OnBuild")),
        shell=_command(config, "Shell"),
    )


def _canonical_keys(config: Attrs) -> Attrs:
    """Docker reads config keys case-insensitively, so `entrypoint` works in dockerTools too."""
    canonical = {key.lower(): key for key in _CONFIG_KEYS}
    result = Attrs({}, {}, config.span)
    for key, span in config.key_spans.items():
        if key in _CONFIG_NO_DOCKERFILE_FORM:
            raise SpecError(f"config key '{key}' has no Dockerfile instruction", span,
                            hint="set it when running the container instead.")
        name = canonical.get(key.lower())
        if name is None:
            raise SpecError(f"unknown config key '{key}'", span,
                            hint=_did_you_mean(key, _CONFIG_KEYS))
        if name in result.items:
            raise SpecError(f"config key '{key}' repeats '{name}' in another case", span)
        result.items[name] = config.items[key]
        result.key_spans[name] = span
    return result


def _healthcheck(config: Attrs) -> Healthcheck | None:
    if "Healthcheck" not in config.items:
        return None
    check, span = _config_value(config, "Healthcheck", Attrs, "an attribute set")
    assert isinstance(check, Attrs)
    for key, key_span in check.key_spans.items():
        if key == "StartInterval":
            raise SpecError("Healthcheck.StartInterval is not supported yet", key_span,
                            hint="Docker 20.10's Dockerfile syntax has no --start-interval.")
        if key not in _HEALTHCHECK_KEYS:
            raise SpecError(f"unknown Healthcheck key '{key}'", key_span,
                            hint=_did_you_mean(key, _HEALTHCHECK_KEYS))
    numbers = {key: _healthcheck_number(check, key) for key in _HEALTHCHECK_KEYS[1:]}
    if "Test" in check.items:
        span = _span_of(check.items["Test"], check.key_spans["Test"])
    test = (tuple(_text(t, "an element of Healthcheck.Test", span)
                  for t in _list_items(check, "Test")) if "Test" in check.items else ())
    if not test:
        # An empty Test means "inherit the base image's": there is nothing to write.
        return None
    if test[0] == "NONE" and len(test) == 1:
        return Healthcheck(("NONE",))
    if test[0] == "CMD-SHELL" and len(test) == 2:
        command = test[1]
        if _CONTROL.search(command) or command != command.strip() or command.endswith("\\"):
            raise SpecError("this CMD-SHELL command cannot be written on a HEALTHCHECK line as "
                            "it is", span, hint="avoid line breaks, outer spaces and a final "
                            "backslash, or use the [\"CMD\" …] form.")
    elif test[0] != "CMD" or len(test) < 2:
        raise SpecError("Healthcheck.Test must be [\"NONE\"], [\"CMD\" program args…] or "
                        "[\"CMD-SHELL\" command]", span)
    return Healthcheck(test, numbers["Interval"], numbers["Timeout"], numbers["StartPeriod"],
                       numbers["Retries"])


def _healthcheck_number(check: Attrs, key: str) -> int:
    if key not in check.items:
        return 0
    thunk = check.items[key]
    span = _span_of(thunk, check.key_spans[key])
    value = force_static(thunk, f"Healthcheck.{key}", span)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        unit = "a count" if key == "Retries" else "nanoseconds, as in the image config"
        raise SpecError(f"Healthcheck.{key} must be a whole number ({unit})", span)
    if key != "Retries" and 0 < value < 1_000_000:
        raise SpecError(f"Healthcheck.{key} is under a millisecond, which Docker refuses",
                        span, hint="durations are in nanoseconds: 30 s is 30000000000.")
    return value


def _on_build(thunk: Thunk, config: Attrs) -> str:
    span = _span_of(thunk, config.key_spans["OnBuild"])
    trigger = _text(thunk, "an OnBuild entry", span).strip()
    # A final backslash would continue the line, joining the next instruction to this one.
    if not trigger or _CONTROL.search(trigger.replace("\t", "")) or trigger.endswith("\\"):
        raise SpecError("an OnBuild entry must be one Dockerfile instruction on one line", span,
                        hint="no line breaks, and no backslash at the end.")
    if trigger.split()[0].upper() in _ONBUILD_FORBIDDEN:
        raise SpecError(f"ONBUILD cannot hold {trigger.split()[0].upper()}", span)
    return trigger


def _span_of(thunk: Thunk, fallback: Span) -> Span:
    return thunk.expr.span if thunk.expr is not None else fallback


def _text(thunk: Thunk, what: str, fallback: Span | None = None) -> str:
    span = _span_of(thunk, fallback or Span("", 0, 0, 0, 0))
    value = force_static(thunk, what, span)
    if not isinstance(value, str):
        raise SpecError(f"{what} must be a string, got {type_name(value)}", span)
    return value


def _config_string(config: Attrs, key: str) -> str | None:
    if key not in config.items:
        return None
    value = _text(config.items[key], f"config.{key}", config.key_spans[key])
    if _CONTROL.search(value):
        raise SpecError(f"config.{key} contains a control character, which a Dockerfile "
                        "instruction cannot carry", _span_of(config.items[key],
                                                              config.key_spans[key]))
    return value


def _config_value(config: Attrs, key: str, kind: type, shape: str) -> tuple[object, Span]:
    """A config entry forced statically and checked to be ``kind``; with its span."""
    thunk = config.items[key]
    span = _span_of(thunk, config.key_spans[key])
    value = force_static(thunk, f"config.{key}", span)
    if not isinstance(value, kind):
        raise SpecError(f"config.{key} must be {shape}, got {type_name(value)}", span)
    return value, span


def _list_items(config: Attrs, key: str) -> list[Thunk]:
    if key not in config.items:
        return []
    value, _ = _config_value(config, key, ListValue, "a list")
    assert isinstance(value, ListValue)
    return list(value.items)


def _command(config: Attrs, key: str) -> tuple[str, ...] | None:
    if key not in config.items:
        return None
    thunk = config.items[key]
    span = _span_of(thunk, config.key_spans[key])
    value = force_static(thunk, f"config.{key}", span)
    if isinstance(value, str):
        if any(c.isspace() for c in value):
            words = " ".join(f'"{w}"' for w in value.split())
            raise SpecError(
                f"config.{key} is one string with spaces, so Docker would look for a program "
                f"named {value!r}", span,
                hint=f"give a list of words: {key} = [ {words} ];")
        return (value,)
    if not isinstance(value, ListValue):
        raise SpecError(f"config.{key} must be a list of strings", span)
    return tuple(_text(t, f"an element of config.{key}", span) for t in value.items)


def _signal(config: Attrs) -> str | None:
    signal = _config_string(config, "StopSignal")
    if signal is not None and not re.fullmatch(_SIGNAL, signal):
        raise SpecError(f"config.StopSignal {signal!r} is not a signal",
                        _span_of(config.items["StopSignal"], config.key_spans["StopSignal"]),
                        hint='a name such as "SIGTERM" or "SIGRTMIN+3", or a number.')
    return signal


def _label(name: str, thunk: Thunk, config: Attrs, key_span: Span) -> str:
    if "=" in name or not name:
        # The LABEL instruction splits key from value at the first '=', quotes or not.
        raise SpecError(f"label name {name!r} cannot be written in a Dockerfile", key_span,
                        hint="label names may not be empty or contain '='.")
    value = _text(thunk, f"label '{name}'", config.key_spans["Labels"])
    if _CONTROL.search(value.replace("\t", "")):
        raise SpecError(f"label '{name}' contains a line break or control character, which a "
                        "LABEL instruction cannot carry",
                        _span_of(thunk, config.key_spans["Labels"]))
    return value


def _env_entry(thunk: Thunk, config: Attrs) -> tuple[str, str]:
    span = _span_of(thunk, config.key_spans["Env"])
    entry = _text(thunk, "an Env entry", span)
    key, sep, value = entry.partition("=")
    if not sep:
        raise SpecError(f"Env entry {entry!r} has no '='", span,
                        hint='write each entry as "NAME=value".')
    if not _ENV_KEY.fullmatch(key):
        raise SpecError(f"Env name {key!r} is not a valid variable name", span)
    if _CONTROL.search(value.replace("\t", "")):
        raise SpecError(f"the value of Env {key} contains a line break or control character, "
                        "which an ENV instruction cannot carry", span)
    return key, value


def _set_items(config: Attrs, key: str) -> list[tuple[str, Thunk, Span]]:
    if key not in config.items:
        return []
    value, span = _config_value(config, key, Attrs, "an attribute set")
    assert isinstance(value, Attrs)
    items = [(name, thunk, value.key_spans.get(name, span))
             for name, thunk in value.items.items()]
    for name, _, name_span in items:
        if _CONTROL.search(name):
            raise SpecError(f"a name in config.{key} contains a control character", name_span)
    return items


def _set_keys(config: Attrs, key: str, check: Callable[[str, Attrs, str], None]) -> list[str]:
    names = []
    for name, _, _ in _set_items(config, key):
        check(name, config, key)
        names.append(name)
    return sorted(names)


def _check_path(name: str, config: Attrs, key: str) -> None:
    if not name or name != name.strip():
        # VOLUME trims each path, so such a path cannot reach the image as written.
        raise SpecError(f"config.{key} path {name!r} is empty or starts or ends with a space",
                        config.key_spans[key])


def _check_port(name: str, config: Attrs, key: str) -> None:
    if not _PORT.fullmatch(name):
        raise SpecError(f"config.{key} entry {name!r} is not a port", config.key_spans[key],
                        hint='write "8080/tcp", "53/udp" or "8080".')

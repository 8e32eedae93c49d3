"""Reading a builder's arguments: each builder's argument names, and the checked readers of
one argument (a string, a flag, a time, a platform, the contents, the base image) that
dockerTools', nix2container's and the config's modules share.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .builders import NIX2CONTAINER
from .errors import Span, SpecError
from .evaluate import (
    NULL,
    Attrs,
    ImageCall,
    ListValue,
    Opaque,
    PathValue,
    PulledImage,
    Thunk,
    Value,
    force_static,
    type_name,
)
from .image import DEFAULT_CREATED
from .vocabulary import NAME, REFERENCE, TAG, carries

# Each builder's arguments (nixpkgs dockerTools). Those that only shape the VM, the
# derivation, its tarball or its logging (diskSize, buildVMMemorySize, meta, passthru,
# compressor, debug) are accepted and change nothing; maxLayers is met by the single store layer.
ARGUMENTS = {
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


ARGUMENTS["streamLayeredImage"] = tuple(a for a in ARGUMENTS["buildLayeredImage"]
                                         if a != "compressor")


# nix2container's (nlewo/nix2container default.nix); `meta` only labels the derivation.
ARGUMENTS[f"{NIX2CONTAINER}.buildImage"] = (
    "name", "tag", "config", "layers", "copyToRoot", "contents", "fromImage", "arch", "perms",
    "maxLayers", "initializeNixDatabase", "nixUid", "nixGid", "created", "meta",
)


SCRIPTS = ("runAsRoot", "extraCommands", "fakeRootCommands")


# Arguments nixdf refuses for now, each with what to do instead.
_NOT_YET = {
    "fromImageName": "give fromImage an image reference instead, such as \"debian:bookworm\".",
    "fromImageTag": "give fromImage an image reference instead, such as \"debian:bookworm\".",
    "uid": "remove it and chown in runAsRoot, which runs as real root.",
    "gid": "remove it and chown in runAsRoot, which runs as real root.",
}


def check_arguments(call: ImageCall, builder: str) -> None:
    """Every argument is one of ``builder``'s that nixdf supports; contents is given once."""
    args, allowed = call.args, ARGUMENTS[builder]
    for key, span in args.key_spans.items():
        if key not in allowed and builder.startswith(NIX2CONTAINER) and key in SCRIPTS:
            raise SpecError(f"{call.builder} has no argument '{key}'", span,
                            hint="nix2container runs no scripts: make the files with a "
                            "derivation in copyToRoot, and set their owners and modes with "
                            "perms.")
        if key not in allowed:
            raise SpecError(f"{call.builder} has no argument '{key}'", span,
                            hint=_other_builders(key, builder)
                            or did_you_mean(key, allowed))
        # The layered builders do own the store by uid/gid; buildImage does not yet.
        if key in _NOT_YET and not (builder != "buildImage" and key in ("uid", "gid")):
            raise SpecError(f"the {call.builder} argument '{key}' is not supported yet", span,
                            hint=_NOT_YET[key])
    if "copyToRoot" in args.items and "contents" in args.items:
        raise SpecError("give either 'copyToRoot' or its old name 'contents', not both",
                        args.key_spans["contents"])


def name_and_tag(call: ImageCall) -> tuple[str, str]:
    """The image's name, lower-cased as both builders do, and its tag (default latest)."""
    args = call.args
    if "name" not in args.items:
        raise SpecError(f"{call.builder} needs a 'name'", call.span)
    name = string_arg(args, "name", call.builder)
    if not NAME.fullmatch(name.lower()):
        raise SpecError(f"image name {name!r} is not a valid image reference",
                        value_span(args, "name"),
                        hint="use lower-case letters, digits and . _ - separated by '/'.")
    tag = optional_string(args, "tag") or "latest"
    if not TAG.fullmatch(tag):
        raise SpecError(f"tag {tag!r} is not a valid image tag", value_span(args, "tag"),
                        hint="up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -.")
    return name.lower(), tag


def described(value: Value) -> str:
    return value.description if isinstance(value, Opaque) else type_name(value)


def timestamp(args: Attrs, key: str) -> int | None:
    """`created` or `mtime`: dockerTools' default, "now", or an RFC 3339 time, as epoch
    seconds."""
    created = optional_string(args, key)
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
                        value_span(args, key),
                        hint="such as \"2024-05-01T12:00:00Z\" (dockerTools' default is "
                        f"{DEFAULT_CREATED}).")
    epoch = int(when.timestamp())
    if epoch < 0:
        raise SpecError(f"'{key}' must not be before 1970", value_span(args, key),
                        hint="SOURCE_DATE_EPOCH, which carries it, counts from 1970.")
    return epoch


# Arguments whose counterpart in the other builders does the same job.
_COUNTERPARTS = {"fakeRootCommands": "runAsRoot", "runAsRoot": "fakeRootCommands",
                 "copyToRoot": "contents"}


def _other_builders(key: str, builder: str) -> str | None:
    owners = [b for b, names in ARGUMENTS.items() if key in names and b != builder]
    if not owners:
        return None
    hint = f"'{key}' is an argument of {' and '.join(owners)}"
    counterpart = _COUNTERPARTS.get(key)
    if counterpart in ARGUMENTS[builder]:
        hint += f"; {builder}'s '{counterpart}' does the same job"
    return hint + "."


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    folded = {c.lower(): c for c in choices}
    if word.lower() in folded:
        return f"did you mean '{folded[word.lower()]}'? (names are case-sensitive)"
    import difflib  # only a misspelt name needs it

    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else "expected one of: " + ", ".join(choices)


def value_span(args: Attrs, key: str) -> Span:
    thunk = args.items[key]
    return thunk.expr.span if thunk.expr is not None else args.key_spans[key]


def static(args: Attrs, key: str, what: str) -> Value:
    return force_static(args.items[key], what, value_span(args, key))


def string_arg(args: Attrs, key: str, what: str) -> str:
    value = static(args, key, f"'{key}'")
    if not isinstance(value, str):
        raise SpecError(f"'{key}' must be a string, got {type_name(value)}",
                        value_span(args, key))
    if not carries(value):
        raise SpecError(f"'{key}' contains a control character", value_span(args, key))
    return value


def optional_string(args: Attrs, key: str) -> str | None:
    if key not in args.items or args.items[key].force() is NULL:
        return None
    return string_arg(args, key, key)


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


def image_platform(args: Attrs, key: str) -> str | None:
    """The image's platform from its architecture (and variant): the build's --platform.

    The builder stage then runs on the engine's own platform, as dockerTools builds on
    the build machine: the contents must be built for the architecture (pkgsCross).
    """
    arch = optional_string(args, key)
    variant = optional_string(args, "variant")
    if not arch:  # nix2container's default "", like dockerTools' default: the build's own
        if variant:
            raise SpecError("'variant' needs an 'architecture'", value_span(args, "variant"))
        return None
    normal, implied = _ARCHITECTURE_ALIASES.get(arch, (arch, None))
    if normal not in _ARCHITECTURES:
        raise SpecError(f"'{key}' is {arch!r}, which is no architecture Docker knows",
                        value_span(args, key),
                        hint="use Docker's name for it (Go's GOARCH), one of: "
                        + ", ".join(_ARCHITECTURES))
    variant = variant or implied
    if variant is not None and not re.fullmatch(r"v[0-9]+", variant):
        raise SpecError(f"'variant' is {variant!r}; Docker's variants are v5 to v8 for arm "
                        "and v8 for arm64", value_span(args, "variant"))
    return "/".join(("linux", normal, *((variant,) if variant else ())))


def id_number(args: Attrs, key: str) -> int:
    if key not in args.items:
        return 0
    value = static(args, key, f"'{key}'")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise SpecError(f"'{key}' must be a user or group number", value_span(args, key))
    return value


def packages_only(args: Attrs, keys: tuple[str, ...] = ("copyToRoot", "contents")) -> None:
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
            span = span_of(item, args.key_spans[key])
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


def flag(args: Attrs, key: str, *, default: bool = False) -> bool:
    if key not in args.items:
        return default
    value = static(args, key, f"'{key}'")
    if not isinstance(value, bool):
        raise SpecError(f"'{key}' must be true or false", value_span(args, key))
    return value


def base_image(args: Attrs, by_call: dict[int, str | None],
                call: ImageCall) -> tuple[str | None, str | None]:
    if "fromImage" not in args.items:
        return None, None
    value = args.items["fromImage"].force()
    span = value_span(args, "fromImage")
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
                            hint=did_you_mean(key, allowed))
        if key in ("os", "arch"):
            raise SpecError(f"{function}'s '{key}' is not supported yet", span,
                            hint="nixdf builds for the engine's platform; the digest of a "
                            "multi-platform index selects the matching image.")
    for key in ("imageName", "imageDigest"):
        if key not in args.items:
            raise SpecError(f"{function} needs '{key}'", image.span)
    name, digest = string_arg(args, "imageName", function), string_arg(args, "imageDigest",
                                                                   function)
    if not NAME.fullmatch(name):
        raise SpecError(f"imageName {name!r} is not an image name", value_span(args,
                                                                                 "imageName"))
    if not re.fullmatch(_DIGEST, digest):
        raise SpecError(f"imageDigest {digest!r} is not a sha256 digest",
                        value_span(args, "imageDigest"), hint="sha256: and 64 hex digits.")
    return f"{name}@{digest}"


def span_of(thunk: Thunk, fallback: Span) -> Span:
    return thunk.expr.span if thunk.expr is not None else fallback


def static_text(thunk: Thunk, what: str, fallback: Span | None = None) -> str:
    span = span_of(thunk, fallback or Span("", 0, 0, 0, 0))
    value = force_static(thunk, what, span)
    if not isinstance(value, str):
        raise SpecError(f"{what} must be a string, got {type_name(value)}", span)
    return value

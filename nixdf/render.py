"""From a Dockerfile plan to Dockerfile text; the only user of jinja2.

All Dockerfile text lives in templates/; the Nix and shell the steps run, in the static
files of .nixdf/ (nixdf.libfiles). Every string that came from a Nixfile passes through
one of the quoting filters of nixdf.vocabulary, so it can neither start a new instruction
nor expand a variable it did not mean to.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache
from hashlib import sha256
from pathlib import PurePosixPath

import jinja2

from .cachedir import cache_dir
from .libfiles import LIB_DIR, lib_digest
from .plan import (
    BUILDER_STAGE,
    EXTERNAL_NIXPKGS,
    LIB_MOUNT,
    NETRC_SECRET,
    SRC_DIR,
    DockerfilePlan,
    FlakeSetup,
    cache_id,
)
from .spec import Healthcheck
from .vocabulary import dq, env_json, exec_json, pairs, shell_json, shell_quote, words_json

# dockerTools runs runAsRoot with `set -e` and coreutils first on PATH.
SCRIPT_PROLOGUE = "set -e; PATH=/nix/.nixdf/bin:/bin; export PATH\n"


def duration(nanoseconds: int) -> str:
    """A Go duration, exact and short: 30000000000 → 30s."""
    for unit, size in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if nanoseconds % size == 0:
            return f"{nanoseconds // size}{unit}"
    return f"{nanoseconds}ns"


def healthcheck(check: Healthcheck) -> str:
    """The arguments of a HEALTHCHECK line."""
    if check.test == ("NONE",):
        return "NONE"
    options = [f"--{flag}={duration(value)}" for flag, value in (
        ("interval", check.interval), ("timeout", check.timeout),
        ("start-period", check.start_period)) if value]
    if check.retries:
        options.append(f"--retries={check.retries}")
    command = (check.test[1] if check.test[0] == "CMD-SHELL"
               else exec_json(check.test[1:]))
    return " ".join([*options, "CMD", command])


def image_arg(attr: str | None) -> str:
    """lib.nix's ``image`` argument: the image's attribute path in the Nixfile."""
    return f"--argstr image {shell_quote(attr or '')}"


def store_name(path: str) -> str:
    """``/nix/store/<hash>-name`` -> ``<hash>-name``."""
    return path.rsplit("/", 1)[-1]


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """The templates as compiled by an earlier run: loading them costs a fraction of
    compiling them again, which was most of a cold ``nixdf render``.

    A best effort: an entry that cannot be read is a miss, one that cannot be
    written is not kept, and neither is an error.
    """

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # a damaged entry: compile the template instead
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _template_cache() -> _TemplateCache | None:
    """The cache under :func:`nixdf.cachedir.cache_dir`; None if there is no home.

    jinja2 checks each entry against its template's text. The directory is named
    after all else that shapes the compiled code: jinja2's version and this
    module, which sets the environment's options and filters.
    """
    directory = cache_dir()
    version = getattr(jinja2, "__version__", None)
    if directory is None or not version:
        return None
    try:
        with open(__file__, "rb") as this_module:
            key = sha256(this_module.read() + version.encode()).hexdigest()[:16]
    except OSError:
        return None
    return _TemplateCache(str(directory / f"templates-{key}"))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nixdf.templates", "."),
        bytecode_cache=_template_cache(),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(exec_json=exec_json, words_json=words_json, dq=dq, pairs=pairs,
                       healthcheck=healthcheck, shell_quote=shell_quote, shell_json=shell_json,
                       store_name=store_name, size_text=size_text,
                       utc=utc)
    return env


def _nixpkgs_env(plan: DockerfilePlan) -> tuple[str, str]:
    """lib.nix's package set: a tarball's URL and sha256, or its directory in the builder."""
    source = plan.nixpkgs
    if source.kind == "tarball":
        return source.url, source.sha256
    return source.path_in_builder, ""


def _flake_env(flake: FlakeSetup) -> str:
    """The flake's settings for lib.nix (see templates/flake-outputs.nix), an ENV value."""
    return env_json([("file", flake.flake_nix), ("system", flake.system), ("attr", flake.attr),
                     ("overrides", dict(flake.overrides)),
                     ("images", {key: list(path) for key, path in flake.images})])


def render_gc(nix_image: str, keep: int) -> str:
    """The Dockerfile of ``nixdf gc``: the /nix cache of ``nix_image`` down to ``keep`` bytes."""
    return _environment().get_template("gc.j2").render(
        nix_image=nix_image, builder_stage=BUILDER_STAGE, cache_id=cache_id(nix_image),
        keep_kib=keep // 1024, keep_text=size_text(keep))


def utc(epoch: int) -> str:
    """``1`` -> ``1970-01-01T00:00:01Z``."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def size_text(size: int) -> str:
    """``1536`` -> ``1.5 KiB``: sizes for people."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    return f"{size} B" if unit == 0 else f"{value:.1f} {units[unit]}"


def _nix_options(plan: DockerfilePlan) -> str:
    caches = plan.caches
    options = "".join(
        f" --option {name} {shell_quote(' '.join(values))}" for name, values in (
            ("extra-substituters", caches.substituters),
            ("extra-trusted-public-keys", caches.trusted_keys)) if values)
    if caches.netrc:
        options += f" --option netrc-file /run/secrets/{NETRC_SECRET}"
    return options


def _common(plan: DockerfilePlan) -> dict[str, object]:
    """What every template that runs Nix needs."""
    return dict(
        plan=plan, builder_stage=BUILDER_STAGE, src_dir=SRC_DIR,
        external_nixpkgs=EXTERNAL_NIXPKGS, netrc_secret=NETRC_SECRET,
        nix_options=_nix_options(plan), lib_nix=f"{LIB_MOUNT}/lib.nix",
        lib_dir=str(PurePosixPath(plan.nixfile).parent / LIB_DIR), image_arg=image_arg,
        nixpkgs_env=_nixpkgs_env(plan), lib_digest=lib_digest(),
        flake_env=_flake_env(plan.flake) if plan.flake else "")


def render_lock(plan: DockerfilePlan, attrs: Iterable[str | None],
                layered: Iterable[str | None], discover: bool = False) -> str:
    """The Dockerfile of ``nixdf lock``: Nix evaluates the images' config and scripts, and
    the ``layered`` images' closures are built (``/out/closure-N``, in that order).

    With ``discover``, Nix finds a flake's images first (lib.nix's ``discover``)."""
    return _environment().get_template("lock.j2").render(
        **_common(plan), discover=discover, attrs=[attr or "" for attr in attrs],
        layered=[] if discover else list(layered))


def render_seed(plan: DockerfilePlan, attrs: Iterable[str | None], sources: tuple[str, ...],
                record_chunks: list[list[str]], run_id: str) -> str:
    """The Dockerfile of ``nixdf build --nix-cache-from``'s seed build (nixdf.cachefrom): the
    /nix cache takes from ``sources`` what the lock file records (``record_chunks``: its lines,
    a step's worth each) and the images ``attrs`` need."""
    return _environment().get_template("cache_from.j2").render(
        **_common(plan), attrs=list(attrs), sources=sources, run_id=run_id,
        record_chunks=record_chunks)


def render(plan: DockerfilePlan) -> str:
    """The Dockerfile for ``plan``: deterministic, one short comment per stage."""
    # Run in the Nixfile's directory; a context above it (it names paths up there) is given.
    depth = len(PurePosixPath(plan.nixfile).parent.parts)
    context = "/".join([".."] * depth)
    notes = [] if plan.link else ["Docker 20.10's built-in BuildKit"]
    if depth:
        notes.append(f"in the Nixfile's directory: {context} holds every Nix input")
    # Current BuildKit writes the images' created time from SOURCE_DATE_EPOCH.
    epochs = {image.created for image in plan.images}
    epoch = epochs.pop() if len(epochs) == 1 and plan.link else None
    # An image that names its architecture is built for it.
    platforms = sorted({image.platform or "" for image in plan.images})
    if len(platforms) > 1:
        notes.append("an image that names an architecture: with --target and its --platform")
    build_hint = " ".join([
        "docker buildx build" if plan.link else "DOCKER_BUILDKIT=1 docker build",
        *([f"--platform {platforms[0]}"] if len(platforms) == 1 and platforms[0] else []),
        *([f"--build-arg SOURCE_DATE_EPOCH={epoch}"] if epoch is not None else []),
        f"-f Dockerfile {context}" if depth else ".",
        *([f"({'; '.join(notes)})"] if notes else [])])
    if plan.nixpkgs.kind == "external":
        build_hint = "nixdf build, which supplies the package set outside this context"
    return _environment().get_template("Dockerfile.j2").render(
        **_common(plan), script_prologue=SCRIPT_PROLOGUE, build_hint=build_hint)

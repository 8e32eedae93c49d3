"""The ``nixdf`` command: a thin typer shell over :mod:`nixdf.api`.

Exit codes: 0 success, 1 a checked Dockerfile is stale, 2 bad Nixfile or usage,
3 the engine is missing or the build failed, 70 a bug in nixdf.
"""

# No `from __future__ import annotations` here: typer reads the commands' annotations,
# and strings would be compiled and evaluated (twice) on every run. Only what `render`
# needs is imported at the top; the build's modules are imported by `build` itself.
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import api, defaults
from .errors import NeedsLockError, NixdfError, UsageError
from .libfiles import stale_lib_files, write_lib
from .render import size_text

app = typer.Typer(
    add_completion=True,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Nix builds for BuildKit, through a Dockerfile you can read.\n\n"
    "Exit codes: 0 ok, 1 a checked Dockerfile is stale, 2 bad Nixfile or usage, "
    "3 engine missing or build failed.",
)


def _print_version(asked: bool) -> None:
    if asked:
        from . import __version__

        print(f"nixdf {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


EngineOpt = Annotated[str, typer.Option(
    "--engine", help="auto (docker, or podman when there is no docker client), buildx, "
    "docker or podman.")]
BuilderOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer reads Optional
    "--builder", help="The buildx builder instance (every build nixdf runs goes to it).")]
NixfileArg = Annotated[Path, typer.Argument(
    help="The Nixfile, or a directory that holds one.", show_default="./Nixfile")]
NixImage = Annotated[str, typer.Option("--nix-image", help="The Nix builder image.",
                                       metavar="REF")]
NixpkgsOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer reads Optional
    "--nixpkgs", metavar="SRC",
    help="What pkgs is: a local directory or file (import SRC {}), or URL#sha256=HASH of a "
    f"tarball. Default: the pinned nixpkgs {defaults.NIXPKGS_RELEASE} release.")]
CompatOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--compat", metavar="TARGET", envvar="NIXDF_COMPAT",
    help="docker-20.10: use only Dockerfile syntax 1.2 (no # syntax= line, no COPY --link). "
    "builtin-frontend: no # syntax= line, for an engine that cannot pull docker/dockerfile "
    "and whose own frontend has COPY --link (Docker 23+).")]


SubstituterOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
    "--substituter", metavar="URL", help="A binary cache for Nix in the builder (repeatable).")]
TrustedKeyOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
    "--trusted-public-key", metavar="KEY", help="A key the binary caches sign with (repeatable).")]
PerPathOpt = Annotated[bool, typer.Option(
    "--per-path", help="Give each store layer of a locked closure a stage of its own, keyed "
    "by its paths' hashes: a rebuild never copies an unchanged path again.")]
NetrcSecretOpt = Annotated[bool, typer.Option(
    "--netrc-secret", help="The build gets a netrc for the caches as the secret 'nix-netrc' "
    "(nixdf build --netrc FILE passes it).")]


OverrideOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
    "--override-input", metavar="NAME SRC",
    help="For a flake: replace its input NAME with SRC, a local directory or URL#sha256=HASH "
    "(repeatable). --nixpkgs replaces the input named nixpkgs.")]
ImpureOpt = Annotated[bool, typer.Option(
    "--impure", help="For a flake: accepted; nixdf's Nix evaluation is impure already "
    "(builtins.getEnv sees the builder's environment).")]


def _options(nix_image: str, nixpkgs: str | None, compat: str | None,
             substituter: list[str] | None, trusted_public_key: list[str] | None,
             netrc: bool, per_path: bool = False) -> api.RenderOptions:
    return api.RenderOptions(nix_image, nixpkgs, compat, tuple(substituter or ()),
                             tuple(trusted_public_key or ()), netrc, per_path)


def _source(argument: Path, target: str | None, overrides: list[str] | None,
            options: api.RenderOptions,
            platforms: tuple[str, ...] = ()) -> tuple[Path, str | None, api.RenderOptions]:
    """The Nixfile or flake.nix named, the --target left for the build (a flake's is its
    attribute), and the options with the flake's request."""
    from .flake import FlakeRequest, check_overrides, resolve, system_of

    path, attr, is_flake = resolve(str(argument), target)
    pairs = tuple(tuple(o.split("=", 1)) for o in overrides or ())
    if not is_flake:
        if pairs:
            raise UsageError("--override-input replaces a flake's input; this is a Nixfile",
                             hint="use --nixpkgs for a Nixfile's package set.")
        return path, target, options
    check_overrides(pairs)  # type: ignore[arg-type]
    request = FlakeRequest(attr, system_of(platforms), pairs)  # type: ignore[arg-type]
    import dataclasses

    return path, None, dataclasses.replace(options, flake=request)


def _say(message: str) -> None:
    """What the library does on the way (a lock it writes), on stderr."""
    print(f"nixdf: {message}", file=sys.stderr)


def _fail(err: NixdfError) -> typer.Exit:
    print(str(err), file=sys.stderr)
    return typer.Exit(err.exit_code)


def _guard(func):  # type: ignore[no-untyped-def]
    """Expected errors become a message and an exit code; bugs say so."""
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return func(*args, **kwargs)
        except NixdfError as err:
            raise _fail(err) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception:
            import traceback

            print("nixdf: internal error, please report it with this output:", file=sys.stderr)
            traceback.print_exc()
            raise typer.Exit(70) from None
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    wrapper.__annotations__ = func.__annotations__
    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


@app.command()
@_guard
def render(
    nixfile: NixfileArg = Path("Nixfile"),
    output: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "-o", "--output", help="Write the Dockerfile here (atomically) instead of stdout.")
    ] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="With -o: write nothing; exit 1 and print a diff if FILE is stale.")
    ] = False,
    nix_image: NixImage = defaults.NIX_IMAGE,
    nixpkgs: NixpkgsOpt = None,
    compat: CompatOpt = None,
    substituter: SubstituterOpt = None,
    trusted_public_key: TrustedKeyOpt = None,
    netrc_secret: NetrcSecretOpt = False,
    per_path: PerPathOpt = False,
    target: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--target", help="A flake's image: its attribute (or write DIR#ATTR).")] = None,
    override_input: OverrideOpt = None,
    impure: ImpureOpt = False,
) -> None:
    """Print the Dockerfile for a Nixfile or a flake (DIR#ATTR, DIR/flake.nix).

    Example: nixdf render examples/redis/Nixfile -o examples/redis/Dockerfile
    """
    if check and output is None:
        raise UsageError("--check compares against a file: give it with -o FILE")
    nixfile, target, options = _source(api.nixfile_at(nixfile), target, override_input,
                                       _options(nix_image, nixpkgs, compat, substituter,
                                                trusted_public_key, netrc_secret, per_path))
    if target is not None:
        raise UsageError(f"--target {target}: a Nixfile's Dockerfile has every image",
                         hint="--target picks a flake's image; `nixdf build --target` builds "
                         "one image of a Nixfile.")
    rendered = _render(nixfile, options)
    fix = ["render", str(nixfile), "-o", str(output)]
    if output is None:
        sys.stdout.write(rendered.text)
        # The Dockerfile printed needs .nixdf/ in its context to build; review needs nothing.
        try:
            _write_lib(rendered)
        except NixdfError as err:
            print(f"nixdf: warning: {err.message}", file=sys.stderr)
    elif check:
        diff = api.staleness(output, rendered.text)
        if diff:
            _report_stale(output, diff, fix, options)
        if diff or _report_stale_lib(rendered, fix, options):
            raise typer.Exit(1)
    else:
        api.write_atomic(output, rendered.text)
        _write_lib(rendered)


def _write_lib(rendered: api.Rendered) -> None:
    for path in write_lib(rendered.inputs.directory):
        print(f"nixdf: wrote {os.path.relpath(path)}", file=sys.stderr)


def _report_stale_lib(rendered: api.Rendered, fix: list[str],
                      options: api.RenderOptions) -> bool:
    """Whether the Dockerfile's ``.nixdf/`` files are missing or not nixdf's, said on stderr."""
    stale = stale_lib_files(rendered.inputs.directory)
    for path in stale:
        print(f"nixdf: {path} is missing or not this nixdf's (the Dockerfile's steps run it); "
              f"run `{_command(fix, options)}`", file=sys.stderr)
    return bool(stale)


def _render(nixfile: Path, options: api.RenderOptions) -> api.Rendered:
    """Render; what needs a lock says which command makes it, with the options given."""
    try:
        rendered = api.render_locking(nixfile, options, notify=_say)
    except NeedsLockError as err:
        raise _with_lock_hint(err, nixfile, options) from None
    if rendered.wants_lock:
        print(f"nixdf: {_lock_state(nixfile, rendered.lock_state)}, so the store of the layered "
              f"images of {nixfile} goes in one layer: run `{_lock_command(nixfile, options)}` "
              "for their layers", file=sys.stderr)
    return rendered


def _with_lock_hint(err: NeedsLockError, nixfile: Path,
                    options: api.RenderOptions) -> NeedsLockError:
    err.hint = ("nixdf writes this value into the Dockerfile: Nix computes it in the builder "
                "and the lock file beside the Nixfile keeps it, store paths and all. "
                f"{_lock_state(nixfile, err.lock_state)}: run `{_lock_command(nixfile, options)}`"
                " (nixdf build does it by itself).")
    return err


def _lock_state(nixfile: Path, state: str) -> str:
    lock = api.lock_path(nixfile)
    if state == "stale":
        return (f"{lock} was made for other input (the Nixfile, a file it imports, "
                "--nixpkgs or --nix-image changed)")
    return f"{lock} does not exist"


def _lock_command(nixfile: Path, options: api.RenderOptions) -> str:
    return _command(["lock", str(nixfile)], options, lock=True)


def _command(words: list[str], options: api.RenderOptions, lock: bool = False) -> str:
    """A nixdf command with the render options given, so that it runs as printed: a lock
    made without the user's --nixpkgs would be for other input."""
    import shlex

    argv = ["nixdf", *words]
    if options.nix_image != defaults.NIX_IMAGE:
        argv += ["--nix-image", options.nix_image]
    if options.nixpkgs is not None:
        argv += ["--nixpkgs", options.nixpkgs]
    if options.compat is not None:
        argv += ["--compat", options.compat]
    if options.flake is not None:
        if options.flake.attr is not None:
            argv += ["--target", options.flake.attr]
        for name, src in options.flake.overrides:
            argv += ["--override-input", name, src]
    for url in options.substituters:
        argv += ["--substituter", url]
    for key in options.trusted_keys:
        argv += ["--trusted-public-key", key]
    if options.netrc and not lock:
        argv.append("--netrc-secret")
    if options.per_path and not lock:
        argv.append("--per-path")
    return shlex.join(argv)


def _report_stale(path: Path, diff: str, fix: list[str], options: api.RenderOptions) -> None:
    sys.stdout.write(diff)
    print(f"nixdf: {path} is out of date with its Nixfile; run `{_command(fix, options)}`",
          file=sys.stderr)


@app.command()
@_guard
def sync(
    nixfiles: Annotated[list[Path], typer.Argument(help="Nixfiles; each Dockerfile is "
                                                   "written beside its Nixfile.")],
    name: Annotated[str, typer.Option(
        "--name", help="File name of the Dockerfile beside each Nixfile.")] = "Dockerfile",
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; exit 1 and print a diff for each stale Dockerfile.")
    ] = False,
    nix_image: NixImage = defaults.NIX_IMAGE,
    nixpkgs: NixpkgsOpt = None,
    compat: CompatOpt = None,
    substituter: SubstituterOpt = None,
    trusted_public_key: TrustedKeyOpt = None,
    netrc_secret: NetrcSecretOpt = False,
    per_path: PerPathOpt = False,
    override_input: OverrideOpt = None,
) -> None:
    """Keep the Dockerfile beside each Nixfile up to date (the pre-commit hooks run this).

    Exits 1 when a Dockerfile was stale, written or not, so that pre-commit stops
    the commit for the new file to be reviewed and staged.

    Example: nixdf sync services/*/Nixfile --compat docker-20.10
    """
    options = _options(nix_image, nixpkgs, compat, substituter, trusted_public_key,
                       netrc_secret, per_path)
    api.check_options(options)
    # Every file, whatever fails: pre-commit splits and shuffles the list, and stopping at
    # the first error would leave the rest stale by chance.
    stale = 0
    failed: list[tuple[Path, NixdfError]] = []
    for given in nixfiles:
        nixfile = api.nixfile_at(given)
        output = nixfile.parent / name
        try:
            nixfile, _, file_options = _source(nixfile, None, override_input, options)
            rendered = _render(nixfile, file_options)
            diff = api.staleness(output, rendered.text)
            fix = ["sync", str(nixfile), *(["--name", name] if name != "Dockerfile" else [])]
            if check:
                if diff:
                    _report_stale(output, diff, fix, file_options)
                if _report_stale_lib(rendered, fix, file_options):
                    stale += not diff
            else:
                if diff:
                    api.write_atomic(output, rendered.text)
                    print(f"nixdf: wrote {output}", file=sys.stderr)
                _write_lib(rendered)
        except NixdfError as err:
            print(str(err), file=sys.stderr)
            failed.append((nixfile, err))
            continue
        stale += bool(diff)
    if failed:
        print(f"nixdf: {len(failed)} of {len(nixfiles)} Nixfiles failed: "
              + ", ".join(str(nixfile) for nixfile, _ in failed), file=sys.stderr)
        raise typer.Exit(max(err.exit_code for _, err in failed))
    if stale:
        raise typer.Exit(1)


Many = Optional[list[str]]  # noqa: UP045 - typer reads Optional


@app.command(context_settings={"allow_extra_args": True})
@_guard
def build(
    ctx: typer.Context,
    nixfile: NixfileArg = Path("Nixfile"),
    tag: Annotated[Many, typer.Option(
        "-t", "--tag", help="Name:tag for the image (default: the Nixfile's name and tag).")
    ] = None,
    target: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--target", help="Build only this image (its attribute name; a flake's attribute, "
        "as DIR#ATTR).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the build commands instead of running them.")] = False,
    nix_image: NixImage = defaults.NIX_IMAGE,
    nixpkgs: NixpkgsOpt = None,
    compat: CompatOpt = None,
    push: Annotated[bool, typer.Option("--push", help="Push the image (buildx), or "
                                       "`docker push` it after the build.")] = False,
    load: Annotated[bool, typer.Option("--load", help="Load the image into docker (buildx's "
                                       "default here unless --push).")] = False,
    platform: Annotated[Many, typer.Option("--platform", help="Target platform(s).")] = None,
    builder: BuilderOpt = None,
    cache_from: Annotated[Many, typer.Option("--cache-from", help="External cache source.")
                          ] = None,
    cache_to: Annotated[Many, typer.Option("--cache-to", help="Cache export (buildx).")] = None,
    secret: Annotated[Many, typer.Option("--secret", help="Secret for the build, "
                                         "id=…,src=….")] = None,
    progress: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--progress", help="auto, plain or tty.")] = None,
    build_arg: Annotated[Many, typer.Option("--build-arg", help="KEY=VALUE.")] = None,
    label: Annotated[Many, typer.Option("--label", help="KEY=VALUE image label.")] = None,
    substituter: SubstituterOpt = None,
    trusted_public_key: TrustedKeyOpt = None,
    netrc: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--netrc", metavar="FILE", help="Credentials for the binary caches, given to the "
        "build as a secret: never in a layer, the cache key or the history.")] = None,
    per_path: PerPathOpt = False,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Run every step again: passed to the build command.")] = False,
    engine: EngineOpt = "auto",
    override_input: OverrideOpt = None,
    impure: ImpureOpt = False,
    nix_cache_from: Annotated[Many, typer.Option(
        "--nix-cache-from", metavar="IMAGE", help="Take the store paths Nix would build and "
        "IMAGE holds (the image built last time) into the /nix cache first, each checked "
        "against the NAR hash the lock file records; repeatable.")] = None,
) -> None:
    """Render the Dockerfile and build it with BuildKit.

    Uses `docker buildx build` when buildx is installed, otherwise
    `DOCKER_BUILDKIT=1 docker build` (then for Docker 20.10 the compat target).
    Arguments after `--` go to the build command as they are.

    Example: nixdf build examples/redis/Nixfile --target redis -t redis:dev -- --network=host
    """
    from .engine import PassThrough
    from .plan import NETRC_SECRET

    nixfile = api.nixfile_at(nixfile)
    secrets = tuple(secret or ())
    if netrc is not None:
        if not netrc.is_file():
            raise UsageError(f"--netrc {netrc}: no such file")
        secrets += (f"id={NETRC_SECRET},src={netrc.resolve()}",)
    passthrough = PassThrough(
        push=push, load=load, platforms=tuple(platform or ()), builder=builder,
        cache_from=tuple(cache_from or ()), cache_to=tuple(cache_to or ()),
        secrets=secrets, progress=progress, build_args=tuple(build_arg or ()),
        labels=tuple(label or ()), extra=("--no-cache",) * no_cache + tuple(ctx.args))
    options = _options(nix_image, nixpkgs, compat, substituter, trusted_public_key,
                       netrc is not None, per_path)
    nixfile, target, options = _source(nixfile, target, override_input, options,
                                       tuple(platform or ()))
    sources = tuple(nix_cache_from or ())
    if dry_run:
        api.check_sources(sources)
        if sources:
            _say(f"--dry-run: the seed build from {', '.join(sources)} is left out")
        try:
            prepared = api.prepare_build(nixfile, options, target=target, tags=tuple(tag or ()),
                                         passthrough=passthrough, engine_choice=engine)
        except NeedsLockError as err:
            raise _with_lock_hint(err, nixfile, options) from None
    else:
        prepared = api.prepare_locked_build(nixfile, options, target=target,
                                            tags=tuple(tag or ()), passthrough=passthrough,
                                            engine_choice=engine, cache_from=sources,
                                            notify=_say)
    the_plan = prepared.rendered.plan
    target = the_plan.syntax or ("builtin-frontend" if the_plan.link else "docker-20.10")
    compat_note = f", Dockerfile target {target}"
    print(f"nixdf: building with {prepared.engine.kind} ({prepared.engine.name}{compat_note})",
          file=sys.stderr)
    if dry_run:
        _print_commands(prepared, nixfile, options)
        return
    api.build(prepared)


@app.command()
@_guard
def lock(
    nixfile: NixfileArg = Path("Nixfile"),
    nix_image: NixImage = defaults.NIX_IMAGE,
    nixpkgs: NixpkgsOpt = None,
    compat: CompatOpt = None,
    substituter: SubstituterOpt = None,
    trusted_public_key: TrustedKeyOpt = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the Dockerfile that locks and its commands instead of "
        "running them.")] = False,
    engine: EngineOpt = "auto",
    builder: BuilderOpt = None,
    target: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--target", help="A flake's image: its attribute (or write DIR#ATTR).")] = None,
    override_input: OverrideOpt = None,
    impure: ImpureOpt = False,
) -> None:
    """Have Nix compute each image's config and scripts and keep them in NIXFILE.lock.

    Store paths in config or scripts ("${pkgs.hello}/bin/hello") are known only to Nix:
    nixdf evaluates the Nixfile in the builder image (no Nix needed here) and writes
    what Nix says beside the Nixfile. render then uses it, offline and deterministic;
    build locks by itself when it must. Commit the lock: its diff shows which store
    paths a change brings in.

    Example: nixdf lock examples/hello/Nixfile
    """
    nixfile = api.nixfile_at(nixfile)
    options = _options(nix_image, nixpkgs, compat, substituter, trusted_public_key, False)
    nixfile, target, options = _source(nixfile, target, override_input, options)
    if target is not None:
        raise UsageError(f"--target {target}: a Nixfile's lock covers every image",
                         hint="--target picks a flake's image.")
    prepared = api.prepare_lock(nixfile, options, engine_choice=engine, builder=builder)
    if dry_run:
        import shlex

        print(prepared.dockerfile)
        for command in prepared.commands(Path("OUTPUT")):
            print("# " + shlex.join(command.argv))
        return
    path = api.lock(prepared)
    print(f"nixdf: wrote {path}", file=sys.stderr)


@app.command()
@_guard
def gc(
    keep: Annotated[str, typer.Option(
        "--keep", metavar="SIZE", help="Collect until the store is no bigger than this: "
        "0 (all garbage), 500M, 2G.")] = "0",
    nix_image: NixImage = defaults.NIX_IMAGE,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the Dockerfile and the build command instead.")] = False,
    engine: EngineOpt = "auto",
    builder: BuilderOpt = None,
) -> None:
    """Collect the garbage of the /nix cache mount that builds on the builder image share.

    BuildKit keeps that store between builds, which makes rebuilds fast, and
    never shrinks it. Only store paths no GC root holds are deleted; a later
    build that needs one builds or substitutes it again.

    Example: nixdf gc --keep 2G
    """
    import shlex

    plan = api.prepare_gc(nix_image, api.parse_size(keep), engine, builder)
    if dry_run:
        print(plan.dockerfile)
        print("# " + shlex.join(plan.command(Path("CONTEXT"), Path("REPORT")).argv))
        return
    report = api.gc(plan)
    print(f"nixdf: the /nix cache of {nix_image}: {size_text(report.before)} -> "
          f"{size_text(report.after)} ({size_text(report.before - report.after)} freed)")


def _print_commands(prepared: api.PreparedBuild, nixfile: Path,
                    options: api.RenderOptions) -> None:
    """The build as shell commands that run as printed."""
    import shlex

    render_argv = ["nixdf", "render", str(nixfile), "--nix-image", options.nix_image]
    if options.flake is not None:
        if options.flake.attr is not None:
            render_argv += ["--target", options.flake.attr]
        for name, source in options.flake.overrides:
            render_argv += ["--override-input", name, source]
    if options.nixpkgs is not None:
        render_argv += ["--nixpkgs", options.nixpkgs]
    if not prepared.rendered.plan.link:
        render_argv += ["--compat", "docker-20.10"]
    elif prepared.rendered.plan.syntax is None:
        render_argv += ["--compat", "builtin-frontend"]
    for url in options.substituters:
        render_argv += ["--substituter", url]
    for key in options.trusted_keys:
        render_argv += ["--trusted-public-key", key]
    if options.netrc:
        render_argv.append("--netrc-secret")
    if options.per_path:
        render_argv.append("--per-path")
    from .engine import engine_variables

    prefix = "".join(f"{name}={value} "
                     for name, value in engine_variables(prepared.engine).items())
    for command in prepared.commands:
        line = shlex.join(command.argv)
        if command.reads_dockerfile:
            line = f"{shlex.join(render_argv)} | {prefix}{line}"
        elif command.stdin is not None:
            # printf turns the \n back into the line breaks of the small Dockerfile.
            line = f"printf {shlex.quote(command.stdin.replace(chr(10), chr(92) + 'n'))} | " \
                   f"{prefix}{line}"
        print(line)


def _joined_overrides(argv: list[str]) -> list[str]:
    """``--override-input NAME SRC`` (two words, as nix spells it) as typer's one value."""
    result: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            result += [word, *words]
            break
        if word == "--override-input":
            name, src = next(words, ""), next(words, "")
            result.append(f"--override-input={name}={src}")
        else:
            result.append(word)
    return result


def main() -> None:
    # A run is one short process whose many objects are mostly an acyclic syntax tree: the
    # cycle collector, walking them again and again, found nothing to free and took 3/4 of
    # rendering a 5 MB Nixfile (17 s against 4 s, the same peak memory).
    import gc

    gc.disable()
    sys.argv[1:] = _joined_overrides(sys.argv[1:])
    app()

"""Running the build: the only module that starts processes.

The argv of every command is made by a pure function that tests assert on; the
side effects stay in :func:`run_build` and :func:`probe`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import EngineError, UsageError
from .plan import ExternalSource
from .progress import ANSI as _ANSI
from .progress import Shown

# Lines of build output kept to find the cause of a failure in.
_LOG_TAIL = 400
# Docker releases before 23.0 ship BuildKit without buildx as their `docker build`;
# their built-in Dockerfile frontend is syntax 1.2 (see the compat target).
_FIRST_MODERN_DOCKER = 23


@dataclass(frozen=True, slots=True)
class Engine:
    """The engine found: its client binary, how it builds, the server's version.

    ``docker`` is the client: docker, or podman when ``podman`` is set.
    """

    docker: str
    buildx: bool
    server_version: str
    podman: bool = False

    @property
    def kind(self) -> str:
        if self.podman:
            return "podman build"
        return "docker buildx build" if self.buildx else "DOCKER_BUILDKIT=1 docker build"

    @property
    def name(self) -> str:
        return f"{'Podman' if self.podman else 'Docker'} {self.server_version}"

    @property
    def wants_compat(self) -> bool:
        """Docker 20.10's BuildKit and buildah cannot fetch a newer Dockerfile frontend."""
        return self.podman or (not self.buildx and not _modern(self.server_version))


@dataclass(frozen=True, slots=True)
class PassThrough:
    """The `docker buildx build` options users reach for, passed on as given."""

    push: bool = False
    load: bool = False
    platforms: tuple[str, ...] = ()
    builder: str | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    progress: str | None = None
    build_args: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """One build: its context, target stage, tags, and the options passed on to the engine."""

    context: Path
    target: str | None
    tags: tuple[str, ...]
    external_nixpkgs: ExternalSource | None = None
    passthrough: PassThrough = PassThrough()
    # The image's created time: BuildKit 0.11+ writes it into the config and history.
    source_date_epoch: int | None = None
    # The platform the image names (its architecture); None: --platform as passed on.
    platform: str | None = None
    # A flake's inputs replaced by local directories outside the context, as the package set.
    external_inputs: tuple[ExternalSource, ...] = ()


@dataclass(frozen=True, slots=True)
class Command:
    """One process of a build; ``stdin`` is its input, ``reads_dockerfile`` the rendered one."""

    argv: tuple[str, ...]
    stdin: str | None = None
    reads_dockerfile: bool = False


def docker_candidates() -> list[str]:
    """NIXDF_DOCKER if set, else every `docker` on PATH, in PATH order."""
    chosen = os.environ.get("NIXDF_DOCKER")
    if chosen:
        return [chosen] if shutil.which(chosen) else []
    found: list[str] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = shutil.which("docker", path=directory) if directory else None
        if path and os.path.realpath(path) not in {os.path.realpath(f) for f in found}:
            found.append(path)
    return found


ENGINES = ("auto", "buildx", "docker", "podman")


def probe(choice: str = "auto") -> Engine:
    """The engine ``choice`` names; "auto" takes docker when one answers, else podman."""
    if choice not in ENGINES:
        raise UsageError(f"--engine {choice}: unknown engine", hint="one of " + ", ".join(ENGINES))
    if choice == "podman":
        return _probe_podman()
    # Podman only stands in when there is no docker client at all: a docker that is
    # named (NIXDF_DOCKER) or installed but not answering is the user's to fix.
    named = os.environ.get("NIXDF_DOCKER")
    if choice == "auto" and not named and not docker_candidates() and shutil.which("podman"):
        return _probe_podman()
    engine = _probe_docker()
    if choice == "buildx" and not engine.buildx:
        raise EngineError(f"{engine.docker} has no buildx plugin (install docker-buildx)")
    return engine


def _probe_podman() -> Engine:
    if shutil.which("podman") is None:
        raise EngineError("no 'podman' command found: install it (Debian: apt-get install "
                          "podman buildah)")
    version = _capture(["podman", "version", "--format", "{{.Client.Version}}"])
    if version is None:
        raise EngineError("podman does not answer: run 'podman info' to see why")
    return Engine("podman", buildx=False, server_version=version.strip(), podman=True)


def _probe_docker() -> Engine:
    """Find a docker client that can build with BuildKit; one clear line when there is none.

    A client of Docker 23 or later without the buildx plugin cannot use BuildKit at
    all ("BuildKit is enabled but the buildx component is missing"), so another
    `docker` further down PATH (an older one, with BuildKit built in) is tried.
    """
    candidates = docker_candidates()
    if not candidates:
        raise EngineError("no 'docker' command found: install Docker (Debian: apt-get install "
                          "docker.io) or set NIXDF_DOCKER to the docker client")
    answered = False
    for docker in candidates:
        # Both at once: each costs a client start, which is much of a no-op build's time.
        versions, buildx_version = _capture_all(
            [docker, "version", "--format", "{{.Client.Version}} {{.Server.Version}}"],
            [docker, "buildx", "version"])
        if versions is None or len(versions.split()) != 2:
            continue
        answered = True
        client, server = versions.split()
        buildx = buildx_version is not None
        if buildx or not _modern(client):
            return Engine(docker, buildx, server)
    if not answered:
        raise EngineError("the Docker engine does not answer: start it (systemctl start docker, "
                          "or dockerd), point DOCKER_HOST at a running one, or use "
                          "--engine podman")
    raise EngineError(f"{candidates[0]} cannot build with BuildKit: its buildx plugin is missing "
                      "(install docker-buildx, or set NIXDF_DOCKER to a client that has it)")


def _modern(version: str) -> bool:
    major = version.split(".", 1)[0]
    return not major.isdigit() or int(major) >= _FIRST_MODERN_DOCKER


def _capture(argv: Sequence[str]) -> str | None:
    return _capture_all(argv)[0]


def _capture_all(*argvs: Sequence[str]) -> list[str | None]:
    """Each command's stdout (None if it failed), the commands running side by side."""
    procs: list[subprocess.Popen[str] | None] = []
    for argv in argvs:
        try:
            procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True))
        except OSError:
            procs.append(None)
    outputs: list[str | None] = []
    for proc in procs:
        if proc is None:
            outputs.append(None)
            continue
        try:
            stdout, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            outputs.append(None)
            continue
        outputs.append(stdout if proc.returncode == 0 else None)
    return outputs


def build_argv(engine: Engine, request: BuildRequest) -> tuple[str, ...]:
    """The exact command that builds ``request``; refuses what the engine cannot do."""
    options = request.passthrough
    check_supported(engine, options)
    argv: list[str] = [engine.docker]
    if engine.buildx:
        argv += ["buildx", "build"]
        if options.builder:
            argv += ["--builder", options.builder]
        if options.push:
            argv.append("--push")
        # Without --load the docker-container driver keeps the image in its cache only.
        if options.load or not options.push:
            argv.append("--load")
    else:
        argv.append("build")
    platforms = (request.platform,) if request.platform else options.platforms
    if platforms:
        argv += ["--platform", ",".join(platforms)]
    for flag, values in (("--cache-from", options.cache_from), ("--cache-to", options.cache_to),
                         ("--secret", options.secrets), ("--build-arg", options.build_args),
                         ("--label", options.labels)):
        for value in values:
            argv += [flag, value]
    if options.progress:
        argv += ["--progress", options.progress]
    # The user's own --build-arg SOURCE_DATE_EPOCH=… wins.
    if (request.source_date_epoch is not None and engine.buildx
            and not any(a.startswith("SOURCE_DATE_EPOCH=") for a in options.build_args)):
        argv += ["--build-arg", f"SOURCE_DATE_EPOCH={request.source_date_epoch}"]
    argv += ["-f", "-"]
    if request.target:
        argv += ["--target", request.target]
    for tag in request.tags:
        argv += ["-t", tag]
    for source in (request.external_nixpkgs, *request.external_inputs):
        argv += _named_context(engine, source)
    argv += options.extra
    argv.append(str(request.context))
    return tuple(argv)


def check_supported(engine: Engine, options: PassThrough) -> None:
    """Refuse, before any work, options the engine does not have."""
    if engine.buildx:
        return
    given = {"--builder": options.builder, "--cache-to": options.cache_to}
    if engine.podman:
        given["--progress"] = options.progress
    for flag, value in given.items():
        if not value:
            continue
        if engine.podman:
            raise UsageError(f"{flag} is not available with podman build",
                             hint="drop the option, or build with docker buildx.")
        raise UsageError(f"{flag} needs docker buildx, which this docker client lacks",
                         hint="install the buildx plugin (Debian: docker-buildx), or drop "
                         "the option.")
    if len(options.platforms) > 1 and not engine.podman:
        raise UsageError("several --platform values need docker buildx",
                         hint="build one platform at a time, or install the buildx plugin.")


def build_commands(engine: Engine, request: BuildRequest) -> tuple[Command, ...]:
    """Every process a build runs, in order (what --dry-run prints)."""
    commands = [command for source in (request.external_nixpkgs, *request.external_inputs)
                for command in source_commands(engine, source)]
    commands.append(Command(build_argv(engine, request), reads_dockerfile=True))
    if request.passthrough.push and not engine.buildx:
        # Neither the built-in builder nor podman build pushes: push what it tagged.
        commands += [Command((engine.docker, "push", tag)) for tag in request.tags]
    return tuple(commands)


def output_commands(engine: Engine, context: Path, dest: Path, *, cached: bool = True,
                    external_nixpkgs: ExternalSource | None = None,
                    secrets: tuple[str, ...] = (),
                    builder: str | None = None,
                    external_inputs: tuple[ExternalSource, ...] = ()) -> tuple[Command, ...]:
    """A build whose result is files in ``dest``, not an image (``nixdf gc``, ``nixdf lock``),
    on the same builder as the image builds."""
    commands = [command for source in (external_nixpkgs, *external_inputs)
                for command in source_commands(engine, source)]
    argv = [engine.docker, *(["buildx", "build"] if engine.buildx else ["build"])]
    if builder:
        check_supported(engine, PassThrough(builder=builder))
        argv += ["--builder", builder]
    if not cached:
        argv.append("--no-cache")
    for secret in secrets:
        argv += ["--secret", secret]
    argv += ["--output", f"type=local,dest={dest}", "-f", "-"]
    for source in (external_nixpkgs, *external_inputs):
        argv += _named_context(engine, source)
    commands.append(Command((*argv, str(context)), reads_dockerfile=True))
    return tuple(commands)


def _named_context(engine: Engine, source: ExternalSource | None) -> list[str]:
    """buildx gives the directory the name the Dockerfile uses: nothing shared between builds."""
    if source is None or not engine.buildx:
        return []
    return ["--build-context", f"{source.image}={source.path}"]


def source_commands(engine: Engine, source: ExternalSource | None) -> tuple[Command, ...]:
    """Without named build contexts (Docker 20.10, podman) the directory becomes the local
    image the Dockerfile names, first. Its name is its content's digest, so a build at the
    same time with another package set makes and reads another image."""
    if source is None or engine.buildx:
        return ()
    return (Command(nixpkgs_image_argv(engine, source), stdin=NIXPKGS_IMAGE_DOCKERFILE),)


NIXPKGS_IMAGE_DOCKERFILE = "FROM scratch\nCOPY . /\n"


def nixpkgs_image_argv(engine: Engine, source: ExternalSource) -> tuple[str, ...]:
    """Docker 20.10 has no named build contexts: the package set becomes a local image."""
    return (engine.docker, "build", "-q", "-t", source.image, "-f", "-", str(source.path))


def engine_variables(engine: Engine) -> dict[str, str]:
    """What the build commands add to the environment (a dry run prints them too)."""
    if engine.podman:
        return {}
    if not engine.buildx:
        return {"DOCKER_BUILDKIT": "1"}
    # buildx's default provenance attestation records the build's own times and id, so
    # the image's index digest would differ at every build (measured on Docker 26.1 with
    # the containerd image store). A user's own setting, or --provenance, still wins.
    if "BUILDX_NO_DEFAULT_ATTESTATIONS" in os.environ:
        return {}
    return {"BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}


def build_env(engine: Engine) -> dict[str, str]:
    return {**os.environ, **engine_variables(engine)}


def run(engine: Engine, command: Command, dockerfile: str) -> None:
    """Run one command of a build, the rendered Dockerfile on stdin where it reads one."""
    _run(command.argv, build_env(engine), dockerfile if command.reads_dockerfile
         else command.stdin)


def _run(argv: Sequence[str], env: dict[str, str], stdin: str | None) -> None:
    """Run, showing BuildKit's progress and keeping its end for error reports.

    On a terminal (and no --progress given) the engine writes to a pseudo-terminal, so
    it draws its live display; nixdf copies it through. Elsewhere (pipes, CI) the engine
    writes plain progress. Either way the commands BuildKit echoes are shortened
    (progress.py), unless the user asked for a --progress of their own.
    """
    print("nixdf: running " + shlex.join(argv), file=sys.stderr, flush=True)
    chosen = any(arg == "--progress" or arg.startswith("--progress=") for arg in argv)
    terminal = not chosen and sys.stderr.isatty()
    shown = None if chosen else Shown(repeats_shown=not terminal)
    tail: deque[str] = deque(maxlen=_LOG_TAIL)
    # BuildKit's word that it left out part of a step's output may be long gone from the
    # tail: kept aside, for the error to say where the rest of a package's log went.
    clipped: list[str] = []

    def show(line: str) -> None:
        sys.stderr.writelines(f"{out}\n" for out in (shown.feed(line) if shown else [line]))
        kept = _ANSI.sub("", line).rstrip("\r")
        tail.append(kept)
        if "[output clipped" in kept and len(clipped) < _LOG_TAIL:
            clipped.append(kept)

    try:
        returncode = (_on_terminal if terminal else _piped)(argv, env, stdin, show)
    except OSError as err:
        raise EngineError(f"cannot run {argv[0]}: {err.strerror}") from None
    if shown is not None:
        sys.stderr.writelines(f"{out}\n" for out in shown.close())
    sys.stderr.flush()
    if returncode != 0:
        raise EngineError(f"the build failed (exit code {returncode}): " + shlex.join(argv),
                          log=(*clipped, *tail))


def _piped(argv: Sequence[str], env: dict[str, str], stdin: str | None,
           show: Callable[[str], None]) -> int:
    with subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        assert proc.stdin is not None and proc.stdout is not None
        if stdin is not None:
            proc.stdin.write(stdin)
        proc.stdin.close()
        for line in proc.stdout:
            show(line.rstrip("\n"))
    return proc.returncode


def _on_terminal(argv: Sequence[str], env: dict[str, str], stdin: str | None,
                 show: Callable[[str], None]) -> int:
    """Run with stdout and stderr on a pseudo-terminal the size of ours; its lines as they
    come (a live display redraws with whole lines, so nothing waits for long)."""
    import codecs
    import fcntl
    import pty
    import termios

    leader, follower = pty.openpty()
    try:
        size = fcntl.ioctl(sys.stderr.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(follower, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # a terminal that will not say its size: the engine's default width
    try:
        with subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=follower,
                              stderr=follower) as proc:
            os.close(follower)
            assert proc.stdin is not None
            if stdin is not None:
                proc.stdin.write(stdin.encode())
            proc.stdin.close()
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            pending = ""
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every writer of the terminal is gone
                    chunk = b""
                pending += decoder.decode(chunk, final=not chunk)
                *lines, pending = pending.split("\n")
                for line in lines:
                    show(line)
                if not chunk:
                    break
            if pending:
                show(pending)
    finally:
        os.close(leader)
    return proc.returncode

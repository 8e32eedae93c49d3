"""nixdf as a BuildKit frontend: a Nixfile whose first line is ``# syntax=REF`` builds with plain
``docker buildx build -f Nixfile .``, no nixdf on the client.

BuildKit runs the image REF names and speaks its gateway API (gRPC) over the process's stdin and
stdout. This module is a thin client of that API over nixdf's library: it reads the Nixfile (and
the package set given as the named build context ``nixpkgs``) from the client through the
gateway, renders the Dockerfile with :func:`nixdf.api.render_path` (locking first, within the
same build, when a lock is missing), and hands it to BuildKit's own Dockerfile frontend
(``dockerfile.v0``), whose result it returns: caching, exports,
``--platform``, secrets and attestations are BuildKit's. nixdf's ``.nixdf/`` files reach the
Dockerfile as the named context ``nixdf``, which takes the place of the stage of that name.

The gRPC messages come from frontend/proto (nixdf's own subset of BuildKit's gateway.proto and
ops.proto), compiled into the package ``nixdf_buildkit`` when the frontend image is built
(scripts/frontend-image.sh); nixdf itself never needs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import grpc  # type: ignore[import-untyped, import-not-found, unused-ignore]
from nixdf_buildkit import (  # type: ignore[import-not-found, unused-ignore]
    gateway_pb2,
    gateway_pb2_grpc,
    ops_pb2,
    status_pb2,
)

from . import api, defaults
from .engine import Engine
from .errors import NeedsLockError, NixdfError, UsageError
from .libfiles import lib_files
from .plan import ExternalSource

# BuildKit's names: the client's directories (buildx sends the Dockerfile's directory as
# "dockerfile" and the context as "context"), and the opts that carry build args and named
# contexts.
DOCKERFILE_LOCAL = "dockerfile"
BUILD_ARG = "build-arg:"
CONTEXT = "context:"
# The named context the user gives the package set as (--build-context nixpkgs=DIR).
NIXPKGS_CONTEXT = "nixpkgs"
# The stage of nixdf's Dockerfile that holds .nixdf/ (templates/lib_stage.j2): a named context
# of the same name replaces the stage (BuildKit's dockerfile2llb), so no file need be in the
# context. The frontend input that carries it:
LIB_STAGE = "nixdf"
LIB_INPUT = "nixdf-lib"
# What the Dockerfile frontend reads our Dockerfile from: the input "dockerfile", file FILENAME.
FILENAME = "Dockerfile"
# gRPC's 4 MiB default is smaller than a package set's file or a large definition can be.
MAX_MESSAGE = 1 << 30
UNKNOWN = 2  # google.rpc.Code of a failed build


@dataclass(slots=True)
class Request:
    """What the build asked for: BuildKit's frontend opts, its session, the build args."""

    opts: dict[str, str]
    session: str

    @classmethod
    def from_environ(cls, environ: dict[str, str]) -> Request:
        # BUILDKIT_FRONTEND_OPT_<n> = KEY=VALUE (frontend/gateway/gateway.go)
        opts = dict(value.partition("=")[::2] for key, value in environ.items()
                    if key.startswith("BUILDKIT_FRONTEND_OPT_"))
        return cls(opts, environ.get("BUILDKIT_SESSION_ID", ""))

    def arg(self, name: str) -> str | None:
        return self.opts.get(BUILD_ARG + name) or None

    def words(self, name: str) -> tuple[str, ...]:
        """A build arg that holds a list: its words."""
        return tuple((self.arg(name) or "").split())

    def options(self, nixpkgs: str | None) -> api.RenderOptions:
        """The CLI's options, from build args of the same names as its environment."""
        return api.RenderOptions(
            nix_image=self.arg("NIXDF_NIX_IMAGE") or defaults.NIX_IMAGE,
            nixpkgs=nixpkgs or self.arg("NIXDF_NIXPKGS"),
            compat=self.arg("NIXDF_COMPAT"),
            substituters=self.words("NIXDF_SUBSTITUTERS"),
            trusted_keys=self.words("NIXDF_TRUSTED_PUBLIC_KEYS"),
            netrc=self.arg("NIXDF_NETRC_SECRET") in ("1", "true"),
            per_path=self.arg("NIXDF_PER_PATH") in ("1", "true"))


class Gateway:
    """The calls nixdf makes to BuildKit's LLBBridge service."""

    def __init__(self, channel: Any, session: str) -> None:
        self.stub = gateway_pb2_grpc.LLBBridgeStub(channel)
        self.session = session

    def local(self, name: str, follow: list[str] | None = None,
              exclude: list[str] | None = None) -> str:
        """A reference to the client's directory ``name`` (see :func:`local_source`)."""
        done = self.stub.Solve(gateway_pb2.SolveRequest(
            Definition=local_source(self.session, name, follow, exclude),
            allowResultReturn=True, allowResultArrayRef=True))
        return str(done.result.ref.id)

    def read(self, ref: str, path: str) -> bytes:
        data = self.stub.ReadFile(gateway_pb2.ReadFileRequest(Ref=ref, FilePath=path)).Data
        return bytes(data)

    def copy_tree(self, ref: str, into: Path, directory: str = "") -> None:
        """Write the files under ``directory`` of ``ref`` into ``into``, modes kept."""
        entries = self.stub.ReadDir(gateway_pb2.ReadDirRequest(Ref=ref, DirPath=directory or "/"))
        for entry in entries.entries:
            path = f"{directory}/{entry.path}" if directory else entry.path
            target = into / path
            if entry.mode & GO_MODE_DIR:
                target.mkdir(mode=0o755, exist_ok=True)
                self.copy_tree(ref, into, path)
            elif entry.mode & GO_MODE_SYMLINK:
                target.symlink_to(entry.linkname)
            else:
                target.write_bytes(self.read(ref, path))
                target.chmod(stat.S_IMODE(entry.mode))

    def solve_dockerfile(self, opts: dict[str, str], inputs: dict[str, Any]) -> Any:
        return self.stub.Solve(gateway_pb2.SolveRequest(
            Frontend="dockerfile.v0", FrontendOpt=opts, FrontendInputs=inputs,
            allowResultReturn=True, allowResultArrayRef=True)).result

    def succeed(self, result: Any) -> None:
        self.stub.Return(gateway_pb2.ReturnRequest(result=result))

    def fail(self, error: Any) -> None:
        self.stub.Return(gateway_pb2.ReturnRequest(error=error))


def _status(err: Any) -> Any:
    """A failed call's google.rpc.Status whole: BuildKit's details (the failing step, its
    place in the Dockerfile) ride in the trailer as unknown fields of our Status."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return status_pb2.Status(code=err.code().value[0], message=err.details() or "")


def error(message: str) -> Any:
    return status_pb2.Status(code=UNKNOWN, message=message)


# Go's os.FileMode type bits, as fsutil's Stat carries them.
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27


def definition(op: bytes, cap: str) -> Any:
    """An LLB definition of one op (needing BuildKit's capability ``cap``) whose result is its
    output: BuildKit's own layout, the op and then one that only names that output by the
    op's digest."""
    digest = "sha256:" + hashlib.sha256(op).hexdigest()
    result = ops_pb2.Op(inputs=[ops_pb2.Input(digest=digest, index=0)])
    # `def` is a Python keyword: the field is set by name.
    return ops_pb2.Definition(**{"def": [op, result.SerializeToString()]},
                              metadata={digest: ops_pb2.OpMetadata(caps={cap: True})})


def local_source(session: str, name: str, follow: list[str] | None,
                 exclude: list[str] | None = None) -> Any:
    """A definition of the client's directory ``name``: only the ``follow`` paths, if given,
    are sent, and nothing that matches ``exclude``."""
    attrs = {"local.session": session, "local.sharedkeyhint": name}
    if follow is not None:
        attrs["local.followpaths"] = json.dumps(follow)
    if exclude is not None:
        attrs["local.excludepatterns"] = json.dumps(exclude)
    source = ops_pb2.Op(source=ops_pb2.SourceOp(identifier=f"local://{name}", attrs=attrs))
    return definition(source.SerializeToString(), "source.local")


def files_state(files: dict[str, bytes]) -> Any:
    """A definition of a directory holding just ``files`` (name: bytes, mode 0644): one file
    op whose actions write them one after another into an empty directory."""
    actions = []
    for i, (name, data) in enumerate(sorted(files.items())):
        actions.append(ops_pb2.FileAction(
            input=-1 if i == 0 else i - 1,  # nothing, or the previous action's result
            secondaryInput=-1, output=0 if i == len(files) - 1 else -1,
            mkfile=ops_pb2.FileActionMkFile(path=f"/{name}", mode=0o644, data=data,
                                            timestamp=-1)))
    return definition(ops_pb2.Op(file=ops_pb2.FileOp(actions=actions)).SerializeToString(),
                      "file.base")


def frontend(gateway: Gateway, request: Request, work: Path) -> Any:
    """Render the Nixfile of this build and solve its Dockerfile; the result to return."""
    build = Build(gateway, request.opts, request.session)
    options = request.options(_package_set(gateway, request, work))
    try:
        # The Nixfile and its lock: all that most Nixfiles read.
        wanted = gateway.local(build.directory, [build.filename, f"{build.filename}.lock"])
        rendered = _render_locked(build, build.copy(wanted, work / "nixfile"), options, work)
    except NixdfError:
        # One that names files beside it (import ./lib.nix, src = ./app) fails without them:
        # again with its whole directory, whose render's error, if any, is the one to show.
        everything = gateway.local(build.directory, exclude=[".git"])
        rendered = _render_locked(build, build.copy(everything, work / "directory"), options,
                                  work)
    return build.solve(rendered.text, rendered.inputs.paths, rendered.external_nixpkgs,
                       _image_opts(rendered, request.opts, build.filename))


@dataclass(slots=True)
class Build:
    """This build's Nixfile, as the client names it, and how its Dockerfiles are solved."""

    gateway: Gateway
    opts: dict[str, str]
    session: str

    @property
    def filename(self) -> str:
        return self.opts.get("filename", "Nixfile")

    @property
    def directory(self) -> str:
        """The client's directory that holds the Nixfile (buildx: the -f file's)."""
        return self.opts.get("dockerfilekey", DOCKERFILE_LOCAL)

    def copy(self, ref: str, into: Path) -> Path:
        """Copy what ``ref`` holds of the client's directory to ``into``: the Nixfile there."""
        into.mkdir()
        self.gateway.copy_tree(ref, into)
        return into / self.filename

    def solve(self, dockerfile: str, paths: tuple[str, ...],
              nixpkgs: ExternalSource | None, extra: dict[str, str]) -> Any:
        """Solve ``dockerfile`` with BuildKit's Dockerfile frontend, with the build's options
        and ``extra``. Its context is the Nixfile's directory, whatever the client sent as the
        context (`-f app/Nixfile .`), and only the Nix inputs ``paths`` of it are sent."""
        dropped = ("cmdline", "source", "filename", "dockerfilekey", "target", "platform")
        opts = {k: v for k, v in self.opts.items() if k not in dropped}
        opts.update({"filename": FILENAME, CONTEXT + LIB_STAGE: f"input:{LIB_INPUT}", **extra})
        parent = PurePosixPath(self.filename).parent
        if str(parent) != ".":
            opts["contextsubdir"] = str(parent)  # the context below is its parent
        if nixpkgs is not None:
            opts[CONTEXT + nixpkgs.image] = self.opts[CONTEXT + NIXPKGS_CONTEXT]
        inputs = {"dockerfile": files_state({FILENAME: dockerfile.encode()}),
                  "context": local_source(self.session, self.directory,
                                          [str(parent / path) for path in paths]),
                  LIB_INPUT: files_state(lib_files())}
        return self.gateway.solve_dockerfile(opts, inputs)


# The engine a lock runs on is the BuildKit this frontend runs in: named contexts and all.
BUILDKIT = Engine(docker="", buildx=True, server_version="BuildKit (frontend)")


def _render_locked(build: Build, nixfile: Path, options: api.RenderOptions,
                   work: Path) -> api.Rendered:
    """Render the copy ``nixfile``. Without a current lock, a Nixfile that needs Nix's values
    or has a layered image is locked first, within this build: its lock Dockerfile solved,
    the output read and the lock written beside the copy, as `nixdf lock` would."""
    try:
        rendered = _render(nixfile, build.filename, options)
        if not rendered.wants_lock:
            return rendered
    except NeedsLockError:
        pass
    prepared = api.prepare_lock(nixfile, options, engine=BUILDKIT)
    result = build.solve(prepared.dockerfile, prepared.inputs.paths,
                         prepared.external_nixpkgs, {})
    output = Path(tempfile.mkdtemp(prefix="lock-output.", dir=work))
    build.gateway.copy_tree(result.ref.id, output)
    api.write_lock(prepared, output)
    return _render(nixfile, build.filename, options)


def _render(nixfile: Path, filename: str, options: api.RenderOptions) -> api.Rendered:
    # From its directory, errors name the file as the client does: Nixfile:LINE:COL.
    os.chdir(nixfile.parent)
    rendered = api.render_path(nixfile, options)
    if rendered.context != nixfile.parent:
        raise UsageError(f"{filename}: its Nix inputs reach outside its directory",
                         hint="the frontend reads only the Nixfile's directory: move what it "
                         "names there, or build with nixdf build.")
    return rendered


def _package_set(gateway: Gateway, request: Request, work: Path) -> str | None:
    """The directory the named context ``nixpkgs`` sends, copied to ``work``; None if none."""
    spec = request.opts.get(CONTEXT + NIXPKGS_CONTEXT)
    if spec is None:
        return None
    kind, _, name = spec.partition(":")
    if kind != "local":
        raise UsageError(f"--build-context nixpkgs={spec}: not a local directory",
                         hint="give the package set as --build-context nixpkgs=DIR, or as "
                         "--build-arg NIXDF_NIXPKGS=URL#sha256=HASH.")
    into = work / "nixpkgs"
    into.mkdir()
    gateway.copy_tree(gateway.local(name), into)
    return str(into)


def _image_opts(rendered: api.Rendered, opts: dict[str, str], filename: str) -> dict[str, str]:
    """The image to build (--target, or the one image) and what the CLI passes with it: its
    created time as SOURCE_DATE_EPOCH, the platform it names."""
    images = {image.name: image for image in rendered.plan.images}
    target = opts.get("target")
    if target is not None and target not in images:
        raise UsageError(f"--target {target}: no such image",
                         hint=f"the images of {filename} are: {', '.join(images)}")
    if target is None and len(images) > 1:
        raise UsageError(f"{filename} has several images",
                         hint=f"add --target, one of: {', '.join(images)}")
    if target is None and rendered.name_clash is not None:
        raise rendered.name_clash
    image = images[target] if target else next(iter(images.values()))
    chosen = {"target": image.name}
    # The user's own --build-arg SOURCE_DATE_EPOCH=… wins, as with `nixdf build`.
    if image.created is not None and f"{BUILD_ARG}SOURCE_DATE_EPOCH" not in opts:
        chosen[f"{BUILD_ARG}SOURCE_DATE_EPOCH"] = str(image.created)
    if image.platform:
        if opts.get("platform", image.platform) != image.platform:
            raise UsageError(f"--platform {opts['platform']}: the image {image.name} is for "
                             f"{image.platform}, the architecture its Nixfile names",
                             hint="drop --platform, or change the image's architecture.")
        chosen["platform"] = image.platform
    elif "platform" in opts:
        chosen["platform"] = opts["platform"]
    return chosen


def stdio_channel() -> Any:
    """A gRPC channel over this process's stdin and stdout, where BuildKit serves the gateway.

    grpcio dials addresses, not open files, so a thread relays between a Unix socket it dials
    and the two descriptors; stdout then points at stderr, so no stray print can corrupt the
    stream (stderr shows in the build's log).
    """
    down, up = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    listener = socket.socket(socket.AF_UNIX)
    path = os.path.join(tempfile.mkdtemp(prefix="nixdf-gateway."), "sock")
    listener.bind(path)
    listener.listen(1)

    def relay() -> None:
        conn, _ = listener.accept()
        listener.close()
        _thread(_copy, lambda: os.read(down, 1 << 16), conn.sendall)
        _copy(lambda: conn.recv(1 << 16), lambda data: _write_all(up, data))

    _thread(relay)
    return grpc.insecure_channel(f"unix:{path}", options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE)])


def _thread(target: Callable[..., None], *args: Any) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


def _copy(read: Callable[[], bytes], write: Callable[[bytes], object]) -> None:
    while data := read():
        write(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main() -> int:
    request = Request.from_environ(dict(os.environ))
    gateway = Gateway(stdio_channel(), request.session)
    with tempfile.TemporaryDirectory(prefix="nixdf-frontend.") as work:
        try:
            result = frontend(gateway, request, Path(work))
        except NixdfError as err:
            # The build fails with nixdf's message: FILE:LINE:COL, the line, a caret, a hint.
            gateway.fail(error(str(err)))
            return 0
        except grpc.RpcError as err:
            # BuildKit refused a call: the Dockerfile's build failed (a step, an image), which
            # is no bug of nixdf's. (BuildKit reports that error itself as well.)
            gateway.fail(_status(err))
            return 0
        except Exception:
            # A bug: BuildKit shows no frontend's stderr, so the traceback is the build's error.
            gateway.fail(error("nixdf frontend: internal error, please report it:\n"
                               + traceback.format_exc()))
            return 1
    gateway.succeed(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

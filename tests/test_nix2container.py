"""nix2container's builders and the Nix database in images, built by nixdf and checked as
nix2container documents them.

tests/data/nix2container/Nixfile re-expresses nix2container's examples (nlewo/nix2container
examples/*.nix) over an offline package set, with dockerTools' Nix database examples
(buildImageWithNixDb, buildLayeredImageWithNixDb) and images for what the examples leave out.
One `nixdf build` makes them all on the real engine; each test below checks one image: its
files, owners, modes and layers (docker save / export), its config (docker inspect), and what
it prints when run. The tests without an engine check what nixdf refuses, with its location,
and what it computes before a build.
"""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from typer.testing import CliRunner

from nixdf import api
from nixdf.cli import app
from nixdf.defaults import NIX_IMAGE
from nixdf.engine import Engine
from nixdf.evaluate import find_images
from nixdf.parse import parse
from nixdf.spec import to_specs

from .conftest import ROOT, client, docker, extract_all, saved_layers
from .test_examples import build, config, files, layers, run

CASES = ROOT / "tests" / "data" / "nix2container"
STORE_PATH = re.compile(r"nix/store/[0-9a-z]{32}-[^/]+")
PREFIX = "nixdf-n2c"

Test = TypeVar("Test", bound=Callable[..., None])


def builds(test: Test) -> Test:
    """A test of the built images: on the real engine, and slow (the fixture builds ~20)."""
    return pytest.mark.docker(pytest.mark.slow(test))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Images:
    """The built images, in the engine of this environment."""

    env: dict[str, str]

    @staticmethod
    def ref(name: str) -> str:
        return f"{PREFIX}/{name}:latest"


@pytest.fixture(scope="module")
def images(engine_env: dict[str, str], offline_image: str,
           tmp_path_factory: pytest.TempPathFactory) -> Images:
    cases = tmp_path_factory.mktemp("nix2container") / "cases"
    shutil.copytree(CASES, cases)  # the lock nixdf build writes stays out of the checkout
    sqlite = shutil.which("sqlite3")
    assert sqlite, "the tests' package set takes its sqlite from the host: apt-get install sqlite3"
    shutil.copy(sqlite, cases / "pkgs" / "sqlite3")
    build(engine_env, offline_image, cases / "Nixfile", nixpkgs=cases / "pkgs")
    return Images(engine_env)


def store_paths(names: list[str] | dict[str, tarfile.TarInfo]) -> list[str]:
    """The store paths among an image's or a layer's file names, as nix/store/HASH-NAME."""
    return sorted({m.group(0) for name in names if (m := STORE_PATH.match(name))})


def names(paths: list[str]) -> list[str]:
    """nix/store/HASH-NAME -> NAME."""
    return sorted(p.split("-", 1)[1] for p in paths)


def exported(env: dict[str, str], ref: str, into: Path) -> Path:
    """The image's filesystem, unpacked (for reading its Nix database)."""
    container = docker(env, "create", ref, "/none").stdout.strip()
    try:
        tar = subprocess.run([client(env), "export", container], env=env, capture_output=True,
                             check=True).stdout
    finally:
        docker(env, "rm", container)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        extract_all(archive, into)
    return into


def registered(root: Path) -> dict[str, int]:
    """The Nix database at ROOT/nix/var/nix/db: each valid path and its registration time."""
    with sqlite3.connect(root / "nix/var/nix/db/db.sqlite") as db:
        return dict(db.execute("SELECT path, registrationTime FROM ValidPaths").fetchall())


def owner_mode(member: tarfile.TarInfo) -> tuple[int, int, int]:
    return member.uid, member.gid, member.mode & 0o7777


# --- nix2container's examples ----------------------------------------------------------


@builds
def test_bash(images: Images) -> None:
    env, ref = images.env, Images.ref("bash")
    assert run(env, ref, "/bin/bash", "--version").startswith("GNU bash")
    assert config(env, ref)["Cmd"] == ["/bin/bash"]
    tree = files(env, ref)
    # copyToRoot is walked without following links: /bin holds the buildEnv's links into
    # the store, and the buildEnv itself is not in the store, only its closure is.
    assert tree["bin"].isdir() and tree["bin/bash"].issym()
    assert re.fullmatch(r"/nix/store/[^/]+-bash-interactive-5.2p26/bin/bash",
                        tree["bin/bash"].linkname)
    assert names(store_paths(tree)) == ["bash-interactive-5.2p26", "busybox-static-1.35",
                                        "coreutils-9.5", "readline-8.2"]
    assert owner_mode(tree["nix"]) == owner_mode(tree["nix/store"]) == (0, 0, 0o755)
    assert all((m.uid, m.gid, m.mtime) == (0, 0, 1) for n, m in tree.items()
               if n.startswith(("nix", "bin")))
    assert len(layers(env, ref)) == 1, "maxLayers = 1: one layer"


@builds
def test_basic(images: Images) -> None:
    env, ref = images.env, Images.ref("basic")
    assert run(env, ref) == "Hello, world!\n"
    # `entrypoint`: nix2container's config keys match in any case, as Docker's do.
    [entrypoint] = config(env, ref)["Entrypoint"]
    assert re.fullmatch(r"/nix/store/[^/]+-hello/bin/hello", entrypoint)
    # The config's store paths and their closure are the image's store.
    assert names(store_paths(files(env, ref))) == ["busybox-static-1.35", "hello"]


@builds
def test_hello(images: Images) -> None:
    env, ref = images.env, Images.ref("hello")
    assert run(env, ref) == "Hello, world!\nHaaa aa... I'm dying!!!\n"
    deps, own = saved_layers(env, ref)
    # The explicit layer holds the closure of its deps; the image's own layer what is left.
    assert names(store_paths(deps)) == ["bash-5.2p26", "busybox-static-1.35", "hello",
                                        "readline-8.2"]
    assert names(store_paths(own)) == ["conversation"]


@builds
def test_layered(images: Images) -> None:
    env, ref = images.env, Images.ref("layered")
    assert run(env, ref) == "Hello, world!\n"
    # maxLayers = 3 for a closure of two paths: each in a layer of its own, the most
    # depended upon first.
    assert [names(store_paths(layer)) for layer in saved_layers(env, ref)] == [
        ["busybox-static-1.35"], ["hello"]]


@builds
def test_metadata(images: Images) -> None:
    env, ref = images.env, Images.ref("metadata")
    assert run(env, ref) == "Hello, world!\n"
    # The layer's history entry is BuildKit's own; the layer is the same.
    deps, own = saved_layers(env, ref)
    assert names(store_paths(deps)) == ["busybox-static-1.35", "hello"] and own == []


@builds
def test_nested(images: Images) -> None:
    env, ref = images.env, Images.ref("nested")
    assert run(env, ref) == "Hello, world!\n"
    readline, twice, parent, own = saved_layers(env, ref)
    # Nested layers come first; the second, the same as the first, holds nothing new.
    assert names(store_paths(readline)) == ["readline-8.2"]
    assert twice == []
    assert names(store_paths(parent)) == ["bash-interactive-5.2p26", "busybox-static-1.35"]
    assert "bin" in parent, "the layer's copyToRoot is at its root"
    assert names(store_paths(own)) == ["hello"]


@builds
def test_duplicated(images: Images) -> None:
    env, ref = images.env, Images.ref("duplicated")
    assert run(env, ref) == "Hello, world!\n"
    readline, twice, parent, own = saved_layers(env, ref)
    assert names(store_paths(readline)) == ["readline-8.2"]
    assert twice == parent == [], "nix2container drops these two; nixdf's are empty"
    assert names(store_paths(own)) == ["busybox-static-1.35", "hello"]


@builds
def test_nginx(images: Images) -> None:
    env, ref = images.env, Images.ref("nginx")
    cfg = config(env, ref)
    assert cfg["ExposedPorts"] == {"80/tcp": {}}
    tree = files(env, ref)
    # copyToRoot's files are copies at the root, owned by root, with the store's modes.
    assert tree["etc/passwd"].isfile() and "nix/store" not in tree["etc/passwd"].linkname
    assert owner_mode(tree["var/log/nginx"]) == (0, 0, 0o555)
    assert not any(p.endswith(("-fake-nss", "-nginx-var")) for p in store_paths(tree))
    # As nix2container's own image (its issue #234): no /tmp, so nginx stops.
    done = docker(env, "run", "--rm", ref, check=False)
    assert done.returncode == 1
    assert 'mkdir() "/tmp/nginx_client_body" failed' in done.stderr


@builds
def test_nonReproducible(images: Images) -> None:
    env, ref = images.env, Images.ref("non-reproducible")
    # reproducible = false only keeps nix2container's tar in the store: the same layers.
    assert run(env, ref).startswith("A non reproducible image built the ")
    assert len(layers(env, ref)) == 2


@builds
def test_openbar(images: Images) -> None:
    env, ref = images.env, Images.ref("openbar")
    assert owner_mode(files(env, ref)["tmp"]) == (0, 0, 0o777)
    assert "drwxrwxrwx" in run(env, ref)


@builds
def test_ownership(images: Images) -> None:
    tree = files(images.env, Images.ref("ownership"))
    assert owner_mode(tree["tmp/test1.txt"]) == (1001, 1001, 0o444)
    assert owner_mode(tree["tmp/test2.txt"]) == (0, 0, 0o444)
    assert owner_mode(tree["tmp"]) == (0, 0, 0o555)


@builds
def test_perms(images: Images) -> None:
    tree = files(images.env, Images.ref("perms"))
    # regex = "" matches every file under the path, the directory itself too.
    assert {owner_mode(tree[n]) for n in ("tmp", "tmp/test1.txt", "tmp/test2.txt")} == {
        (0, 0, 0o777)}


@builds
def test_nix(images: Images, tmp_path: Path) -> None:
    env, ref = images.env, Images.ref("nix")
    # The database holds the store: `nix-store --verify` in the image checks every path's
    # contents against it.
    done = docker(env, "run", "--rm", ref, "nix-store", "--verify", "--check-contents")
    assert "checking store hashes" in done.stderr and "error" not in done.stderr
    root = exported(env, ref, tmp_path)
    store = {f"/{p}" for p in store_paths(files(env, ref))}
    db = registered(root)
    assert set(db) == store and set(db.values()) == {0}
    # hello, which only the explicit layer holds, is registered too, and each path is a
    # GC root; the database is mode 0755 and root's (nixUid, nixGid default to 0).
    assert any(p.endswith("-hello") for p in db)
    roots = root / "nix/var/nix/gcroots/docker"
    assert {str(link.readlink()) for link in roots.iterdir()} == store
    assert (root / "nix/store/.links").is_dir()
    tree = files(env, ref)
    assert owner_mode(tree["nix/var/nix/db/db.sqlite"]) == (0, 0, 0o755)


@builds
def test_nix_user(images: Images) -> None:
    env, ref = images.env, Images.ref("nix-user")
    # Run as `user`: the database and the store directory are theirs (nixUid, nixGid).
    done = docker(env, "run", "--rm", ref)
    assert "checking store hashes" in done.stdout, done.stdout + done.stderr
    cfg = config(env, ref)
    assert (cfg["User"], cfg["WorkingDir"]) == ("user", "/home/user")
    tree = files(env, ref)
    for name in ("nix", "nix/store", "nix/var/nix/db", "nix/var/nix/db/db.sqlite",
                 "nix/store/.links"):
        assert owner_mode(tree[name]) == (1000, 1000, 0o755), name
    assert owner_mode(tree["home/user"]) == (1000, 1000, 0o744)
    assert owner_mode(tree["etc/passwd"]) == (0, 0, 0o444)


# --- what the examples leave out ---------------------------------------------------------


@builds
def test_a_base_passes_no_config_on(images: Images) -> None:
    env = images.env
    base, child = f"{PREFIX}/base:1.0", Images.ref("on-base")
    assert layers(env, child)[:len(layers(env, base))] == layers(env, base)
    assert "Healthcheck" not in config(env, base), "an OCI config has no Healthcheck"
    cfg = config(env, child)
    # What a Dockerfile can reset is reset; Env passes on, as FROM makes it.
    assert (cfg["Entrypoint"], cfg["WorkingDir"], cfg["User"]) == (None, "/", "0:0")
    assert cfg["Cmd"][1:] == ["-u"]
    assert "FROM_BASE=1" in cfg["Env"]
    assert run(env, child) == "0\n"


@builds
def test_layer_copy_to_root_perms_or_mode_and_ignore(images: Images) -> None:
    env, ref = images.env, Images.ref("more")
    assert run(env, ref) == "Hello, world!\n"
    tree = files(env, ref)
    assert owner_mode(tree["srv/data/a.txt"]) == (7, 8, 0o664), "orMode 0220 on 0444"
    assert owner_mode(tree["srv/data/b.log"]) == (0, 0, 0o444)
    assert owner_mode(tree["srv/bin/run"]) == (7, 0, 0o500)
    assert owner_mode(tree["bin"]) == (0, 0, 0o711), "the image's own perms"
    assert tree["bin/hello"].isfile(), "hello's files are copied, not linked"
    layer, own = saved_layers(env, ref)
    assert names(store_paths(layer)) == ["referrer"], "ignore leaves one path out"
    assert not any(n.endswith("-ignored") for n in store_paths(tree))
    assert "srv" in layer and "bin" in own
    cfg = config(env, ref)
    assert (cfg["Labels"], cfg["Volumes"], cfg["StopSignal"]) == (
        {"org.opencontainers.image.title": "more"}, {"/data": {}}, "SIGINT")


@builds
def test_max_layers_places_a_copy_to_root_item_at_its_layers_root(images: Images) -> None:
    env, ref = images.env, Images.ref("split")
    assert run(env, ref) == "split\n"
    busybox, own = saved_layers(env, ref)
    assert "bin/busybox" in busybox and "bin/hello" in own
    assert store_paths(busybox + own) == []


# --- dockerTools' Nix database -----------------------------------------------------------


@builds
def test_buildImageWithNixDb(images: Images, tmp_path: Path) -> None:
    env, ref = images.env, Images.ref("dockertools-nix")
    done = docker(env, "run", "--rm", ref, "nix-store", "--verify", "--check-contents")
    assert "checking store hashes" in done.stderr and "error" not in done.stderr
    root = exported(env, ref, tmp_path)
    store = {f"/{p}" for p in store_paths(files(env, ref))}
    db = registered(root)
    # The closure of copyToRoot, each registered at time 0; the buildEnv a GC root.
    assert set(db) == store and set(db.values()) == {0}
    [gcroot] = (root / "nix/var/nix/gcroots/docker").iterdir()
    assert gcroot.readlink().name.endswith("-image-root")
    assert files(env, ref)["bin"].isdir(), "buildImage's copyToRoot is copied"


@builds
@pytest.mark.parametrize("name", ["dockertools-nix-layered", "include-nix-db"])
def test_buildLayeredImageWithNixDb(images: Images, name: str, tmp_path: Path) -> None:
    env, ref = images.env, Images.ref(name)
    root = exported(env, ref, tmp_path)
    db = registered(root)
    assert set(db) == {f"/{p}" for p in store_paths(files(env, ref))}
    assert set(db.values()) == {0}
    # The database is the top layer, alone: a new one changes no other layer.
    top = saved_layers(env, ref)[-1]
    assert top and all(n.startswith("nix/var/nix") or n in ("nix", "nix/var") for n in top)
    if name == "include-nix-db":
        assert run(env, ref) == "Hello, world!\n"
        assert files(env, ref)["data"].isdir(), "fakeRootCommands ran below it"
    else:
        done = docker(env, "run", "--rm", ref, "nix-store", "--verify", "--check-contents")
        assert "checking store hashes" in done.stderr and "error" not in done.stderr


# --- before a build ----------------------------------------------------------------------


def _specs(source: str) -> list[api.ImageSpec]:
    return to_specs(find_images(parse(source, "Nixfile")))


def test_explicit_layers_come_in_nix2container_order() -> None:
    [spec] = _specs(
        "{ nix2container }: let b = nix2container.buildLayer; shared = b { }; in "
        "nix2container.buildImage { name = \"x\"; layers = [ (b { layers = [ (b { }) shared "
        "]; }) shared (b { layers = [ shared ]; }) ]; }")
    # Each layer's nested layers, then the layers; a layer reached again counts once.
    assert spec.explicit_layers == ((0, 0), (0, 1), (0,), (2,))


def test_created_default_and_config_keys() -> None:
    [default, chosen] = _specs(
        "{ nix2container }: { a = nix2container.buildImage { name = \"a\"; config = { "
        "healthcheck.Test = [ \"NONE\" ]; OnBuild = [ \"RUN x\" ]; cmd = [ \"/a\" ]; }; }; "
        "b = nix2container.buildImage { name = \"b\"; created = \"2024-05-13T09:31:10Z\"; }; }")
    # 0001-01-01T00:00:00Z is before anything SOURCE_DATE_EPOCH says: its earliest.
    assert (default.created, chosen.created) == (0, 1715592670)
    # Only the OCI config's keys: Docker's own are dropped, as nix2container drops them.
    assert default.config.cmd == ("/a",)
    assert (default.config.healthcheck, default.config.on_build) == (None, ())


def test_lib_updated_with_builtins_keeps_both() -> None:
    [spec] = _specs(
        "{ pkgs, nix2container }: let l = pkgs.lib // builtins; in nix2container.buildImage "
        "{ name = l.concatStringsSep \"-\" [ \"a\" \"b\" ]; nixUid = l.toInt \"1000\"; "
        "initializeNixDatabase = true; }")
    assert (spec.name, spec.nix_db, spec.nix_db_owner) == ("a-b", True, (1000, 0))


def test_created_reaches_buildkit(tmp_path: Path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(
        "{ nix2container }: { a = nix2container.buildImage { name = \"a\"; }; "
        "b = nix2container.buildImage { name = \"b\"; created = \"2024-05-13T09:31:10Z\"; }; }")
    buildx = Engine("docker", buildx=True, server_version="27.3.1")
    prepared = api.prepare_build(nixfile, api.RenderOptions(NIX_IMAGE), target=None, tags=(),
                                 engine=buildx)
    assert [r.source_date_epoch for r in prepared.requests] == [0, 1715592670]


PULLED = """{ pkgs, nix2container }:
let
  alpine = nix2container.pullImage {
    imageName = "alpine";
    imageDigest = "sha256:115731bab0862031b44766733890091c17924f9b7781b79997f5f163be262178";
    sha256 = "sha256-o4GvFCq6pvzASvlI5BLnk+Y4UN6qKL2dowuT0cp8q7Q=";
  };
in
nix2container.buildImage {
  name = "from-image";
  fromImage = alpine;
  copyToRoot = [ pkgs.hello ];
  perms = [ { path = pkgs.hello; regex = "/bin/hello$"; mode = "0500"; } ];
  layers = [ (nix2container.buildLayer { deps = [ pkgs.bash ]; }) ];
  initializeNixDatabase = true;
  config.Cmd = [ "/bin/hello" ];
}
"""


def test_render_from_image(tmp_path: Path, snapshot_dockerfile) -> None:  # type: ignore[no-untyped-def]
    # examples/from-image.nix (without its `arch`, see the refusals), with perms, a layer and
    # a database: FROM the digest, its config reset where a Dockerfile can.
    (tmp_path / "Nixfile").write_text(PULLED)
    rendered = api.render_path(tmp_path / "Nixfile", api.RenderOptions(NIX_IMAGE, None,
                                                                       "docker-20.10"))
    assert "FROM alpine@sha256:115731bab0862031b44766733890091c17924f9b7781b79997f5f163be262178" \
        in rendered.text
    assert rendered.text == snapshot_dockerfile


REFUSED = {
    "pull-image-from-manifest":
        '{ nix2container }:\nnix2container.buildImage {\n  name = "x";\n  fromImage = '
        'nix2container.pullImageFromManifest {\n    imageName = "library/alpine";\n'
        '    imageManifest = ./alpine-manifest.json;\n  };\n}\n',
    "pull-image-arch":
        '{ nix2container }:\nnix2container.buildImage {\n  name = "x";\n  fromImage = '
        'nix2container.pullImage {\n    imageName = "alpine";\n    imageDigest = "sha256:'
        + "1" * 64 + '";\n    arch = "amd64";\n    sha256 = "";\n  };\n}\n',
    "image-arch-unknown": '{ nix2container }:\nnix2container.buildImage {\n  name = "x";\n'
                          '  arch = "sparc64";\n}\n',
    "entrypoint-one-string":  # examples/perms.nix as written
        '{ nix2container }:\nnix2container.buildImage {\n  name = "perms";\n'
        '  config.entrypoint = "/bin/ls -l /tmp/";\n}\n',
    "max-layers-with-layers":
        '{ nix2container }:\nnix2container.buildImage {\n  name = "x";\n  maxLayers = 3;\n'
        '  layers = [ (nix2container.buildLayer { }) ];\n}\n',
    "layer-max-layers":
        '{ nix2container }:\nnix2container.buildImage {\n  name = "x";\n  layers = [\n'
        '    (nix2container.buildLayer { maxLayers = 2; })\n  ];\n}\n',
    "layer-argument-typo":
        '{ nix2container }:\nnix2container.buildImage {\n  name = "x";\n  layers = [\n'
        '    (nix2container.buildLayer { dep = [ ]; })\n  ];\n}\n',
    "layers-not-layers":
        '{ pkgs, nix2container }:\nnix2container.buildImage {\n  name = "x";\n'
        '  layers = [ pkgs.hello ];\n}\n',
    "perms-mode":
        '{ pkgs, nix2container }:\nnix2container.buildImage {\n  name = "x";\n'
        '  perms = [ { path = pkgs.hello; regex = ".*"; mode = "u+x"; } ];\n}\n',
    "perms-regex":
        '{ pkgs, nix2container }:\nnix2container.buildImage {\n  name = "x";\n'
        '  perms = [ { path = pkgs.hello; regex = "\\\\d+"; } ];\n}\n',
    "perms-key":
        '{ pkgs, nix2container }:\nnix2container.buildImage {\n  name = "x";\n'
        '  perms = [ { path = pkgs.hello; regexp = ".*"; } ];\n}\n',
    "created-before-1970":
        '{ nix2container }:\nnix2container.buildImage {\n  name = "x";\n'
        '  created = "1969-12-31T23:59:59Z";\n}\n',
    "unknown-argument":
        '{ nix2container }:\nnix2container.buildImage {\n  name = "x";\n  runAsRoot = "";\n}\n',
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals_are_located(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              snapshot) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    Path("Nixfile").write_text(REFUSED[case])
    Path("alpine-manifest.json").write_text("{}\n")
    result = CliRunner().invoke(app, ["render"])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith("Nixfile:") and "^" in result.stderr
    assert result.stderr == snapshot

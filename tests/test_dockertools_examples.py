"""nixpkgs' dockerTools examples, built by nixdf and checked as nixpkgs checks them.

pkgs/build-support/docker/examples.nix is re-expressed, image by image with the same
attribute names and arguments, in tests/data/dockertools-examples/Nixfile over an offline
package set of stand-ins (tests/data/dockertools-examples/pkgs). One `nixdf build` makes
every image on the real engine (those whose name:tag another example shares are built again
under a reference of their own); each test below is one example (its name says which) and
checks what nixpkgs' NixOS test (nixos/tests/docker-tools.nix) and the dockerTools manual
say of it: files, link targets, owners, modes, config, Env merged from a fromImage, layer
order and count. Where nixdf still differs from dockerTools, a strict xfail says how, so it
shows the day it is fixed. The examples left out need what is not here or not in nixdf:
a registry, a VM, cross-compiled package sets, nix-shell images, mergeImages, exportImage;
the Nix-database examples' feature is built in tests/test_nix2container.py.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from nixdf.evaluate import evaluation, find_images
from nixdf.parse import parse

from .conftest import LEGACY, ROOT, client, docker, engine_name, extract_all, saved_layers
from .test_examples import build, config, files, layer_files, layers, nixdf, run

CASES = ROOT / "tests" / "data" / "dockertools-examples"
# Examples that share a name:tag with another (as in examples.nix: two `child`, three
# `hello`, two `nginx-container`) are built again under a reference of their own.
SHARED_NAMES = ("nginx", "nginxStream", "environmentVariables", "environmentVariablesLayered",
                "helloOnRoot", "helloOnRootNoStore", "helloOnRootNoStoreFakechroot")
STORE_PATH = re.compile(r"nix/store/[0-9a-z]{32}-[^/]+")
UNIX_TIME_SECOND1 = "1970-01-01T00:00:01Z"

Test = TypeVar("Test", bound=Callable[..., None])


def builds(test: Test) -> Test:
    """A test of the built images: on the real engine, and slow (the fixture builds ~45)."""
    return pytest.mark.docker(pytest.mark.slow(test))  # type: ignore[no-any-return]


def deviation(reason: str) -> Callable[[Test], Test]:
    """A test of what dockerTools does and nixdf does not yet: it fails until nixdf does."""
    def mark(test: Test) -> Test:
        return builds(pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)(test))
    return mark


@dataclass(frozen=True)
class Examples:
    """The built examples, in the engine of this environment."""

    env: dict[str, str]

    @staticmethod
    def own(attr: str) -> str:
        """The reference of an example whose name:tag another example shares."""
        return f"nixdf-dockertools/{attr.lower()}:latest"


@pytest.fixture(scope="module")
def examples(engine_env: dict[str, str], offline_image: str,
             tmp_path_factory: pytest.TempPathFactory) -> Examples:
    cases = tmp_path_factory.mktemp("dockertools") / "examples"
    shutil.copytree(CASES, cases)  # the lock nixdf build writes stays out of the checkout
    nixfile, pkgs = cases / "Nixfile", cases / "pkgs"
    # nixdf refuses to build every image at once, as two would get one name: one at a time.
    tree = parse(nixfile.read_text(), str(nixfile))
    with evaluation(tree.span):
        attrs = [str(image.attr) for image in find_images(tree)]
    assert set(SHARED_NAMES) <= set(attrs)
    for attr in attrs:
        tags = ("-t", Examples.own(attr)) if attr in SHARED_NAMES else ()
        build(engine_env, offline_image, nixfile, "--target", attr.lower(), *tags, nixpkgs=pkgs)
    return Examples(engine_env)


def inspect(env: dict[str, str], ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(docker(env, "image", "inspect", ref).stdout)[0]  # type: ignore[no-any-return]


def store_paths(names: Iterable[str]) -> list[str]:
    """The store paths among an image's or a layer's file names, as nix/store/HASH-NAME."""
    return sorted({m.group(0) for name in names if (m := STORE_PATH.match(name))})


def runs(env: dict[str, str], ref: str, *args: str) -> subprocess.CompletedProcess[str]:
    return docker(env, "run", "--rm", ref, *args, check=False)


# --- the examples, in examples.nix's order ---------------------------------------------


@builds
def test_bash(examples: Examples) -> None:
    env = examples.env
    assert run(env, "bash:latest", "bash", "--version").startswith("GNU bash")
    tree = files(env, "bash:latest")
    # copyToRoot is copied: the buildEnv's bin, a link to bash's bin, is a real directory.
    assert tree["bin"].isdir() and tree["bin/bash"].isfile()
    assert any(p.endswith("-bash-interactive-5.2p26") for p in store_paths(tree))
    store = tree["nix/store"]
    assert (store.mode & 0o777, store.uid, store.gid) == (0o555, 0, 0)
    assert len(layers(env, "bash:latest")) == 1, "buildImage makes one layer"


@builds
def test_redis(examples: Examples) -> None:
    env = examples.env
    output = run(env, "redis:latest")
    assert "redis stand-in: cwd=/data uid=0" in output and "data dir writable" in output
    assert run(env, "redis:latest", "redis-cli", "--version").startswith("redis-cli")
    cfg = config(env, "redis:latest")
    assert (cfg["Cmd"], cfg["WorkingDir"], cfg["Volumes"]) == (
        ["/bin/redis-server"], "/data", {"/data": {}})
    # fromImage = bash: its layers first, its files still there.
    base = layers(env, "bash:latest")
    assert layers(env, "redis:latest")[:len(base)] == base
    assert run(env, "redis:latest", "bash", "--version").startswith("GNU bash")
    assert files(env, "redis:latest")["data"].isdir()


@builds
@pytest.mark.parametrize("attr", ["nginx", "nginxStream"])
def test_nginx(examples: Examples, attr: str) -> None:
    env, ref = examples.env, Examples.own(attr)
    cfg = config(env, ref)
    assert cfg["ExposedPorts"] == {"80/tcp": {}}
    assert cfg["Cmd"][:2] == ["nginx", "-c"] and cfg["Cmd"][2].endswith("-nginx.conf")
    tree = files(env, ref)
    # contents = [ fakeNss nginx ]: links into the store; extraCommands made the directories.
    assert tree["etc/passwd"].issym() and tree["etc/passwd"].linkname.endswith(
        "-fake-nss/etc/passwd")
    assert tree["bin/nginx"].issym()
    assert tree["tmp/nginx_client_body"].isdir() and tree["var/log/nginx"].isdir()
    [wget] = [f"/{n}" for n in tree if re.fullmatch(r"nix/store/[^/]+-busybox[^/]*/bin/wget", n)]
    server = docker(env, "run", "-d", ref).stdout.strip()
    try:
        page = ""
        for _ in range(50):  # until the server listens
            fetched = docker(env, "run", "--rm", f"--network=container:{server}",
                             "--entrypoint", wget, ref, "-q", "-O", "-", "http://127.0.0.1:80/",
                             check=False)
            if fetched.returncode == 0:
                page = fetched.stdout
                break
            time.sleep(0.2)
        assert "Hello from NGINX" in page, docker(env, "logs", server).stderr
    finally:
        docker(env, "rm", "-f", server)


@builds
def test_editors(examples: Examples) -> None:
    env = examples.env
    # No tag: dockerTools' is a hash of the image; nixdf's default is `latest`.
    for editor in ("emacs", "vim", "nano"):
        assert run(env, "editors:latest", editor) == f"{editor} (stand-in)\n"
    tree = files(env, "editors:latest")
    assert tree["bin"].isdir() and tree["bin/ls"].issym() and tree["bin/bash"].issym()


@builds
def test_runAsRootExtraCommands(examples: Examples) -> None:
    env = examples.env
    # Regression test for nixpkgs issue #34779: the scripts run as written, quotes and all.
    assert run(env, "runasrootextracommands:latest", "cat", "extraCommands") == (
        "(extraCommand)\n")
    assert run(env, "runasrootextracommands:latest", "cat", "runAsRoot") == "(runAsRoot)\n"


@builds
@pytest.mark.parametrize("ref", ["unstable-date:latest", "unstable-date-layered:latest"])
def test_unstableDate_and_unstableDateLayered(examples: Examples, ref: str) -> None:
    # The build time (an image rebuilt from cache keeps the first build's), not 1970.
    assert UNIX_TIME_SECOND1 not in inspect(examples.env, ref)["Created"]


@builds
def test_layered_image(examples: Examples) -> None:
    env, ref = examples.env, "layered-image:latest"
    assert run(env, ref) == "Hello, world!\n"
    assert run(env, ref, "cat", "extraCommands") == "(extraCommand)\n"
    tree = files(env, ref)
    [hello] = [p for p in store_paths(tree) if p.endswith("-hello-2.12.1")]
    assert config(env, ref)["Cmd"] == [f"/{hello}/bin/hello"]
    assert tree["bin/hello"].issym() and tree["bin/hello"].linkname == f"/{hello}/bin/hello"
    # A layer per store path (the budget allows it), then the customisation layer.
    assert len(layers(env, ref)) == len(store_paths(tree)) + 1
    assert all(tree[p].uid == 0 and tree[p].mtime == 1 for p in store_paths(tree))
    assert tree["nix/store"].mode & 0o777 == 0o755


@builds
@pytest.mark.parametrize("ref", ["layered-on-top:latest", "layered-on-top-layered:latest"])
def test_layered_on_top_and_layered_on_top_layered(examples: Examples, ref: str) -> None:
    env = examples.env
    assert run(env, ref) == "hello\n"
    base = layers(env, "layered-image:latest")
    assert layers(env, ref)[:len(base)] == base
    cfg = config(env, ref)
    assert cfg["WorkingDir"] == "/example-output"
    [path] = [e for e in cfg["Env"] if e.startswith("PATH=")]
    assert re.fullmatch(r"PATH=/nix/store/[^/]+-coreutils-9\.5/bin/", path)
    assert files(env, ref)["example-output"].mode & 0o777 == 0o777


@builds
def test_runAsRootParentImage(examples: Examples) -> None:
    env, ref = examples.env, "runasrootparentimage:latest"
    assert runs(env, ref, "bash", "-c", "test -f /example-file").returncode == 0
    base = layers(env, "bash:latest")
    assert layers(env, ref)[:len(base)] == base


@builds
def test_layersOrder(examples: Examples) -> None:
    env = examples.env
    for index in (1, 2, 3):
        assert run(env, "l3:latest", "cat", f"/tmp/layer{index}") == f"layer{index}\n"
    # l1 and l2, bound in a let, are images too, each below the next.
    l1, l2, l3 = (layers(env, f"l{n}:latest") for n in (1, 2, 3))
    assert l2[:len(l1)] == l1 and l3[:len(l2)] == l2
    # buildImage adds one layer, its root and what its scripts made, on a base too.
    assert [len(l1), len(l2), len(l3)] == [1, 2, 3]


@builds
@pytest.mark.parametrize("attr", ["environmentVariables", "environmentVariablesLayered"])
def test_environmentVariables_and_environmentVariablesLayered(
        examples: Examples, attr: str) -> None:
    env, ref = examples.env, Examples.own(attr)
    variables = run(env, ref, "env").splitlines()
    assert "FROM_PARENT=true" in variables, "envvars from the parent should be preserved"
    assert "FROM_CHILD=true" in variables, "envvars from the child should be preserved"
    assert "LAST_LAYER=child" in variables, "envvars from the child should take priority"
    base = layers(env, "parent:latest")
    assert layers(env, ref)[:len(base)] == base
    if attr == "environmentVariablesLayered":
        stored = config(env, ref)["Env"]
        assert sum(e.startswith("LAST_LAYER=") for e in stored) == 1, (
            "envvars overridden by child should be unique")


@builds
def test_another_layered_image(examples: Examples) -> None:
    env = examples.env
    assert run(env, "another-layered-image:latest") == "Hello, world!\n"
    # No contents: the closure of config.Cmd is the image's store, in the same layers as
    # layered-image's (only the customisation layers differ).
    mine, theirs = layers(env, "another-layered-image:latest"), layers(env, "layered-image:latest")
    assert set(mine[:-1]) <= set(theirs) and mine[-1] not in theirs


@builds
def test_two_layered_image(examples: Examples) -> None:
    env = examples.env
    assert run(env, "two-layered-image:latest") == "Hello, world!\n"
    assert len(layers(env, "two-layered-image:latest")) == 2


@builds
def test_bulk_layer(examples: Examples) -> None:
    env = examples.env
    # nixpkgs #78744: the bulk layer misses no store path.
    assert run(env, "bulk-layer:latest", "ls", "/bin/hello") == "/bin/hello\n"
    store, root = saved_layers(env, "bulk-layer:latest")
    bulk = store_paths(store)
    assert any(p.endswith("-coreutils-9.5") for p in bulk), "coreutils and hello share a layer"
    assert any(p.endswith("-hello-2.12.1") for p in bulk)
    assert not store_paths(root), "the customisation layer holds no store path"


@builds
def test_layered_bulk_layer(examples: Examples) -> None:
    env = examples.env
    assert run(env, "layered-bulk-layer:latest", "ls", "/bin/hello") == "/bin/hello\n"
    base = layers(env, "two-layered-image:latest")
    assert layers(env, "layered-bulk-layer:latest")[:len(base)] == base


@builds
def test_no_store_paths(examples: Examples) -> None:
    env, ref = examples.env, "no-store-paths:latest"
    # busybox copied into the root by extraCommands runs without any store.
    listing = run(env, ref, "ls", "/").split()
    assert "bin" in listing
    assert files(env, ref)["bin/busybox"].isfile()


@builds
def test_layersUnpackOrder(examples: Examples) -> None:
    assert run(examples.env, "layers-unpack-order-c:latest", "cat", "/layer-order") == "abc"


@builds
@pytest.mark.parametrize(("ref", "layered"), [
    ("bash-uncompressed:latest", False), ("bash-zstd:latest", False),
    ("bash-layered-uncompressed:latest", True), ("bash-layered-zstd:latest", True),
], ids=["bashUncompressed", "bashZstdCompressed", "bashLayeredUncompressed",
        "bashLayeredZstdCompressed"])
def test_compressors(examples: Examples, ref: str, layered: bool) -> None:
    # The compressor shapes only dockerTools' tarball; the image is the same.
    env = examples.env
    assert run(env, ref, "bash", "--version").startswith("GNU bash")
    bash = files(env, ref)["bin/bash"]
    # buildImage copies a package given as copyToRoot into the root (and its closure into
    # the store: NixOS/nixpkgs#94636); the layered builders link it.
    assert bash.issym() if layered else bash.isfile()


@builds
@pytest.mark.parametrize("name", [
    "bash-no-tag", "bash-no-tag-layered", "bash-no-tag-stream-layered",
], ids=["bashNoTag", "bashNoTagLayered", "bashNoTagStreamLayered"])
def test_no_tag(examples: Examples, name: str) -> None:
    # dockerTools tags these with a hash of the image; nixdf's default tag is `latest`.
    assert run(examples.env, f"{name}:latest", "bash", "--version").startswith("GNU bash")


@builds
def test_bashLayeredWithUser(examples: Examples) -> None:
    env, ref = examples.env, "bash-layered-with-user:latest"
    assert docker(env, "run", "-u", "somebody", "--rm", ref, "bash", "-c",
                  "test 755 = $(stat -c %a /nix) && test 755 = $(stat -c %a /nix/store) "
                  "&& id -u").stdout == "999\n"
    assert files(env, ref)["etc/passwd"].issym()


@builds
def test_layeredStoreSymlink(examples: Examples) -> None:
    env, ref = examples.env, "layeredstoresymlink:latest"
    tree = files(env, ref)
    [symlink] = [p for p in store_paths(tree) if p.endswith("-symlink")]
    assert tree[symlink].issym() and tree[symlink].linkname.endswith("-target")
    # buildLayeredImage doesn't dereference /nix/store symlink layers.
    assert runs(env, ref, "bash", "-c", f"test -L /{symlink}").returncode == 0


@builds
@pytest.mark.parametrize("name", [
    "registry-1.docker.io/image", "registry-1.docker.io/layered-image",
], ids=["prefixedImage", "prefixedLayeredImage"])
def test_prefixed_images(examples: Examples, name: str) -> None:
    env = examples.env
    repositories = docker(env, "images", "--format", "{{.Repository}}").stdout.split()
    assert name in repositories
    assert run(env, f"{name}:latest") == "Hello, world!\n"


@builds
def test_layeredImageWithFakeRootCommands(examples: Examples) -> None:
    env, ref = examples.env, "layered-image-with-fake-root-commands:latest"
    assert run(env, ref, "sh", "-c", "stat -c '%u' /home/alice") == "1000\n"
    # The image contains store paths referenced by the fakeRootCommands output.
    assert run(env, ref, "/hello/bin/layeredImageWithFakeRootCommands-hello") == (
        "Hello, world!\n")


@builds
def test_helloOnRoot(examples: Examples) -> None:
    assert "hello" in run(examples.env, Examples.own("helloOnRoot")).lower()


@builds
@pytest.mark.parametrize("attr", ["helloOnRootNoStore", "helloOnRootNoStoreFakechroot"])
def test_helloOnRootNoStore(examples: Examples, attr: str, tmp_path: Path) -> None:
    env, ref = examples.env, Examples.own(attr)
    assert runs(env, ref).returncode != 0, "includeStorePaths = false; breaks example"
    assert not [n for n in layer_files(env, ref) if n.startswith("nix/store/")], (
        "zero paths are added to the store")
    # ...and it works with the store mounted: here helloOnRoot's.
    container = docker(env, "create", Examples.own("helloOnRoot"), "/none").stdout.strip()
    try:
        exported = subprocess.run([client(env), "export", container], env=env, capture_output=True,
                                  check=True).stdout
    finally:
        docker(env, "rm", container)
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        extract_all(tar, tmp_path,
                    [m for m in tar.getmembers() if m.name.startswith("nix/store/")])
    mounted = f"{tmp_path / 'nix' / 'store'}:/nix/store:ro"
    assert "hello" in docker(env, "run", "--rm", "--volume", mounted, ref).stdout.lower()


@builds
def test_etc(examples: Examples) -> None:
    env = examples.env
    assert "localhost" in run(env, "etc:latest")
    tree = files(env, "etc:latest")
    # fakeRootCommands under enableFakechroot wrote absolute paths; the activation links
    # /etc/NAME -> /etc/static/NAME -> the store, as NixOS does.
    assert tree["etc/some-config-file"].linkname == "/etc/static/some-config-file"
    assert tree["etc/static"].issym() and tree["etc/static"].linkname.endswith("-etc")
    [cmd] = config(env, "etc:latest")["Cmd"]  # config.Cmd was a string: a store path
    assert cmd.startswith("/nix/store/") and cmd.endswith("-etc-cmd")


@builds
def test_imageViaFakeChroot(examples: Examples) -> None:
    env, ref = examples.env, "image-via-fake-chroot:latest"
    assert run(env, ref) == "Hello, world!\n"
    link = files(env, ref)["bin/hello"]
    assert link.issym() and re.fullmatch(r"/nix/store/[^/]+-hello-2.12.1/bin/hello",
                                         link.linkname)


@builds
def test_image_with_certs(examples: Examples) -> None:
    for path in ("/etc/ssl/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt",
                 "/etc/pki/tls/certs/ca-bundle.crt"):
        assert runs(examples.env, "image-with-certs:latest", "test", "-r", path).returncode == 0


@builds
def test_layered_bulk_layer_counts_the_bases_layers_in_max_layers(examples: Examples) -> None:
    # NixOS test: "Ensure the bulk layer with a base image respects the number of maxLayers".
    # two-layered-image's 2 layers and the root leave maxLayers = 4 one store layer.
    assert len(layers(examples.env, "layered-bulk-layer:latest")) == 4


# --- where nixdf still differs from dockerTools ------------------------------------------


@builds
def test_created_is_1970_by_default(examples: Examples, request: pytest.FixtureRequest) -> None:
    # NixOS test: "Ensure Docker images use a stable date by default".
    if engine_name(examples.env) == LEGACY:
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=AssertionError,
            reason="Docker 20.10's BuildKit writes the build time as the image's created: "
            "it takes no SOURCE_DATE_EPOCH"))
    assert UNIX_TIME_SECOND1 in inspect(examples.env, "bash:latest")["Created"]


@deviation("nixdf puts every store path a script names into the "
           "image; dockerTools only those its output refers to")
def test_deviation_a_path_a_script_only_runs_stays_out(examples: Examples) -> None:
    # examples.no-store-paths: `${pkgs.hello}/bin/hello` is a "build" dependency that will
    # not appear in the image.
    tree = files(examples.env, "no-store-paths:latest")
    assert not [p for p in store_paths(tree) if p.endswith("-hello-2.12.1")]


# --- examples rendered, not built --------------------------------------------------------


def test_a_path_among_the_contents_is_refused_with_its_place() -> None:
    # examples.build-image-with-path and examples.layered-image-with-path.
    nixfile = CASES / "with-path.nix"
    done = nixdf(dict(os.environ), "render", str(nixfile), "--nixpkgs", str(CASES / "pkgs"),
                 check=False)
    [(line, text), *_] = [(n, text) for n, text in enumerate(nixfile.read_text().splitlines(), 1)
                          if "./test-dummy" in text]
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(
        f"{nixfile.relative_to(ROOT)}:{line}:{text.index('./') + 1}: error: the path "
        "./test-dummy in 'copyToRoot' is not supported yet")


def test_a_pulled_base_is_pinned_by_digest() -> None:
    # examples.nixFromDockerHub and examples.onTopOfPulledImage: pullImage, taken as an
    # argument as examples.nix takes it, is the base (building needs Docker Hub).
    done = nixdf(dict(os.environ), "render", str(CASES / "pulled.nix"),
                 "--nixpkgs", str(CASES / "pkgs"))
    digest = "sha256:85299d86263a3059cf19f419f9d286cc9f06d3c13146a8ebbb21b3437f598357"
    assert f"FROM nixos/nix@{digest} AS ontopofpulledimage" in done.stdout.splitlines()

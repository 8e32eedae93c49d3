"""What a Nixfile imports, as Nixfiles written for nix-build do it: paths above its directory
(the build context widens to the repository) and a package set of its own (`import <nixpkgs>
{ }`, a pinned fetchTarball). Real builds use the offline builder image and package set."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from nixdf import api, failures
from nixdf.engine import Engine
from nixdf.errors import EngineError, NixdfError
from nixdf.inputs import NixInputs

from .conftest import OFFLINE_PKGS, docker
from .test_examples import build, nixdf, run

BUILDX = Engine("docker", buildx=True, server_version="27.0.0")

# A package built from a file above the Nixfile: the repository's VERSION.
APP = """{ pkgs }:
derivation {
  name = "app";
  system = builtins.currentSystem;
  builder = "${pkgs.busybox}/bin/sh";
  PATH = "${pkgs.busybox}/bin";
  args = [ "-c" "mkdir -p $out && cp ${../VERSION} $out/version" ];
}
"""

NIXFILE = """{ pkgs, buildImage }:
buildImage {
  name = "nixdf-test/above";
  tag = "TAG";
  copyToRoot = [ pkgs.busybox (import ../lib/app.nix { inherit pkgs; }) ];
  config.Cmd = [ "/bin/cat" "/version" ];
}
"""


def _repository(root: Path, *, git: bool = True, name: str = "repo") -> Path:
    """root/NAME: nix/Nixfile, lib/app.nix, VERSION, README.md, and the package set in pkgs/."""
    repo = root / name
    for directory in ("nix", "lib"):
        (repo / directory).mkdir(parents=True)
    (repo / "nix" / "Nixfile").write_text(NIXFILE.replace("TAG", uuid.uuid4().hex[:8]))
    (repo / "lib" / "app.nix").write_text(APP)
    (repo / "VERSION").write_text("1.2.3\n")
    (repo / "README.md").write_text("not a Nix input\n")
    shutil.copytree(OFFLINE_PKGS, repo / "pkgs")
    if git:
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def _tag(nixfile: Path) -> str:
    return nixfile.read_text().split('tag = "', 1)[1].split('"', 1)[0]


# --- paths above the Nixfile ----------------------------------------------------------


@pytest.mark.parametrize("git", [True, False])
def test_a_path_above_the_nixfile_makes_its_repository_the_context(tmp_path: Path,
                                                                  git: bool) -> None:
    repo = _repository(tmp_path, git=git)
    (repo / "nix" / "deeper").mkdir()
    nixfile = repo / "nix" / "deeper" / "Nixfile"
    nixfile.write_text(NIXFILE.replace("../lib", "../../lib"))
    rendered = api.render_path(nixfile, api.RenderOptions())
    # With git, the repository; without, the nearest directory holding every input.
    assert rendered.context == repo
    copies = [line for line in rendered.text.splitlines() if line.startswith("COPY [")]
    assert copies == ['COPY ["nix/deeper/.nixdf/", "/"]',
                      'COPY ["nix/deeper/Nixfile", "/nixdf/src/nix/deeper/Nixfile"]',
                      'COPY ["VERSION", "/nixdf/src/VERSION"]',
                      'COPY ["lib/app.nix", "/nixdf/src/lib/app.nix"]']
    assert ("# Build with: docker buildx build --build-arg SOURCE_DATE_EPOCH=1 -f Dockerfile "
            "../.. (in the Nixfile's directory: ../.. holds every Nix input)"
            ) in rendered.text.splitlines()


def test_in_a_repository_the_context_is_its_top_even_below_it(tmp_path: Path) -> None:
    repo = _repository(tmp_path)
    (repo / "nix" / "common.nix").write_text("{ }\n")
    (repo / "nix" / "image").mkdir()
    nixfile = repo / "nix" / "image" / "Nixfile"
    nixfile.write_text('let common = import ../common.nix; in buildImage { name = "x"; }\n')
    assert api.render_path(nixfile, api.RenderOptions()).context == repo
    # Without git, the nearest directory that holds both.
    shutil.rmtree(repo / ".git")
    assert api.render_path(nixfile, api.RenderOptions()).context == repo / "nix"


def test_a_nixfile_whose_inputs_lie_beside_it_keeps_its_directory(tmp_path: Path) -> None:
    repo = _repository(tmp_path)
    (repo / "nix" / "Nixfile").write_text('{ buildImage }: buildImage { name = "x"; }\n')
    rendered = api.render_path(repo / "nix" / "Nixfile", api.RenderOptions())
    assert rendered.context == repo / "nix"
    assert ("# Build with: docker buildx build --build-arg SOURCE_DATE_EPOCH=1 ."
            in rendered.text.splitlines())


def test_the_build_runs_in_the_wider_context(tmp_path: Path) -> None:
    repo = _repository(tmp_path)
    prepared = api.prepare_build(repo / "nix" / "Nixfile", api.RenderOptions(),
                                 target=None, tags=(), engine=BUILDX)
    [command] = prepared.commands
    assert command.argv[-1] == str(repo)
    lock = api.prepare_lock(repo / "nix" / "Nixfile", api.RenderOptions(), engine=BUILDX)
    assert lock.commands(tmp_path / "out")[-1].argv[-1] == str(repo)


def test_the_lock_key_follows_the_inputs_not_the_checkout_directory(tmp_path: Path) -> None:
    def key(repo: Path) -> str:
        return api.prepare_lock(repo / "nix" / "Nixfile", api.RenderOptions(),
                                engine=BUILDX).key

    # The same tree, checked out under another name.
    first, second = _repository(tmp_path), _repository(tmp_path, name="checkout")
    (second / "nix" / "Nixfile").write_text((first / "nix" / "Nixfile").read_text())
    assert key(first) == key(second)
    (second / "README.md").write_text("changed, and still not a Nix input\n")
    assert key(first) == key(second)
    (second / "VERSION").write_text("2.0.0\n")
    assert key(first) != key(second)
    # The whole repository as an input: its files count, not the checkout's name.
    for repo in (first, second):
        (repo / "VERSION").write_text("1.2.3\n")
        (repo / "README.md").write_text("the same text\n")
        (repo / "nix" / "Nixfile").write_text('buildImage { name = "x"; contents = ../.; }\n')
    assert key(first) == key(second)


@pytest.mark.parametrize("text", [
    'buildImage { name = "x"; contents = if builtins.pathExists ./result then '
    "[ (import ./result) ] else [ ]; }",
    "{ lib, buildImage }: let src = lib.fileset.maybeMissing ./result; in "
    'buildImage { name = "x"; }',
])
def test_a_missing_path_that_the_file_tests_for_is_no_input(tmp_path: Path, text: str) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(text + "\n")
    rendered = api.render_path(nixfile, api.RenderOptions())
    assert [line for line in rendered.text.splitlines() if line.startswith("COPY [")] == [
        'COPY [".nixdf/", "/"]', 'COPY ["Nixfile", "/nixdf/src/Nixfile"]']


def test_paths_beyond_the_repository_or_the_file_system_are_refused(  # type: ignore[no-untyped-def]
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot) -> None:
    monkeypatch.chdir(tmp_path)
    repo = _repository(tmp_path)
    (tmp_path / "shared.nix").write_text("{ }\n")
    (repo / "nix" / "app.nix").write_text("{\n  shared = import ../../shared.nix;\n}\n")
    (repo / "nix" / "Nixfile").write_text('let app = import ./app.nix; in buildImage '
                                          '{ name = "x"; }\n')
    with pytest.raises(NixdfError) as outside:
        api.render_path(repo / "nix" / "Nixfile", api.RenderOptions())
    assert str(outside.value).replace(str(tmp_path), "<tmp>") == snapshot
    # Outside any repository the context may grow, but not to the whole file system.
    shutil.rmtree(repo / ".git")
    up = "../" * len(repo.parts)
    (repo / "nix" / "Nixfile").write_text(f'buildImage {{ name = "x"; env = {up}usr; }}\n')
    with pytest.raises(NixdfError) as everything:
        api.render_path(repo / "nix" / "Nixfile", api.RenderOptions())
    assert str(everything.value).splitlines()[0] == (
        f"repo/nix/Nixfile:1:32: error: {up}usr would make the whole file system the build "
        "context")


@pytest.mark.docker
def test_a_committed_dockerfile_builds_with_its_documented_command(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    repo = _repository(tmp_path)
    nixfile = repo / "nix" / "Nixfile"
    ref = f"nixdf-test/above:{_tag(nixfile)}"
    options = ("--nix-image", offline_image, "--nixpkgs", str(repo / "pkgs"),
               "--compat", "docker-20.10")
    nixdf(engine_env, "sync", str(nixfile), *options, check=False)  # exit 1: it wrote one
    dockerfile = (repo / "nix" / "Dockerfile").read_text()
    hint = ("# Build with: DOCKER_BUILDKIT=1 docker build -f Dockerfile .. (Docker 20.10's "
            "built-in BuildKit; in the Nixfile's directory: .. holds every Nix input)")
    assert hint in dockerfile.splitlines()

    def docker_build() -> str:
        subprocess.run(["/usr/bin/docker", "build", "-q", "-f", "Dockerfile", "..", "-t", ref],
                       cwd=repo / "nix", env=engine_env, check=True, capture_output=True)
        return docker(engine_env, "image", "inspect", "-f", "{{.Id}}", ref).stdout

    image = docker_build()
    assert run(engine_env, ref) == "1.2.3\n"
    # The context is the repository, the cache key only its Nix inputs.
    (repo / "README.md").write_text("edited\n")
    assert docker_build() == image
    (repo / "VERSION").write_text("1.2.4\n")
    build(engine_env, offline_image, nixfile, nixpkgs=repo / "pkgs")
    assert run(engine_env, ref) == "1.2.4\n"


@pytest.mark.docker
def test_a_dockerignore_that_leaves_out_a_nix_input_is_named(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    repo = _repository(tmp_path)
    # An allow-list, as repositories with Dockerfiles often have: nothing of nix/ or lib/.
    (repo / ".dockerignore").write_text("*\n!src\n!pkgs\n")
    done = build(engine_env, offline_image, repo / "nix" / "Nixfile", nixpkgs=repo / "pkgs",
                 check=False)
    assert done.returncode == 3
    [message, hint] = done.stderr.rstrip().splitlines()[-2:]
    assert message.startswith(f"error: {repo}/.dockerignore leaves out ")
    assert message.endswith((", a Nix input of the build", ", nixdf's Nix and shell files"))
    assert hint.startswith("  hint: add a line `!")
    # With the inputs let in, nixdf's own files are what is left out.
    (repo / ".dockerignore").write_text("*\n!src\n!pkgs\n!nix/Nixfile\n!lib\n!VERSION\n")
    done = build(engine_env, offline_image, repo / "nix" / "Nixfile", nixpkgs=repo / "pkgs",
                 check=False)
    assert done.returncode == 3
    assert done.stderr.rstrip().splitlines()[-2:] == [
        f"error: {repo}/.dockerignore leaves out nix/.nixdf, nixdf's Nix and shell files",
        "  hint: add a line `!nix/.nixdf` to it: nixdf copies only the Nix inputs and its own "
        "files, so nothing else of the context reaches the build."]


# --- a package set of its own -----------------------------------------------------------


@pytest.mark.parametrize("nixfile", [
    'let pkgs = import <nixpkgs> { }; in pkgs.dockerTools.buildImage { name = "x"; }',
    'with (import <nixpkgs> { system = "x86_64-linux"; }); dockerTools.buildLayeredImage '
    '{ name = "x"; config.Cmd = lib.optional true "/bin/x"; }',
    '{ nixpkgs ? import ./nixpkgs.nix }: nixpkgs.dockerTools.buildImage { name = "x"; }',
    'let pkgs = import (builtins.fetchTarball { url = "https://example.org/n.tar.gz"; '
    'sha256 = "0000000000000000000000000000000000000000000000000000"; }) { }; '
    'in { x = pkgs.dockerTools.streamLayeredImage { name = "x"; }; }',
])
def test_the_builders_of_an_imported_package_set_are_nixdfs(tmp_path: Path, nixfile: str) -> None:
    (tmp_path / "nixpkgs.nix").write_text("import <nixpkgs> { }\n")
    (tmp_path / "Nixfile").write_text(nixfile + "\n")
    [spec] = api.load(tmp_path / "Nixfile")
    assert spec.name == "x"


def test_only_a_package_set_import_gives_the_builders(  # type: ignore[no-untyped-def]
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nix").mkdir()
    (tmp_path / "nix" / "default.nix").write_text("{ }: { pkgs = import <nixpkgs> { }; }\n")
    # One level down is some other set, which Nix's side leaves as it is: refused here too.
    (tmp_path / "Nixfile").write_text(
        '(import ./nix { }).pkgs.dockerTools.buildImage { name = "x"; }\n')
    with pytest.raises(NixdfError) as refused:
        api.load(tmp_path / "Nixfile")
    assert str(refused.value) == snapshot


def _inputs(root: Path, *files: str) -> NixInputs:
    return NixInputs(root, files[0], files)


@pytest.mark.parametrize("where", ["Nixfile", "nix/sources.json", None])
def test_a_download_nix_cannot_make_points_at_the_input_that_names_it(  # type: ignore[no-untyped-def]
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot, where: str | None) -> None:
    monkeypatch.chdir(tmp_path)
    url = "https://github.com/NixOS/nixpkgs/archive/0123abcd.tar.gz"
    (tmp_path / "nix").mkdir()
    (tmp_path / "Nixfile").write_text(
        'let\n  pkgs = import (fetchTarball "URL") { };\nin pkgs.hello\n'
        .replace("URL", url if where == "Nixfile" else "elsewhere"))
    (tmp_path / "nix" / "sources.json").write_text(
        '{\n  "nixpkgs": {\n    "url": "URL"\n  }\n}\n'
        .replace("URL", url if where == "nix/sources.json" else "elsewhere"))
    log = ("#9 4.616 error: unable to download "
           f"'{url}': Couldn't resolve host name (6)",)
    located = failures.nix_error(EngineError("the build failed", log),
                             _inputs(tmp_path, "Nixfile", "nix"))
    assert located is not None and located.exit_code == 3
    assert str(located) == snapshot


@pytest.mark.docker
def test_import_nixpkgs_gets_the_package_set_nixdf_is_given(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    # As nix-build users write it: the file and the files it imports find <nixpkgs>.
    (tmp_path / "app.nix").write_text(
        '(import <nixpkgs> { greeting = "Hello from the search path"; }).hello\n')
    (tmp_path / "Nixfile").write_text(f"""let
  pkgs = import <nixpkgs> {{ }};
  app = import ./app.nix;
in
pkgs.dockerTools.buildLayeredImage {{
  name = "nixdf-test/own-nixpkgs";
  tag = "{tag}";
  contents = [ app ];
  config.Cmd = [ "${{app}}/bin/hello" ];
}}
""")
    build(engine_env, offline_image, tmp_path / "Nixfile")  # locks the Cmd, then builds
    assert run(engine_env, f"nixdf-test/own-nixpkgs:{tag}") == "Hello from the search path\n"
    # A package set imported through a file of the repository, as a default argument.
    (tmp_path / "nixpkgs.nix").write_text('import <nixpkgs> { greeting = "pinned"; }\n')
    (tmp_path / "Default").write_text(f"""{{ nixpkgs ? import ./nixpkgs.nix }}:
nixpkgs.dockerTools.buildImage {{
  name = "nixdf-test/own-nixpkgs-default";
  tag = "{tag}";
  copyToRoot = nixpkgs.hello;
  config.Cmd = [ "/bin/hello" ];
}}
""")
    build(engine_env, offline_image, tmp_path / "Default")
    assert run(engine_env, f"nixdf-test/own-nixpkgs-default:{tag}") == "pinned\n"


@pytest.mark.docker
def test_a_pinned_nixpkgs_the_builder_cannot_fetch_is_a_located_error(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    (tmp_path / "Nixfile").write_text("""let
  pkgs = import (builtins.fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/63dacb46bf939521bdc93981b4cbb7ecb58427a0.tar.gz";
    sha256 = "1lr1h35prqkd1mkmzriwlpvxcb34kmhc9dnr48gkm8hh089hifmx";
  }) { };
in
pkgs.dockerTools.buildImage { name = "nixdf-test/pinned"; copyToRoot = pkgs.hello; }
""")
    done = build(engine_env, offline_image, tmp_path / "Nixfile", check=False)
    assert done.returncode == 3
    report = done.stderr[done.stderr.index(f"{tmp_path}/Nixfile:"):]
    url = "https://github.com/NixOS/nixpkgs/archive/63dacb46bf939521bdc93981b4cbb7ecb58427a0.tar.gz"
    # The same on every engine: the located line, the line cut after the URL, carets, the hint.
    assert report.replace(str(tmp_path), "<tmp>").splitlines() == [
        "<tmp>/Nixfile:3:12: error: Nix in the builder could not download this URL: "
        "Couldn't resolve host name (6)",
        f'        url = "{url}"…',
        "               " + "^" * 88,
        "  hint: this input is fetched in the builder, which could not reach it: give the build "
        "network access, or, for a package set, write `import <nixpkgs> { }`, which is the one "
        "nixdf is given (--nixpkgs).",
    ]


def test_a_very_long_expression_is_searched_without_recursion(tmp_path: Path) -> None:
    # `1 + 1 + …` parses to a left-deep chain: a search that recursed per level (or resumed
    # nested generators) overflowed here, and its cost grew with each node's depth.
    terms = " + ".join(["1"] * 20000)
    (tmp_path / "data").write_text("x\n")
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(f"let x = {terms} + builtins.stringLength (builtins.readFile ./data);\n"
                       'in buildImage { name = "deep"; config.Env = [ "A=1" ]; }\n')
    rendered = api.render_path(nixfile, api.RenderOptions())
    assert rendered.inputs.paths == ("Nixfile", "data")

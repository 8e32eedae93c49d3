"""nixdf as a BuildKit frontend (nixdf/frontend.py): a Nixfile with `# syntax=REF` on its first
line, built by plain `docker buildx build -f Nixfile` with no nixdf on the client.

On Docker 26 + buildx only (20.10's BuildKit would pull the frontend from Docker Hub): the
frontend image is built and pushed once per session (scripts/frontend-image.sh) to a registry
inside that engine's network namespace (scripts/frontend-registry.sh), and pulled from there.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import MODERN, OFFLINE_PKGS, ROOT, client, docker
from .test_examples import config, files, nixdf, run

pytestmark = [pytest.mark.docker, pytest.mark.engines(MODERN)]


@pytest.fixture(scope="session")
def frontend_ref(engine_env: dict[str, str]) -> Iterator[str]:
    """The frontend image of this checkout, pushed to the engine's loopback registry; its tag
    is this checkout's, so two checkouts testing at once never pull each other's. The copy
    buildx's docker driver leaves in the engine goes at the end (each run's would pile up)."""
    registry = subprocess.run([str(ROOT / "scripts" / "frontend-registry.sh"), "start"],
                              env=engine_env, capture_output=True, text=True, check=True)
    tag = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    ref = f"{registry.stdout.strip()}/nixdf-frontend:test-{tag}"
    done = subprocess.run([str(ROOT / "scripts" / "frontend-image.sh"), ref], env=engine_env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    yield ref
    docker(engine_env, "rmi", ref, check=False)


def buildx(env: dict[str, str], directory: Path, *args: str,
           nixfile: str = "Nixfile") -> subprocess.CompletedProcess[str]:
    """`docker buildx build -f NIXFILE ARGS .` in ``directory``: the client's own command."""
    return subprocess.run([client(env), "buildx", "build", "-f", nixfile, *args, "."],
                          cwd=directory, env=env, capture_output=True, text=True)


def with_syntax(ref: str, nixfile: Path, into: Path) -> Path:
    into.mkdir(exist_ok=True)
    (into / "Nixfile").write_text(f"# syntax={ref}\n" + nixfile.read_text())
    return into


def test_builds_redis_through_the_frontend(engine_env, offline_image, frontend_ref,  # type: ignore[no-untyped-def]
                                           tmp_path) -> None:
    directory = with_syntax(frontend_ref, ROOT / "examples" / "redis" / "Nixfile",
                            tmp_path / "redis")
    # The context is the directory above, with a Nixfile of its own that must not be built.
    (tmp_path / "Nixfile").write_text("{ not = buildImage { name = 1; }; }\n")
    ref = "nixdf-test/frontend-redis:e2e"
    done = buildx(engine_env, tmp_path, "--build-context", f"nixpkgs={OFFLINE_PKGS}",
                  "--build-arg", f"NIXDF_NIX_IMAGE={offline_image}",
                  "--build-arg", "NIXDF_COMPAT=builtin-frontend", "-t", ref, "--load",
                  nixfile="redis/Nixfile")
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"docker-image://{frontend_ref}" in done.stderr, "the # syntax= line chose nixdf"
    # nixdf's files came as the named context `nixdf`, not from the context.
    assert "mkfile /flake-outputs.nix, mkfile /lib.nix, mkfile /lib.sh" in done.stderr
    assert not (directory / ".nixdf").exists()
    output = run(engine_env, ref)
    assert "redis stand-in: cwd=/data uid=0" in output and "data dir writable" in output
    cfg = config(engine_env, ref)
    assert cfg["Cmd"] == ["/bin/redis-server"]
    assert cfg["WorkingDir"] == "/data" and cfg["Volumes"] == {"/data": {}}
    tree = files(engine_env, ref)
    assert tree["bin/redis-server"].isfile() and tree["data"].isdir()
    assert tree["nix/store"].mode & 0o777 == 0o555
    docker(engine_env, "rmi", ref)


def test_a_broken_nixfile_fails_with_its_located_error(engine_env, frontend_ref,  # type: ignore[no-untyped-def]
                                                       tmp_path) -> None:
    (tmp_path / "Nixfile").write_text(
        f"# syntax={frontend_ref}\n"
        '{\n  app = buildImage {\n    name = "app";\n    contents = pkgs.hello\n  };\n}\n')
    done = buildx(engine_env, tmp_path, "--build-arg", "NIXDF_COMPAT=builtin-frontend")
    assert done.returncode != 0
    assert ("ERROR: failed to solve: Nixfile:6:3: error: expected ';' after the value of the "
            "attribute\n      };\n      ^\n  hint: found '}' instead") in done.stderr
    assert "Traceback" not in done.stderr


def test_several_images_want_a_target(engine_env, frontend_ref, tmp_path) -> None:  # type: ignore[no-untyped-def]
    directory = with_syntax(frontend_ref, ROOT / "examples" / "hello" / "Nixfile", tmp_path)
    done = buildx(engine_env, directory, "--build-arg", "NIXDF_COMPAT=builtin-frontend")
    assert done.returncode != 0
    assert "Nixfile has several images" in done.stderr
    assert "hint: add --target, one of: hello, shell" in done.stderr


def test_target_picks_an_image_built_on_another(engine_env, offline_image, frontend_ref,  # type: ignore[no-untyped-def]
                                                tmp_path) -> None:
    directory = with_syntax(frontend_ref, ROOT / "examples" / "hello" / "Nixfile", tmp_path)
    common = ("--build-context", f"nixpkgs={OFFLINE_PKGS}", "--build-arg",
              f"NIXDF_NIX_IMAGE={offline_image}", "--build-arg", "NIXDF_COMPAT=builtin-frontend")
    ref = "nixdf-test/frontend-hello-shell:e2e"
    done = buildx(engine_env, directory, *common, "--target", "shell", "-t", ref, "--load")
    assert done.returncode == 0, done.stderr[-4000:]
    assert run(engine_env, ref) == "hello-shell\nHello from nixdf\n"
    assert config(engine_env, ref)["User"] == "65534:65534"
    docker(engine_env, "rmi", ref)
    unknown = buildx(engine_env, directory, *common, "--target", "nope")
    assert unknown.returncode != 0
    assert "--target nope: no such image\n  hint: the images of Nixfile are: hello, shell" \
        in unknown.stderr


def test_a_layered_image_is_locked_in_the_same_build_as_the_clis(  # type: ignore[no-untyped-def]
        engine_env, offline_image, frontend_ref, tmp_path) -> None:
    """Without a Nixfile.lock, one build locks and builds the image `nixdf build` builds: the
    same layers, the same created time. Then the lock `nixdf build` wrote is used as is."""
    directory = with_syntax(frontend_ref, ROOT / "examples" / "layered" / "Nixfile", tmp_path)
    args = ("--build-context", f"nixpkgs={OFFLINE_PKGS}", "--build-arg",
            f"NIXDF_NIX_IMAGE={offline_image}", "--build-arg", "NIXDF_COMPAT=builtin-frontend")
    ref, cli_ref = "nixdf-test/frontend-layered:e2e", "nixdf-test/frontend-layered:cli"
    done = buildx(engine_env, directory, *args, "-t", ref, "--load")
    assert done.returncode == 0, done.stderr[-4000:]
    assert "lock_closure /out/closure-0" in done.stderr, "the lock step ran in this build"
    assert not (directory / "Nixfile.lock").exists(), "the client's directory is left alone"
    nixdf(engine_env, "build", str(directory / "Nixfile"), "--nix-image", offline_image,
          "--nixpkgs", str(OFFLINE_PKGS), "-t", cli_ref)
    ours, theirs = (json.loads(docker(engine_env, "image", "inspect", r).stdout)[0]
                    for r in (ref, cli_ref))
    assert len(ours["RootFS"]["Layers"]) > 2, "the lock split the store into layers"
    assert ours["RootFS"]["Layers"] == theirs["RootFS"]["Layers"]
    assert ours["Created"] == theirs["Created"] == "1970-01-01T00:00:01Z"
    assert ours["Config"] == theirs["Config"]
    assert run(engine_env, ref) == run(engine_env, cli_ref)
    assert (directory / "Nixfile.lock").is_file()
    again = buildx(engine_env, directory, *args, "-t", ref, "--load")
    assert again.returncode == 0, again.stderr[-4000:]
    assert "lock_closure" not in again.stderr, "a current lock is used, not made again"
    assert layers_of(engine_env, ref) == theirs["RootFS"]["Layers"]
    docker(engine_env, "rmi", ref, cli_ref)


def layers_of(env: dict[str, str], ref: str) -> list[str]:
    return json.loads(docker(env, "image", "inspect", ref).stdout)[0]["RootFS"]["Layers"]


def test_a_nixfile_that_imports_a_file_beside_it(engine_env, offline_image, frontend_ref,  # type: ignore[no-untyped-def]
                                                 tmp_path) -> None:
    (tmp_path / "Nixfile").write_text(
        f"# syntax={frontend_ref}\nlet lib = import ./lib.nix {{ inherit pkgs; }}; in\n"
        '{ app = buildImage {\n  name = "app";\n  contents = lib.server;\n'
        '  config.Cmd = [ "/bin/redis-server" ];\n}; }\n')
    (tmp_path / "lib.nix").write_text("{ pkgs }: { server = pkgs.redis; }\n")
    ref = "nixdf-test/frontend-import:e2e"
    done = buildx(engine_env, tmp_path, "--build-context", f"nixpkgs={OFFLINE_PKGS}",
                  "--build-arg", f"NIXDF_NIX_IMAGE={offline_image}",
                  "--build-arg", "NIXDF_COMPAT=builtin-frontend", "-t", ref, "--load")
    assert done.returncode == 0, done.stderr[-4000:]
    assert "redis stand-in" in run(engine_env, ref), "the package lib.nix names"
    docker(engine_env, "rmi", ref)


def test_a_failing_nix_build_is_the_builds_error(engine_env, offline_image, frontend_ref,  # type: ignore[no-untyped-def]
                                                 tmp_path) -> None:
    (tmp_path / "Nixfile").write_text(
        f"# syntax={frontend_ref}\n"
        '{ app = buildImage { name = "app"; contents = pkgs.helo; }; }\n')
    done = buildx(engine_env, tmp_path, "--build-context", f"nixpkgs={OFFLINE_PKGS}",
                  "--build-arg", f"NIXDF_NIX_IMAGE={offline_image}",
                  "--build-arg", "NIXDF_COMPAT=builtin-frontend")
    assert done.returncode != 0
    assert "attribute 'helo' missing" in done.stderr
    # BuildKit's own report of the failed step, as for any Dockerfile: not a crash of nixdf's.
    assert "ERROR: failed to solve: process \"/bin/sh -c set -eu;" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


def test_a_config_that_needs_nix_is_locked_in_the_same_build(  # type: ignore[no-untyped-def]
        engine_env, offline_image, frontend_ref, tmp_path) -> None:
    (tmp_path / "Nixfile").write_text(
        f"# syntax={frontend_ref}\n"
        '{ app = buildImage { name = "app"; contents = pkgs.hello;\n'
        '  config.Cmd = [ "${pkgs.hello}/bin/hello" ]; }; }\n')
    ref = "nixdf-test/frontend-needs-lock:e2e"
    done = buildx(engine_env, tmp_path, "--build-context", f"nixpkgs={OFFLINE_PKGS}",
                  "--build-arg", f"NIXDF_NIX_IMAGE={offline_image}",
                  "--build-arg", "NIXDF_COMPAT=builtin-frontend", "-t", ref, "--load")
    assert done.returncode == 0, done.stderr[-4000:]
    (cmd,) = config(engine_env, ref)["Cmd"]
    assert re.fullmatch(r"/nix/store/[0-9a-z]{32}-hello[^/]*/bin/hello", cmd), cmd
    assert "Hello" in run(engine_env, ref)
    docker(engine_env, "rmi", ref)


def test_options_as_build_args_per_path_and_binary_caches(  # type: ignore[no-untyped-def]
        engine_env, offline_image, frontend_ref, tmp_path) -> None:
    """NIXDF_PER_PATH gives each store layer a stage of its own, with the layers `nixdf build
    --per-path` makes; NIXDF_SUBSTITUTERS and NIXDF_TRUSTED_PUBLIC_KEYS reach Nix's options
    (a cache that does not answer: Nix builds, as it would)."""
    directory = with_syntax(frontend_ref, ROOT / "examples" / "layered" / "Nixfile", tmp_path)
    nixdf(engine_env, "lock", str(directory / "Nixfile"), "--nix-image", offline_image,
          "--nixpkgs", str(OFFLINE_PKGS))
    ref, cli_ref = "nixdf-test/frontend-per-path:e2e", "nixdf-test/frontend-per-path:cli"
    key = "cache.example.org-1:" + "A" * 43 + "="
    done = buildx(engine_env, directory, "--build-context", f"nixpkgs={OFFLINE_PKGS}",
                  "--build-arg", f"NIXDF_NIX_IMAGE={offline_image}",
                  "--build-arg", "NIXDF_COMPAT=builtin-frontend",
                  "--build-arg", "NIXDF_PER_PATH=1",
                  "--build-arg", "NIXDF_SUBSTITUTERS=http://127.0.0.1:9",
                  "--build-arg", f"NIXDF_TRUSTED_PUBLIC_KEYS={key}",
                  "--progress", "plain", "-t", ref, "--load")
    assert done.returncode == 0, done.stderr[-4000:]
    assert re.search(r"\[layered-store-1 1/1\] RUN", done.stderr), "a stage per store layer"
    assert "--option extra-substituters http://127.0.0.1:9" in done.stderr
    assert f"--option extra-trusted-public-keys {key}" in done.stderr
    nixdf(engine_env, "build", str(directory / "Nixfile"), "--nix-image", offline_image,
          "--nixpkgs", str(OFFLINE_PKGS), "--per-path", "-t", cli_ref)
    assert layers_of(engine_env, ref) == layers_of(engine_env, cli_ref)
    assert run(engine_env, ref) == run(engine_env, cli_ref)
    docker(engine_env, "rmi", ref, cli_ref)

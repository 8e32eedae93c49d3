"""The same Dockerfiles built by podman (buildah), run and inspected for real."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from .conftest import LEGACY, OFFLINE_IMAGE, OFFLINE_PKGS, ROOT, client
from .test_examples import nixdf

# podman takes its builder image from Docker 20.10's; it is one more engine, not one per docker.
pytestmark = [pytest.mark.docker, pytest.mark.engines(LEGACY)]

PODMAN_IMAGE = f"localhost/{OFFLINE_IMAGE}"
# podman run needs these limits on these machines (see shared engine notes).
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


@pytest.fixture(scope="module")
def podman_image(engine_env, offline_image) -> str:  # type: ignore[no-untyped-def]
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: apt-get install podman buildah (see .ci/run)")
    saved = subprocess.run([client(engine_env), "save", offline_image], env=engine_env,
                           capture_output=True, check=True).stdout
    subprocess.run(["podman", "load", "-q"], input=saved, capture_output=True, check=True)
    return PODMAN_IMAGE


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True,
                          check=True).stdout


def test_redis_seed_builds_and_runs_under_podman(engine_env, podman_image) -> None:  # type: ignore[no-untyped-def]
    done = nixdf(engine_env, "build", str(ROOT / "examples" / "redis" / "Nixfile"),
                 "--engine", "podman", "--nix-image", podman_image, "--nixpkgs",
                 str(OFFLINE_PKGS), "-t", "nixdf-test/podman-redis")
    assert "building with podman build (Podman " in done.stderr
    output = podman("run", "--rm", *ULIMITS, "nixdf-test/podman-redis")
    assert "redis stand-in: cwd=/data uid=0" in output and "data dir writable" in output
    config = json.loads(podman("image", "inspect", "nixdf-test/podman-redis"))[0]["Config"]
    assert config["Cmd"] == ["/bin/redis-server"] and config["WorkingDir"] == "/data"


def test_layered_image_under_podman(engine_env, podman_image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from .test_examples import example_copy

    nixdf(engine_env, "build", str(example_copy("layered", tmp_path)), "--engine",
          "podman", "--nix-image", podman_image, "--nixpkgs", str(OFFLINE_PKGS))
    assert podman("run", "--rm", *ULIMITS, "nixdf/layered:1.0") == "Hello from nixdf\n"


def test_scripts_on_a_base_image_are_refused_under_podman(engine_env, podman_image) -> None:  # type: ignore[no-untyped-def]
    done = nixdf(engine_env, "build", str(ROOT / "examples" / "hello" / "Nixfile"),
                 "--engine", "podman", "--nix-image", podman_image, "--nixpkgs",
                 str(OFFLINE_PKGS), check=False)
    assert done.returncode == 2
    assert "scripts on a fromImage base cannot run under podman yet" in done.stderr

"""Fixtures: a real engine (started when none answers), the offline builder image,
and one Dockerfile snapshot file per rendered example."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
OFFLINE_PKGS = EXAMPLES / "offline-pkgs"
OFFLINE_IMAGE = "nixdf-offline/nix:latest"
DOCKER = os.environ.get("NIXDF_DOCKER", "/usr/bin/docker")


class DockerfileSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "Dockerfile"


@pytest.fixture
def snapshot_dockerfile(snapshot):  # type: ignore[no-untyped-def]
    return snapshot.use_extension(DockerfileSnapshot)


def example_nixfiles() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*/Nixfile"))


@pytest.fixture(scope="session")
def engine_env() -> dict[str, str]:
    """The environment of a running engine: scripts/engine.sh starts one if none answers."""
    if not Path(DOCKER).exists():
        pytest.fail(f"{DOCKER} is missing: apt-get install docker.io (see .ci/run)")
    out = subprocess.run([str(ROOT / "scripts" / "engine.sh"), "env"], check=True,
                         capture_output=True, text=True).stdout
    env = dict(os.environ)
    for line in out.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'\"")
    env["NIXDF_DOCKER"] = DOCKER
    env["DOCKER_BUILDKIT"] = "1"
    return env


@pytest.fixture(scope="session")
def offline_image(engine_env: dict[str, str]) -> str:
    subprocess.run([str(ROOT / "scripts" / "offline-nix-image.sh"), OFFLINE_IMAGE],
                   check=True, env=engine_env, stdout=subprocess.DEVNULL)
    return OFFLINE_IMAGE


def docker(env: dict[str, str], *args: str, check: bool = True,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                          check=check, input=input)

"""The build commands are pure data: asserted here without running anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixdf.engine import BuildRequest, Engine, build_argv, nixpkgs_image_argv

LEGACY = Engine("/usr/bin/docker", buildx=False, server_version="20.10.24+dfsg1")
BUILDX = Engine("docker", buildx=True, server_version="27.3.1")


def test_legacy_builder_reads_the_dockerfile_on_stdin() -> None:
    request = BuildRequest(Path("/ctx"), "redis", ("redis:dev",))
    assert build_argv(LEGACY, request) == (
        "/usr/bin/docker", "build", "-f", "-", "--target", "redis", "-t", "redis:dev", "/ctx")


def test_buildx_loads_the_image_and_names_the_package_set_context() -> None:
    request = BuildRequest(Path("/ctx"), None, ("a:1", "a:latest"), Path("/pkgs"))
    assert build_argv(BUILDX, request) == (
        "docker", "buildx", "build", "--load", "-f", "-", "-t", "a:1", "-t", "a:latest",
        "--build-context", "nixdf-nixpkgs=/pkgs", "/ctx")


def test_docker_20_10_gets_the_package_set_as_a_local_image() -> None:
    assert nixpkgs_image_argv(LEGACY, Path("/pkgs")) == (
        "/usr/bin/docker", "build", "-q", "-t", "nixdf-nixpkgs", "-f", "-", "/pkgs")


@pytest.mark.parametrize(("engine", "compat"), [
    (LEGACY, True),
    (Engine("docker", buildx=False, server_version="19.03.15"), True),
    (Engine("docker", buildx=False, server_version="24.0.7"), False),
    (Engine("docker", buildx=True, server_version="20.10.24"), False),
])
def test_compat_target_only_for_the_builtin_buildkit_of_old_dockers(engine: Engine,
                                                                   compat: bool) -> None:
    assert engine.wants_compat is compat

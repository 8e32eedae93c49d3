"""The build commands are pure data: asserted here without running anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixdf.engine import (
    BuildRequest,
    Engine,
    PassThrough,
    build_argv,
    build_commands,
    build_env,
    check_supported,
    nixpkgs_image_argv,
    output_commands,
)
from nixdf.errors import UsageError
from nixdf.plan import ExternalSource

LEGACY = Engine("/usr/bin/docker", buildx=False, server_version="20.10.24+dfsg1")
BUILDX = Engine("docker", buildx=True, server_version="27.3.1")
PKGS = ExternalSource("nixdf-nixpkgs:0123abcd", Path("/pkgs"))


def test_legacy_builder_reads_the_dockerfile_on_stdin() -> None:
    request = BuildRequest(Path("/ctx"), "redis", ("redis:dev",))
    assert build_argv(LEGACY, request) == (
        "/usr/bin/docker", "build", "-f", "-", "--target", "redis", "-t", "redis:dev", "/ctx")


def test_buildx_loads_the_image_and_names_the_package_set_context() -> None:
    request = BuildRequest(Path("/ctx"), None, ("a:1", "a:latest"), PKGS)
    assert build_argv(BUILDX, request) == (
        "docker", "buildx", "build", "--load", "-f", "-", "-t", "a:1", "-t", "a:latest",
        "--build-context", "nixdf-nixpkgs:0123abcd=/pkgs", "/ctx")


def test_docker_20_10_gets_the_package_set_as_a_local_image() -> None:
    assert nixpkgs_image_argv(LEGACY, PKGS) == (
        "/usr/bin/docker", "build", "-q", "-t", "nixdf-nixpkgs:0123abcd", "-f", "-", "/pkgs")


def test_the_lock_and_gc_builds_go_to_the_chosen_builder() -> None:
    [lock] = output_commands(BUILDX, Path("/ctx"), Path("/out"), external_nixpkgs=PKGS,
                             secrets=("id=s,src=/s",), builder="remote-ci")
    assert lock.argv == (
        "docker", "buildx", "build", "--builder", "remote-ci", "--secret", "id=s,src=/s",
        "--output", "type=local,dest=/out", "-f", "-",
        "--build-context", "nixdf-nixpkgs:0123abcd=/pkgs", "/ctx")
    [gc] = output_commands(BUILDX, Path("/ctx"), Path("/out"), cached=False, builder="remote-ci")
    assert gc.argv[:6] == ("docker", "buildx", "build", "--builder", "remote-ci", "--no-cache")
    with pytest.raises(UsageError, match="--builder needs docker buildx"):
        output_commands(LEGACY, Path("/ctx"), Path("/out"), builder="remote-ci")


@pytest.mark.parametrize(("engine", "compat"), [
    (LEGACY, True),
    (Engine("docker", buildx=False, server_version="19.03.15"), True),
    (Engine("docker", buildx=False, server_version="24.0.7"), False),
    (Engine("docker", buildx=True, server_version="20.10.24"), False),
])
def test_compat_target_only_for_the_builtin_buildkit_of_old_dockers(engine: Engine,
                                                                   compat: bool) -> None:
    assert engine.wants_compat is compat


EVERYTHING = PassThrough(
    push=True, load=True, platforms=("linux/amd64", "linux/arm64"), builder="ci",
    cache_from=("type=registry,ref=r/c",), cache_to=("type=registry,ref=r/c,mode=max",),
    secrets=("id=netrc,src=/n",), progress="plain", build_args=("A=1",), labels=("l=v",),
    extra=("--network=host",))


def test_buildx_gets_every_option_in_a_stable_order() -> None:
    request = BuildRequest(Path("/ctx"), "app", ("r/app:1",), None, EVERYTHING)
    assert build_argv(BUILDX, request) == (
        "docker", "buildx", "build", "--builder", "ci", "--push", "--load",
        "--platform", "linux/amd64,linux/arm64",
        "--cache-from", "type=registry,ref=r/c", "--cache-to", "type=registry,ref=r/c,mode=max",
        "--secret", "id=netrc,src=/n", "--build-arg", "A=1", "--label", "l=v",
        "--progress", "plain", "-f", "-", "--target", "app", "-t", "r/app:1",
        "--network=host", "/ctx")


def test_buildx_push_alone_does_not_load() -> None:
    request = BuildRequest(Path("/ctx"), None, ("r/app:1",), None, PassThrough(push=True))
    assert "--load" not in build_argv(BUILDX, request)


def test_without_buildx_push_becomes_docker_push_after_the_build() -> None:
    options = PassThrough(push=True, platforms=("linux/amd64",), build_args=("A=1",))
    request = BuildRequest(Path("/ctx"), None, ("r/app:1", "r/app:latest"), PKGS, options)
    commands = build_commands(LEGACY, request)
    assert [c.argv[:3] for c in commands[:2]] == [("/usr/bin/docker", "build", "-q"),
                                                  ("/usr/bin/docker", "build", "--platform")]
    assert commands[0].stdin == "FROM scratch\nCOPY . /\n" and not commands[0].reads_dockerfile
    assert commands[1].reads_dockerfile
    assert [c.argv for c in commands[2:]] == [("/usr/bin/docker", "push", "r/app:1"),
                                             ("/usr/bin/docker", "push", "r/app:latest")]


@pytest.mark.parametrize(("options", "words"), [
    (PassThrough(builder="ci"), "--builder needs docker buildx"),
    (PassThrough(cache_to=("type=local,dest=/c",)), "--cache-to needs docker buildx"),
    (PassThrough(platforms=("linux/amd64", "linux/arm64")), "several --platform values"),
])
def test_what_only_buildx_can_do_is_refused_without_it(options: PassThrough, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        check_supported(LEGACY, options)
    check_supported(BUILDX, options)


PODMAN = Engine("podman", buildx=False, server_version="4.3.1", podman=True)


def test_podman_builds_with_the_compat_target_and_pushes_after() -> None:
    request = BuildRequest(Path("/ctx"), "app", ("r/app:1",), None,
                           PassThrough(push=True, build_args=("A=1",)))
    commands = build_commands(PODMAN, request)
    assert commands[0].argv == ("podman", "build", "--build-arg", "A=1", "-f", "-",
                                "--target", "app", "-t", "r/app:1", "/ctx")
    assert commands[1].argv == ("podman", "push", "r/app:1")
    assert PODMAN.wants_compat and PODMAN.kind == "podman build"


def test_podman_refuses_what_it_lacks() -> None:
    with pytest.raises(UsageError, match="--progress is not available with podman build"):
        check_supported(PODMAN, PassThrough(progress="plain"))


def test_the_created_time_reaches_buildkit_as_source_date_epoch() -> None:
    # No BuildKit 0.11+ runs here (Docker 20.10's ignores the argument): the argv is
    # what can be checked; current BuildKit writes it as the config's created.
    request = BuildRequest(Path("/ctx"), None, ("a:1",), source_date_epoch=1)
    assert build_argv(BUILDX, request)[3:7] == (
        "--load", "--build-arg", "SOURCE_DATE_EPOCH=1", "-f")
    assert "SOURCE_DATE_EPOCH=1" not in build_argv(LEGACY, request)
    now = BuildRequest(Path("/ctx"), None, ("a:1",), source_date_epoch=None)
    assert not any("SOURCE_DATE_EPOCH" in word for word in build_argv(BUILDX, now))
    own = BuildRequest(Path("/ctx"), None, ("a:1",), None,
                       PassThrough(build_args=("SOURCE_DATE_EPOCH=7",)), source_date_epoch=1)
    assert [w for w in build_argv(BUILDX, own) if "SOURCE_DATE_EPOCH" in w] == [
        "SOURCE_DATE_EPOCH=7"]


def test_buildx_builds_without_its_default_attestation(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its provenance holds the build's times: the image digest would change every build.
    monkeypatch.delenv("BUILDX_NO_DEFAULT_ATTESTATIONS", raising=False)
    assert build_env(BUILDX)["BUILDX_NO_DEFAULT_ATTESTATIONS"] == "1"
    assert "BUILDX_NO_DEFAULT_ATTESTATIONS" not in build_env(LEGACY)
    assert build_env(LEGACY)["DOCKER_BUILDKIT"] == "1"
    monkeypatch.setenv("BUILDX_NO_DEFAULT_ATTESTATIONS", "0")  # the user's choice wins
    assert build_env(BUILDX)["BUILDX_NO_DEFAULT_ATTESTATIONS"] == "0"

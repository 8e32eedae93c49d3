"""nixdf gc and the /nix cache mount: collected for real, and builds on it keep working,
one after the other and two at once."""

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path

import pytest

from nixdf import api
from nixdf.api import parse_size
from nixdf.errors import UsageError
from nixdf.render import render_gc, size_text

from .conftest import OFFLINE_PKGS
from .test_examples import build, nixdf, run


@pytest.mark.parametrize(("text", "size"), [
    ("0", 0), ("512", 512), ("1K", 1024), ("500M", 500 * 1024**2), ("2G", 2 * 1024**3),
    ("1.5GiB", int(1.5 * 1024**3)), ("3 tb", 3 * 1024**4),
])
def test_sizes_read_like_du_writes_them(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1", "2X", "1,5G", "G"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="not a size"):
        parse_size(text)


def test_sizes_are_shown_for_people() -> None:
    assert [size_text(n) for n in (0, 1023, 1536, 5 * 1024**3)] == [
        "0 B", "1023 B", "1.5 KiB", "5.0 GiB"]


def test_the_gc_dockerfile_uses_the_cache_of_the_builds() -> None:
    dockerfile = render_gc("nixdf-offline/nix:latest", parse_size("1M"))
    [mount] = re.findall(r"--mount=type=cache,id=(\S+),target=/nix,", dockerfile)
    assert mount.startswith("nixdf-nix-")
    assert "-gt 1024 ]" in dockerfile and "nix-store --gc --max-freed" in dockerfile


def _hello_nixfile(directory: Path, name: str, greeting: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pkgs = directory / "pkgs"
    pkgs.mkdir(exist_ok=True)
    source = (OFFLINE_PKGS / "default.nix").read_text()
    (pkgs / "default.nix").write_text(source.replace('"Hello from nixdf"', f'"{greeting}"'))
    nixfile = directory / "Nixfile"
    nixfile.write_text(f'{{ pkgs, buildImage }}: buildImage {{ name = "nixdf-test/{name}"; '
                       'contents = pkgs.hello; config.Cmd = [ "/bin/hello" ]; }\n')
    return nixfile


@pytest.mark.docker
def test_gc_frees_what_builds_left_and_the_next_build_still_works(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path, monkeypatch) -> None:
    for name, value in engine_env.items():
        monkeypatch.setenv(name, value)
    token = uuid.uuid4().hex[:8]  # a hello no earlier run built: Nix must build it now
    nixfile = _hello_nixfile(tmp_path / "a", "gc", f"Before the gc {token}")
    build(engine_env, offline_image, nixfile, nixpkgs=nixfile.parent / "pkgs")
    untouched = api.gc(api.prepare_gc(offline_image, parse_size("1T")))
    assert untouched.before == untouched.after  # under the size asked for: nothing to collect
    collected = api.gc(api.prepare_gc(offline_image, 0))
    assert collected.before == untouched.after > collected.after
    # The CLI says the same, for people.
    again = nixdf(engine_env, "gc", "--nix-image", offline_image)
    assert f"{size_text(collected.after)} -> " in again.stdout
    # The store lost the hello it had built; a build that needs Nix again rebuilds it.
    nixfile = _hello_nixfile(tmp_path / "a", "gc", f"After the gc {token}")
    build(engine_env, offline_image, nixfile, nixpkgs=nixfile.parent / "pkgs")
    assert run(engine_env, "nixdf-test/gc:latest") == f"After the gc {token}\n"


@pytest.mark.docker
def test_two_builds_at_once_share_one_cache(engine_env, offline_image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    token = uuid.uuid4().hex[:8]  # so that both really run nix-build, not a cached step
    nixfiles = [_hello_nixfile(tmp_path / n, f"twin-{n}", f"Hello from {n} {token}")
                for n in "xy"]
    failures: list[str] = []

    def one(nixfile: Path) -> None:
        done = build(engine_env, offline_image, nixfile, nixpkgs=nixfile.parent / "pkgs",
                     check=False)
        if done.returncode != 0:
            failures.append(done.stderr[-2000:])

    threads = [threading.Thread(target=one, args=(n,)) for n in nixfiles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert run(engine_env, "nixdf-test/twin-x:latest") == f"Hello from x {token}\n"
    assert run(engine_env, "nixdf-test/twin-y:latest") == f"Hello from y {token}\n"


@pytest.mark.docker
def test_a_new_builder_image_gets_a_cache_of_its_own(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    from nixdf.plan import cache_id

    from .conftest import docker

    # Another builder image (here the offline one with a label more): its store is
    # seeded afresh from that image, never mixed with the first one's.
    other = "nixdf-test/other-nix:latest"
    context = tmp_path / "other-image"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {offline_image}\nLABEL nixdf.test=other\n")
    docker(engine_env, "build", "-q", "-t", other, str(context))
    assert cache_id(other) != cache_id(offline_image)
    greeting = f"Hello from the other builder {uuid.uuid4().hex[:8]}"
    nixfile = _hello_nixfile(tmp_path / "b", "other-builder", greeting)
    build(engine_env, other, nixfile, nixpkgs=nixfile.parent / "pkgs")
    assert run(engine_env, "nixdf-test/other-builder:latest") == greeting + "\n"
    build(engine_env, offline_image, nixfile, nixpkgs=nixfile.parent / "pkgs")
    assert run(engine_env, "nixdf-test/other-builder:latest") == greeting + "\n"

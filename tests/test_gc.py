"""nixdf gc and the /nix cache mount: collected for real, and builds on it keep working,
one after the other and two at once."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

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


def _sizes(output: str) -> tuple[str, str]:
    match = re.search(r"cache of \S+: (.+) -> (.+) \((.+) freed\)", output)
    assert match is not None, output
    return match[1], match[2]


@pytest.mark.docker
def test_gc_frees_what_builds_left_and_the_next_build_still_works(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = _hello_nixfile(tmp_path / "a", "gc", "Before the gc")
    build(engine_env, offline_image, nixfile, nixpkgs=nixfile.parent / "pkgs")
    keep_all = nixdf(engine_env, "gc", "--nix-image", offline_image, "--keep", "1T")
    before, after = _sizes(keep_all.stdout)
    assert before == after  # under the size asked for: nothing to collect
    collected = nixdf(engine_env, "gc", "--nix-image", offline_image)
    before, after = _sizes(collected.stdout)
    assert parse_size(after.replace(" ", "")) < parse_size(before.replace(" ", ""))
    # The store lost the hello it had built; a build that needs Nix again rebuilds it.
    nixfile = _hello_nixfile(tmp_path / "a", "gc", "After the gc")
    build(engine_env, offline_image, nixfile, nixpkgs=nixfile.parent / "pkgs")
    assert run(engine_env, "nixdf-test/gc:latest") == "After the gc\n"


@pytest.mark.docker
def test_two_builds_at_once_share_one_cache(engine_env, offline_image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    nixfiles = [_hello_nixfile(tmp_path / n, f"twin-{n}", f"Hello from {n}") for n in "xy"]
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
    assert run(engine_env, "nixdf-test/twin-x:latest") == "Hello from x\n"
    assert run(engine_env, "nixdf-test/twin-y:latest") == "Hello from y\n"

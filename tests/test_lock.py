"""nixdf lock: Nix computes what only it knows (store paths in config and scripts) in the
builder, the lock file keeps it, render uses it, and the image holds what it names.
Real engine, offline builder image and package set."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from .conftest import OFFLINE_PKGS, ROOT
from .test_examples import build, files, nixdf, run

pytestmark = pytest.mark.docker

# No contents at all: the image's closure comes from the store paths config names.
LAYERED = """{ pkgs, buildLayeredImage }:
buildLayeredImage {
  name = "nixdf-test/locked";
  tag = "TAG";
  config.Cmd = [ "${pkgs.hello}/bin/hello" ];
  config.Env = [ "GREETER=${pkgs.hello}" ];
}
"""

SCRIPTED = """{ pkgs, buildImage }:
buildImage {
  name = "nixdf-test/locked-script";
  tag = "TAG";
  runAsRoot = ''
    ${pkgs.busybox}/bin/mkdir -p /data
    ${pkgs.busybox}/bin/echo made by runAsRoot > /data/note
  '';
  config.Cmd = [ "${pkgs.busybox}/bin/cat" "/data/note" ];
}
"""


def _options(offline_image: str) -> tuple[str, ...]:
    return ("--nix-image", offline_image, "--nixpkgs", str(OFFLINE_PKGS))


def test_lock_then_render_names_the_store_paths_and_the_image_runs(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(LAYERED.replace("TAG", tag))
    refused = nixdf(engine_env, "render", str(nixfile), *_options(offline_image), check=False)
    assert refused.returncode == 2 and "nixdf lock" in refused.stderr
    nixdf(engine_env, "lock", str(nixfile), *_options(offline_image))
    lock = json.loads((tmp_path / "Nixfile.lock").read_text())
    [hello] = lock["storePaths"]
    assert hello.startswith("/nix/store/") and hello.endswith("-hello")
    assert lock["images"][""]["config"]["Cmd"] == [f"{hello}/bin/hello"]
    dockerfile = nixdf(engine_env, "render", str(nixfile), *_options(offline_image)).stdout
    assert f'CMD ["{hello}/bin/hello"]' in dockerfile
    assert f'ENV GREETER="{hello}"' in dockerfile
    build(engine_env, offline_image, nixfile)
    ref = f"nixdf-test/locked:{tag}"
    assert run(engine_env, ref) == "Hello from nixdf\n"
    names = files(engine_env, ref)
    assert f"{hello.lstrip('/')}/bin/hello" in names


def test_a_changed_nixfile_needs_a_new_lock_and_build_makes_it(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(SCRIPTED.replace("TAG", tag))
    build(engine_env, offline_image, nixfile)  # no lock yet: build writes it first
    assert (tmp_path / "Nixfile.lock").is_file()
    ref = f"nixdf-test/locked-script:{tag}"
    assert run(engine_env, ref) == "made by runAsRoot\n"
    nixfile.write_text(nixfile.read_text().replace("made by runAsRoot", "made again"))
    stale = nixdf(engine_env, "render", str(nixfile), *_options(offline_image), check=False)
    assert stale.returncode == 2 and "nixdf lock" in stale.stderr  # the old lock is not used
    build(engine_env, offline_image, nixfile)
    assert run(engine_env, ref) == "made again\n"


def test_a_nix_error_while_locking_points_into_the_nixfile(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(LAYERED.replace("pkgs.hello}/bin", "pkgs.helo}/bin"))
    done = nixdf(engine_env, "lock", str(nixfile), *_options(offline_image), check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Nixfile:" in done.stderr and "helo" in done.stderr
    assert not (tmp_path / "Nixfile.lock").exists()


def test_render_ignores_a_lock_made_for_another_package_set(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(LAYERED.replace("TAG", "other"))
    nixdf(engine_env, "lock", str(nixfile), *_options(offline_image))
    other = tmp_path / "pkgs"
    other.mkdir()
    text = (OFFLINE_PKGS / "default.nix").read_text()
    (other / "default.nix").write_text(text.replace("Hello from nixdf", "Hello from elsewhere"))
    done = nixdf(engine_env, "render", str(nixfile), "--nix-image", offline_image,
                 "--nixpkgs", str(other), check=False)
    assert done.returncode == 2 and "nixdf lock" in done.stderr
    # The same files, named from another directory: the same package set, the lock holds.
    same = nixdf(engine_env, "render", str(nixfile), "--nix-image", offline_image,
                 "--nixpkgs", str(OFFLINE_PKGS.relative_to(ROOT)))  # nixdf runs in ROOT
    assert "/nix/store/" in same.stdout


def test_lock_dry_run_prints_the_dockerfile(engine_env, offline_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(LAYERED.replace("TAG", "dry"))
    done = nixdf(engine_env, "lock", str(nixfile), *_options(offline_image), "--dry-run")
    assert "nix-instantiate --eval --strict --json" in done.stdout
    assert not (tmp_path / "Nixfile.lock").exists()


def test_a_name_only_nix_knows_comes_from_the_lock(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\nbuildImage {\n'
                       '  name = "nixdf-test/named-" + pkgs.hello.name;\n'
                       '  tag = "locked"; copyToRoot = pkgs.hello;\n'
                       '  config.Cmd = [ "/bin/hello" ];\n}\n')
    build(engine_env, offline_image, nixfile)  # locks first: only Nix knows hello's name
    assert run(engine_env, "nixdf-test/named-hello:locked") == "Hello from nixdf\n"

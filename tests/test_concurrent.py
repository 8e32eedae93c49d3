"""Builds that run at the same time each see only their own inputs.

Two `nixdf build` processes start together, each with its own package set outside the
build context (Docker 20.10 gets such a set as a local image); each image must hold
its own set's package, never the other's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import LEGACY, OFFLINE_PKGS, ROOT
from .test_examples import run

pytestmark = pytest.mark.docker

NIXFILE = """{ pkgs, buildImage }:
buildImage {
  name = "nixdf-test/race";
  contents = pkgs.hello;
  config.Cmd = [ "/bin/hello" ];
}
"""


def _remove(env: dict[str, str], refs: list[str]) -> None:
    subprocess.run([env["NIXDF_DOCKER"], "rmi", "-f", *refs], env=env, capture_output=True)


def _package_set_images(log: str) -> list[str]:
    """The package-set images a build made: one per content (the single shared name of
    earlier nixdf is counted too, but never removed: it may be another build's)."""
    return re.findall(r"^nixdf: running .* -t (nixdf-nixpkgs(?::[0-9a-f]+)?) ", log, re.MULTILINE)


def _own(refs: list[str]) -> list[str]:
    return [ref for ref in refs if ":" in ref]


def _package_set(where: Path, greeting: str) -> Path:
    """The offline package set, its hello printing ``greeting``."""
    shutil.copytree(OFFLINE_PKGS, where)
    default = where / "default.nix"
    text = default.read_text()
    assert '"Hello from nixdf"' in text
    default.write_text(text.replace('"Hello from nixdf"', f'"{greeting}"', 1))
    return where


@pytest.mark.parametrize("round_", range(3))
def test_two_builds_at_once_with_different_package_sets_each_get_their_own(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path, round_: int) -> None:
    nixfile = tmp_path / "app" / "Nixfile"
    nixfile.parent.mkdir()
    nixfile.write_text(NIXFILE)
    run_id = uuid.uuid4().hex[:12]
    builds = {}
    for name in ("a", "b"):
        greeting = f"set {name} {run_id}"
        pkgs = _package_set(tmp_path / f"pkgs-{name}", greeting)
        tag = f"nixdf-test/race-{name}:{run_id}"
        builds[name] = (greeting, tag, pkgs)
    # Started together: both package sets are prepared while the other build runs.
    procs = {name: subprocess.Popen(
        [sys.executable, "-m", "nixdf", "build", str(nixfile), "--nix-image", offline_image,
         "--nixpkgs", str(pkgs), "-t", tag], env=engine_env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, (_, tag, pkgs) in builds.items()}
    outputs = {name: proc.communicate(timeout=600) for name, proc in procs.items()}
    try:
        for name, proc in procs.items():
            assert proc.returncode == 0, outputs[name][1][-3000:]
        got = {name: run(engine_env, tag).strip() for name, (_, tag, _) in builds.items()}
        assert got == {name: greeting for name, (greeting, _, _) in builds.items()}
    finally:
        made = [ref for _, err in outputs.values() for ref in _own(_package_set_images(err))]
        _remove(engine_env, [tag for _, tag, _ in builds.values()] + made)


LAYERED = """{ pkgs, buildLayeredImage }:
buildLayeredImage {
  name = "nixdf-test/once";
  tag = "TAG";
  contents = pkgs.hello;
  config.Cmd = [ "/bin/hello" ];
}
"""


@pytest.mark.engines(LEGACY)  # buildx takes the set as a named build context: no image
def test_a_layered_build_makes_the_package_set_image_once(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    # It locks, then builds: both need the package set, which is the same image.
    nixfile = tmp_path / "app" / "Nixfile"
    nixfile.parent.mkdir()
    run_id = uuid.uuid4().hex[:12]
    nixfile.write_text(LAYERED.replace("TAG", run_id))
    pkgs = _package_set(tmp_path / "pkgs", f"once {run_id}")
    done = subprocess.run(
        [sys.executable, "-m", "nixdf", "build", str(nixfile), "--nix-image", offline_image,
         "--nixpkgs", str(pkgs)], env=engine_env, cwd=ROOT, capture_output=True, text=True)
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        assert (nixfile.parent / "Nixfile.lock").exists(), "it locked"
        assert len(_package_set_images(done.stderr)) == 1, "made more than once"
        assert run(engine_env, f"nixdf-test/once:{run_id}").strip() == f"once {run_id}"
    finally:
        _remove(engine_env, [f"nixdf-test/once:{run_id}", *_own(_package_set_images(done.stderr))])

"""Every engine run of a build goes to the engine and builder the user chose: the lock, the
package-set image, gc and the build itself, with --builder as with BUILDX_BUILDER."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MODERN, OFFLINE_PKGS, ROOT

LAYERED = """{ pkgs, buildLayeredImage }:
buildLayeredImage {
  name = "nixdf-test/builder";
  config.Cmd = [ "${pkgs.hello}/bin/hello" ];
}
"""

# A buildx client whose builds all fail as buildx's do for a builder it cannot find, after
# writing down their argv.
BUILDX_CLIENT = """#!/bin/sh
case "$1 $2" in
  "version --format") echo "26.1.5 26.1.5"; exit 0 ;;
  "buildx version") echo "github.com/docker/buildx v0.13.1"; exit 0 ;;
esac
echo "$*" >> "$ARGV_LOG"
echo 'ERROR: no builder "far-away" found' >&2
exit 1
"""


def _nixdf(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nixdf", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True)


@pytest.fixture
def buildx_client(tmp_path: Path) -> dict[str, str]:
    client = tmp_path / "bin" / "docker"
    client.parent.mkdir()
    client.write_text(BUILDX_CLIENT)
    client.chmod(0o755)
    return {**os.environ, "NIXDF_DOCKER": str(client), "ARGV_LOG": str(tmp_path / "argv")}


def test_the_lock_a_build_starts_runs_on_its_builder(buildx_client: dict[str, str],
                                                     tmp_path: Path) -> None:
    nixfile = tmp_path / "app" / "Nixfile"
    nixfile.parent.mkdir()
    nixfile.write_text(LAYERED)
    done = _nixdf(buildx_client, "build", str(nixfile), "--builder", "far-away",
                  "--nixpkgs", str(OFFLINE_PKGS), "--compat", "builtin-frontend")
    assert done.returncode == 3, done.stderr
    [lock] = (tmp_path / "argv").read_text().splitlines()
    assert "--output type=local" in lock, "the first engine run is the lock"
    assert lock.startswith("buildx build --builder far-away ")


@pytest.mark.parametrize("command", [["lock", "NIXFILE"], ["gc"]])
def test_lock_and_gc_take_the_builder(buildx_client: dict[str, str], tmp_path: Path,
                                      command: list[str]) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(LAYERED)
    args = [str(nixfile) if word == "NIXFILE" else word for word in command]
    dry = _nixdf(buildx_client, *args, "--builder", "far-away", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert " buildx build --builder far-away " in dry.stdout
    ran = _nixdf(buildx_client, *args, "--builder", "far-away")
    assert ran.returncode == 3, ran.stderr
    assert (tmp_path / "argv").read_text().startswith("buildx build --builder far-away ")


@pytest.mark.docker
@pytest.mark.engines(MODERN)  # builders are buildx's
@pytest.mark.parametrize("how", ["--builder", "BUILDX_BUILDER"])
def test_no_engine_run_reaches_another_builder(engine_env: dict[str, str], offline_image: str,
                                               tmp_path: Path, how: str) -> None:
    # A builder that does not exist: every run that honours the choice fails at once, and
    # one that went to the default builder instead would lock, and write the lock file.
    nixfile = tmp_path / "app" / "Nixfile"
    nixfile.parent.mkdir()
    nixfile.write_text(LAYERED)
    env, extra = dict(engine_env), []
    env.pop("BUILDX_BUILDER", None)
    if how == "--builder":
        extra = ["--builder", "nixdf-test-no-such-builder"]
    else:
        env["BUILDX_BUILDER"] = "nixdf-test-no-such-builder"
    done = _nixdf(env, "build", str(nixfile), "--nix-image", offline_image,
                  "--nixpkgs", str(OFFLINE_PKGS), *extra)
    assert done.returncode == 3, done.stderr
    assert 'no builder "nixdf-test-no-such-builder" found' in done.stderr
    assert not (nixfile.parent / "Nixfile.lock").exists(), "the lock ran on another builder"

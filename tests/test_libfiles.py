"""nixdf.libfiles: the .nixdf/ files a Dockerfile's steps run, written beside the Nixfile."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nixdf import parse
from nixdf.cli import app
from nixdf.errors import UsageError
from nixdf.libfiles import FILES, LIB_DIR, lib_files, stale_lib_files, write_lib

from .conftest import MODERN, OFFLINE_PKGS, ROOT, client, docker, engine_name

NIXFILE = '{ pkgs, buildImage }: { app = buildImage { name = "app"; contents = pkgs.hello; }; }\n'


@pytest.mark.parametrize("name", [name for name in FILES if name.endswith(".nix")])
def test_the_nix_files_parse_as_nix(name: str) -> None:
    parse(lib_files()[name].decode(), name)


def test_the_shell_file_is_plain_sh() -> None:
    done = subprocess.run(["sh", "-n"], input=lib_files()["lib.sh"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


def test_written_once_and_only_what_differs(tmp_path: Path) -> None:
    written = write_lib(tmp_path)
    assert sorted(path.name for path in written) == sorted(FILES)
    for name in FILES:
        assert (tmp_path / LIB_DIR / name).read_bytes() == lib_files()[name]
    assert write_lib(tmp_path) == [], "current files are left alone"
    (tmp_path / LIB_DIR / "lib.sh").write_text("echo edited\n")
    assert stale_lib_files(tmp_path) == [tmp_path / LIB_DIR / "lib.sh"]
    assert write_lib(tmp_path) == [tmp_path / LIB_DIR / "lib.sh"]
    assert sorted(p.name for p in (tmp_path / LIB_DIR).iterdir()) == sorted(FILES), \
        "no temporary file is left behind"


def test_a_place_that_cannot_hold_it_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / LIB_DIR).write_text("a file, not a directory\n")
    with pytest.raises(UsageError) as caught:
        write_lib(tmp_path)
    assert str(tmp_path / LIB_DIR / FILES[0]) in str(caught.value)
    assert "build context" in str(caught.value.hint)


def test_render_and_sync_keep_it_beside_the_dockerfile(tmp_path: Path) -> None:
    runner = CliRunner()
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(NIXFILE)
    out = tmp_path / "Dockerfile"
    assert runner.invoke(app, ["render", str(nixfile), "-o", str(out)]).exit_code == 0
    assert stale_lib_files(tmp_path) == []
    assert runner.invoke(app, ["sync", str(nixfile), "--check"]).exit_code == 0
    (tmp_path / LIB_DIR / "lib.nix").unlink()
    stale = runner.invoke(app, ["sync", str(nixfile), "--check"])
    assert stale.exit_code == 1
    assert f"{tmp_path / LIB_DIR / 'lib.nix'} is missing or not this nixdf's" in stale.output
    assert not (tmp_path / LIB_DIR / "lib.nix").exists(), "--check writes nothing"
    assert runner.invoke(app, ["render", str(nixfile), "-o", str(out), "--check"]).exit_code == 1
    assert runner.invoke(app, ["sync", str(nixfile)]).exit_code == 0
    assert stale_lib_files(tmp_path) == []


@pytest.mark.docker
def test_a_rendered_dockerfile_builds_with_the_engine_alone(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    # What a user commits: the Nixfile, its Dockerfile and .nixdf/, with the package set in
    # the context. The engine builds it with no nixdf in the way.
    shutil.copy(ROOT / "examples" / "redis" / "Nixfile", tmp_path / "Nixfile")
    shutil.copytree(OFFLINE_PKGS, tmp_path / "pkgs")
    modern = engine_name(engine_env) == MODERN
    compat = ["--compat", "builtin-frontend" if modern else "docker-20.10"]
    subprocess.run([sys.executable, "-m", "nixdf", "render", "-o", "Dockerfile", "--nixpkgs",
                    "pkgs", "--nix-image", offline_image, *compat], cwd=tmp_path, check=True,
                   env=engine_env)
    assert (tmp_path / LIB_DIR / "lib.nix").exists()
    ref = f"nixdf-test/libfiles-{engine_name(engine_env)}:1"
    build = ["buildx", "build", "--load"] if modern else ["build"]
    subprocess.run([client(engine_env), *build, "-t", ref, "."], cwd=tmp_path, check=True,
                   env=engine_env, capture_output=True)
    assert "redis stand-in: cwd=/data" in docker(engine_env, "run", "--rm", ref).stdout

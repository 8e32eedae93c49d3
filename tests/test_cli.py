"""The command line: exit codes, nothing on stdout on error, messages a person can act on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nixdf.cli import app

from .conftest import ROOT

BAD_NIXFILES = {
    "missing-semicolon": '{ img = buildImage {\n  name = "x"\n  tag = "1";\n}; }\n',
    "cmd-string-with-spaces":
        'buildImage {\n  name = "x";\n  config.Cmd = "redis-server --port 1";\n}\n',
    "label-name-with-equals":
        'buildImage {\n  name = "x";\n  config.Labels = { "a=b" = "c"; };\n}\n',
    "unknown-argument": 'buildImage {\n  name = "x";\n  confg = { };\n}\n',
    "config-key-typo": 'buildImage {\n  name = "x";\n  config = { WorkDir = "/data"; };\n}\n',
    "store-path-in-cmd": '{ pkgs, buildImage }:\nbuildImage {\n  name = "x";\n'
                         '  config.Cmd = [ "${pkgs.hello}/bin/hello" ];\n}\n',
    "undefined-variable": 'buildImage {\n  name = nmae;\n}\n',
    "no-image": '{ pkgs }:\n{ hello = pkgs.hello; }\n',
    "newline-in-env": 'buildImage {\n  name = "x";\n  config.Env = [ "A=1\\n2" ];\n}\n',
    "layered-argument-of-build-image":
        'buildImage {\n  name = "x";\n  fakeRootCommands = "chown 1 /a";\n}\n',
    "bad-name": 'buildImage { name = "Not A Name"; }\n',
    "unterminated-string": 'buildImage {\n  name = "x;\n}\n',
    "healthcheck-test-form":
        'buildImage {\n  name = "x";\n  config.Healthcheck.Test = [ "curl" "-f" ];\n}\n',
    "pull-image-digest":
        '{ pkgs, buildImage }:\nbuildImage {\n  name = "x";\n  fromImage = pkgs.dockerTools.'
        'pullImage { imageName = "debian"; imageDigest = "latest"; };\n}\n',
    "onbuild-continues":
        'buildImage {\n  name = "x";\n  config.OnBuild = [ "RUN echo \\\\" ];\n}\n',
    "onbuild-from": 'buildImage {\n  name = "x";\n  config.OnBuild = [ "FROM debian" ];\n}\n',
    "compressor-unknown": 'buildLayeredImage {\n  name = "x";\n  compressor = "bzip2";\n}\n',
    "created-not-a-time": 'buildImage {\n  name = "x";\n  created = "yesterday";\n}\n',
    "uid-of-build-image": 'buildImage {\n  name = "x";\n  uid = 1000;\n}\n',
    "max-layers-too-few": 'buildLayeredImage {\n  name = "x";\n  maxLayers = 1;\n}\n',
    "contents-item-string": '{ pkgs, buildImage }:\nbuildImage {\n  name = "x";\n'
                            '  contents = [ pkgs.hello "/etc" ];\n}\n',
    "copy-to-root-set": '{ pkgs, buildImage }:\nbuildImage {\n  name = "x";\n'
                        '  copyToRoot = { inherit (pkgs) hello; };\n}\n',
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("case", sorted(BAD_NIXFILES))
def test_bad_nixfile_is_located_and_exits_2(case: str, tmp_path: Path, runner: CliRunner,
                                            monkeypatch: pytest.MonkeyPatch, snapshot) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    Path("Nixfile").write_text(BAD_NIXFILES[case])
    Path("Dockerfile").write_text("old\n")
    result = runner.invoke(app, ["render", "-o", "Dockerfile"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Nixfile:"), result.stderr
    assert "Traceback" not in result.stderr
    assert "^" in result.stderr
    assert Path("Dockerfile").read_text() == "old\n", "nothing is written on failure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile", "Nixfile"]
    assert result.stderr == snapshot


def test_missing_nixfile(tmp_path: Path, runner: CliRunner,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["render"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error: Nixfile: no such Nixfile"


def test_render_to_stdout_and_to_file_agree(tmp_path: Path, runner: CliRunner) -> None:
    nixfile = str(ROOT / "examples" / "redis" / "Nixfile")
    printed = runner.invoke(app, ["render", nixfile])
    assert printed.exit_code == 0, printed.stderr
    out = tmp_path / "Dockerfile"
    written = runner.invoke(app, ["render", nixfile, "-o", str(out)])
    assert written.exit_code == 0 and written.stdout == ""
    assert out.read_text() == printed.stdout


def test_unknown_compat_target_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["render", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "--compat", "docker-19"])
    assert result.exit_code == 2
    assert "unknown target" in result.stderr


def test_missing_engine_is_one_line_and_exit_3(runner: CliRunner,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIXDF_DOCKER", "/nonexistent/docker")
    result = runner.invoke(app, ["build", str(ROOT / "examples" / "redis" / "Nixfile")])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "install Docker" in result.stderr


def test_every_command_has_an_example_in_help(runner: CliRunner) -> None:
    for command in ("render", "build", "gc"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Example:" in result.stdout


def test_engine_that_does_not_answer_is_one_line_and_exit_3(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NIXDF_DOCKER", "/usr/bin/docker")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody-listens.sock")
    result = runner.invoke(app, ["build", str(ROOT / "examples" / "redis" / "Nixfile")])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "does not answer" in result.stderr


def test_render_check_passes_when_fresh_and_shows_a_diff_when_stale(
        tmp_path: Path, runner: CliRunner) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('buildImage { name = "x"; config.WorkingDir = "/a"; }\n')
    out = tmp_path / "Dockerfile"
    assert runner.invoke(app, ["render", str(nixfile), "-o", str(out)]).exit_code == 0
    fresh = runner.invoke(app, ["render", str(nixfile), "-o", str(out), "--check"])
    assert (fresh.exit_code, fresh.stdout) == (0, "")
    nixfile.write_text('buildImage { name = "x"; config.WorkingDir = "/b"; }\n')
    before = out.read_text()
    stale = runner.invoke(app, ["render", str(nixfile), "-o", str(out), "--check"])
    assert stale.exit_code == 1
    assert '-WORKDIR "/a"\n+WORKDIR "/b"\n' in stale.stdout
    assert "is out of date" in stale.stderr
    assert out.read_text() == before


def test_check_needs_a_file(runner: CliRunner) -> None:
    result = runner.invoke(app, ["render", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "--check"])
    assert result.exit_code == 2 and "-o FILE" in result.stderr


def test_sync_writes_each_dockerfile_beside_its_nixfile(tmp_path: Path,
                                                      runner: CliRunner) -> None:
    nixfiles = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        nixfile = tmp_path / name / "Nixfile"
        nixfile.write_text(f'buildImage {{ name = "{name}"; }}\n')
        nixfiles.append(str(nixfile))
    written = runner.invoke(app, ["sync", *nixfiles, "--name", "Containerfile"])
    assert written.exit_code == 1, "it changed files"
    assert (tmp_path / "a" / "Containerfile").read_text().count("FROM scratch AS a") == 1
    again = runner.invoke(app, ["sync", *nixfiles, "--name", "Containerfile"])
    assert again.exit_code == 0 and again.stderr == ""
    checked = runner.invoke(app, ["sync", "--check", *nixfiles, "--name", "Containerfile"])
    assert checked.exit_code == 0


MODERN_CLIENT_WITHOUT_BUILDX = """#!/bin/sh
case "$1" in
  version) echo "28.2.2 20.10.24"; exit 0 ;;
  buildx) echo "docker: unknown command: docker buildx" >&2; exit 1 ;;
esac
echo "ERROR: BuildKit is enabled but the buildx component is missing or broken." >&2
exit 1
"""


@pytest.fixture
def shim_dir(tmp_path: Path) -> Path:
    shim = tmp_path / "shim" / "docker"
    shim.parent.mkdir()
    shim.write_text(MODERN_CLIENT_WITHOUT_BUILDX)
    shim.chmod(0o755)
    return shim.parent


@pytest.mark.docker
def test_a_client_that_cannot_use_buildkit_is_passed_over(
        shim_dir: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
        engine_env: dict[str, str]) -> None:
    monkeypatch.delenv("NIXDF_DOCKER", raising=False)
    monkeypatch.setenv("DOCKER_HOST", engine_env["DOCKER_HOST"])
    monkeypatch.setenv("PATH", f"{shim_dir}:/usr/bin:/bin")
    result = runner.invoke(app, ["build", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "| DOCKER_BUILDKIT=1 /usr/bin/docker build -f - " in result.stdout
    per_path = runner.invoke(app, ["build", str(ROOT / "examples" / "layered" / "Nixfile"),
                                   "--per-path", "--dry-run"])
    assert per_path.exit_code == 0, per_path.stderr
    assert " --per-path | " in per_path.stdout  # the render it prints is the one it builds


def test_only_a_client_that_cannot_use_buildkit_is_one_line_and_exit_3(
        shim_dir: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NIXDF_DOCKER", raising=False)
    monkeypatch.setenv("PATH", str(shim_dir))
    result = runner.invoke(app, ["build", str(ROOT / "examples" / "redis" / "Nixfile")])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "buildx plugin is missing" in result.stderr


def test_auto_uses_podman_when_there_is_no_docker_client(
        tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    podman = shutil.which("podman")
    if podman is None:
        pytest.fail("podman is missing: apt-get install podman buildah (see .ci/run)")
    only_podman = tmp_path / "bin"
    only_podman.mkdir()
    (only_podman / "podman").symlink_to(podman)
    monkeypatch.delenv("NIXDF_DOCKER", raising=False)
    monkeypatch.setenv("PATH", str(only_podman))
    result = runner.invoke(app, ["build", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "| podman build -f - -t redis:latest " in result.stdout

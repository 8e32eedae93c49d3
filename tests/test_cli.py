"""The command line: exit codes, nothing on stdout on error, messages a person can act on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nixdf.cli import app

from .conftest import OFFLINE_PKGS, ROOT

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


# --- ordinary mistakes: exit 2 with the path and the reason, never a traceback -------------

def _refused(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_nixfile_that_is_not_utf8_is_located(tmp_path: Path, runner: CliRunner,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("Nixfile").write_bytes(b'buildImage {\n  name = "x";\n'
                                b'  config.Env = [ "A=caf\xe9" ];\n}\n')
    result = runner.invoke(app, ["render", "-o", "Dockerfile"])
    _refused(result, "Nixfile:3:24: error: byte 0xe9 is not UTF-8 text", "iconv")
    assert result.stderr.splitlines()[2] == " " * 27 + "^"
    assert not Path("Dockerfile").exists()


def test_an_imported_file_that_is_not_utf8_is_located(tmp_path: Path,
                                                     runner: CliRunner) -> None:
    (tmp_path / "env.nix").write_bytes(b'[\n  "A=\xff"\n]\n')
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('buildImage { name = "x"; config.Env = import ./env.nix; }\n')
    _refused(runner.invoke(app, ["render", str(nixfile)]),
             "env.nix:2:6: error: byte 0xff is not UTF-8 text")


def test_render_into_a_folder_that_does_not_exist(tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "missing" / "Dockerfile"
    result = runner.invoke(app, ["render", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "-o", str(out)])
    _refused(result, str(out), "No such file or directory", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_render_onto_a_directory(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["render", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "-o", str(tmp_path)])
    _refused(result, str(tmp_path), "is a directory")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_only_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A tmpfs mounted read-only (root ignores file modes, not a read-only mount), holding
    a Nixfile and an old Dockerfile."""
    import subprocess

    where = tmp_path / "ro"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "nixdf-test", str(where)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (where / "Nixfile").write_text('buildImage { name = "x"; }\n')
        (where / "Dockerfile").write_text("old\n")
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_render_onto_a_read_only_file_system(read_only_dir: Path, runner: CliRunner) -> None:
    out = read_only_dir / "Dockerfile"
    result = runner.invoke(app, ["render", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "-o", str(out)])
    _refused(result, str(out), "Read-only file system")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in read_only_dir.iterdir()) == ["Dockerfile", "Nixfile"]


def test_sync_in_a_read_only_folder(read_only_dir: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["sync", str(read_only_dir / "Nixfile")])
    _refused(result, str(read_only_dir / "Dockerfile"), "Read-only file system")
    assert (read_only_dir / "Dockerfile").read_text() == "old\n"


# --- sync goes on past a broken Nixfile --------------------------------------------------

def test_sync_renders_every_nixfile_and_reports_every_error(tmp_path: Path,
                                                           runner: CliRunner) -> None:
    texts = {"a": 'buildImage { name = "a"; }\n', "b": 'buildImage { name = "b" }\n',
             "c": 'buildImage { name = "c"; }\n', "d": 'buildImage { nme = "d"; }\n'}
    for name, text in texts.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "Nixfile").write_text(text)
    nixfiles = [str(tmp_path / name / "Nixfile") for name in ("b", "a", "d", "c")]
    result = runner.invoke(app, ["sync", *nixfiles])
    assert result.exit_code == 2, result.output
    assert "FROM scratch AS a" in (tmp_path / "a" / "Dockerfile").read_text()
    assert "FROM scratch AS c" in (tmp_path / "c" / "Dockerfile").read_text()
    assert not (tmp_path / "b" / "Dockerfile").exists()
    assert "b/Nixfile:1:25: error:" in result.stderr and "d/Nixfile:1:" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"nixdf: 2 of 4 Nixfiles failed: {nixfiles[0]}, {nixfiles[2]}")
    checked = runner.invoke(app, ["sync", "--check", *nixfiles])
    assert checked.exit_code == 2 and checked.stdout == ""


# --- commands nixdf suggests run as printed ------------------------------------------------

def _run_printed(runner: CliRunner, stderr: str) -> None:
    """Run the command between backticks that the last line of ``stderr`` suggests."""
    import shlex

    command = shlex.split(stderr.splitlines()[-1].split("`")[1])
    assert command[0] == "nixdf"
    done = runner.invoke(app, command[1:])
    assert done.exit_code in (0, 1), done.output


def test_render_check_suggests_the_options_it_was_given(tmp_path: Path,
                                                       runner: CliRunner) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('buildImage { name = "x"; }\n')
    out = tmp_path / "Dockerfile"
    out.write_text("old\n")
    given = ["--compat", "docker-20.10", "--nixpkgs", str(OFFLINE_PKGS)]
    stale = runner.invoke(app, ["render", str(nixfile), "-o", str(out), "--check", *given])
    assert stale.exit_code == 1
    assert f"run `nixdf render {nixfile} -o {out} --nixpkgs {OFFLINE_PKGS} --compat " \
           "docker-20.10`" in stale.stderr
    _run_printed(runner, stale.stderr)
    again = runner.invoke(app, ["render", str(nixfile), "-o", str(out), "--check", *given])
    assert again.exit_code == 0, again.output


def test_sync_check_suggests_the_options_it_was_given(tmp_path: Path,
                                                     runner: CliRunner) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('buildImage { name = "x"; }\n')
    given = ["--name", "Containerfile", "--compat", "docker-20.10"]
    stale = runner.invoke(app, ["sync", "--check", str(nixfile), *given])
    assert stale.exit_code == 1
    assert f"run `nixdf sync {nixfile} --name Containerfile --compat docker-20.10`" \
        in stale.stderr
    _run_printed(runner, stale.stderr)
    assert runner.invoke(app, ["sync", "--check", str(nixfile), *given]).exit_code == 0


NEEDS_LOCK = 'buildImage { name = "x"; config.Cmd = [ "${pkgs.hello}/bin/hello" ]; }\n'


def test_a_missing_lock_is_made_by_the_command_printed(tmp_path: Path,
                                                      runner: CliRunner) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(NEEDS_LOCK)
    result = runner.invoke(app, ["render", str(nixfile), "--nixpkgs", str(OFFLINE_PKGS),
                                 "--nix-image", "example.org/nix:1"])
    assert result.exit_code == 2
    assert f"{nixfile}.lock does not exist: run `nixdf lock {nixfile} --nix-image " \
           f"example.org/nix:1 --nixpkgs {OFFLINE_PKGS}`" in result.stderr


def test_a_lock_for_other_input_is_not_called_missing(tmp_path: Path,
                                                     runner: CliRunner) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(NEEDS_LOCK)
    (tmp_path / "Nixfile.lock").write_text('{"version": 2, "key": "other", "images": {}}\n')
    result = runner.invoke(app, ["render", str(nixfile)])
    assert result.exit_code == 2
    assert f"{nixfile}.lock was made for other input" in result.stderr
    assert "does not exist" not in result.stderr


# --- build's checks, and what it passes on -----------------------------------------------

DOCKER_20_10_CLIENT = """#!/bin/sh
case "$1" in
  version) echo "20.10.24 20.10.24"; exit 0 ;;
  buildx) exit 1 ;;
esac
exit 1
"""


@pytest.fixture
def old_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A docker 20.10 client that answers `version`: enough for --dry-run, no engine."""
    shim = tmp_path / "old-docker" / "docker"
    shim.parent.mkdir()
    shim.write_text(DOCKER_20_10_CLIENT)
    shim.chmod(0o755)
    monkeypatch.setenv("NIXDF_DOCKER", str(shim))
    return shim


def test_build_no_cache_reaches_the_build_command(old_docker: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["build", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "--dry-run", "--no-cache"])
    assert result.exit_code == 0, result.output
    [build] = [line for line in result.stdout.splitlines() if f"{old_docker} build" in line]
    assert " --no-cache " in build


@pytest.mark.parametrize("tag", ["My App:1", "app:.1", "app@sha256:" + "0" * 64,
                                 "app:" + "x" * 129])
def test_a_tag_on_the_command_line_is_checked(tag: str, old_docker: Path,
                                             runner: CliRunner) -> None:
    result = runner.invoke(app, ["build", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "--dry-run", "-t", tag])
    _refused(result, f"-t {tag}: not an image name and tag")


def test_a_good_tag_on_the_command_line_is_used(old_docker: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["build", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "--dry-run", "-t", "registry.example.com:5000/team/redis:1.0"])
    assert result.exit_code == 0, result.output
    assert " -t registry.example.com:5000/team/redis:1.0 " in result.stdout


def test_the_nixfile_is_checked_before_the_engine(tmp_path: Path, runner: CliRunner,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIXDF_DOCKER", "/nonexistent/docker")
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('buildImage { name = "x" }\n')
    for command in (["build", str(nixfile), "--dry-run"], ["build", str(nixfile)]):
        _refused(runner.invoke(app, command), f"{nixfile}:1:")
    nixfile.write_text(NEEDS_LOCK)
    _refused(runner.invoke(app, ["build", str(nixfile), "--dry-run"]), "must be known before")
    _refused(runner.invoke(app, ["build", str(ROOT / "examples" / "redis" / "Nixfile"),
                                 "--dry-run", "-t", "Bad Tag"]), "-t Bad Tag")
    nixfile.write_text('buildImage { name = "x" }\n')
    _refused(runner.invoke(app, ["lock", str(nixfile), "--dry-run"]), f"{nixfile}:1:")


def test_a_directory_stands_for_its_nixfile(tmp_path: Path, runner: CliRunner,
                                           old_docker: Path) -> None:
    example = ROOT / "examples" / "redis"
    by_file = runner.invoke(app, ["render", str(example / "Nixfile")])
    by_dir = runner.invoke(app, ["render", str(example)])
    assert by_dir.exit_code == 0, by_dir.output
    assert by_dir.stdout == by_file.stdout
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "Nixfile").write_text('buildImage { name = "svc"; }\n')
    synced = runner.invoke(app, ["sync", str(tmp_path / "svc")])
    assert synced.exit_code == 1, synced.output
    assert "FROM scratch AS svc" in (tmp_path / "svc" / "Dockerfile").read_text()
    built = runner.invoke(app, ["build", str(example), "--dry-run"])
    assert built.exit_code == 0, built.output


def test_version(runner: CliRunner) -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"nixdf {version('nixdf')}\n")


@pytest.mark.parametrize("command", ["render", "sync", "build", "lock", "gc"])
def test_help_shows_each_default_once(command: str, runner: CliRunner) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for line in result.stdout.splitlines():
        assert line.lower().count("default") <= 1, line

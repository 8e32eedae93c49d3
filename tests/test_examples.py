"""Every example, built for real with BuildKit from the offline builder image and
package set, then run and inspected. No part of the engine is mocked."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from .conftest import (
    BUILD_COMMAND,
    LEGACY,
    OFFLINE_IMAGE,
    OFFLINE_PKGS,
    ROOT,
    client,
    docker,
    engine_name,
    saved_layers,
)

pytestmark = pytest.mark.docker


def nixdf(env: dict[str, str] | None, *args: str,
          check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "nixdf", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"nixdf {' '.join(args)} failed ({done.returncode}):\n"
                             f"{done.stderr[-4000:]}")
    return done


def build(env: dict[str, str], image: str, nixfile: Path, *extra: str,
          nixpkgs: Path = OFFLINE_PKGS, check: bool = True) -> subprocess.CompletedProcess[str]:
    return nixdf(env, "build", str(nixfile), "--nix-image", image, "--nixpkgs", str(nixpkgs),
                 *extra, check=check)


def config(env: dict[str, str], ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(docker(env, "image", "inspect", ref).stdout)[0]["Config"]


def files(env: dict[str, str], ref: str) -> dict[str, tarfile.TarInfo]:
    container = docker(env, "create", ref, "/none").stdout.strip()
    try:
        tar = subprocess.run([client(env), "export",
                              container], env=env, capture_output=True, check=True).stdout
    finally:
        docker(env, "rm", container)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return {m.name.rstrip("/"): m for m in archive.getmembers()}


def layer_files(env: dict[str, str], ref: str) -> list[str]:
    """Every path in the image's layers, as `docker save` writes them (no runtime files)."""
    return [name for layer in saved_layers(env, ref) for name in layer]


def layers(env: dict[str, str], ref: str) -> list[str]:
    return json.loads(docker(env, "image", "inspect", ref).stdout)[0]["RootFS"]["Layers"]


def run(env: dict[str, str], ref: str, *args: str) -> str:
    return docker(env, "run", "--rm", ref, *args).stdout


@pytest.mark.parametrize("example", ["redis", "buildkit"])
def test_seed_redis_nixfiles(example: str, engine_env, offline_image) -> None:  # type: ignore[no-untyped-def]
    done = build(engine_env, offline_image, ROOT / "examples" / example / "Nixfile",
                 "-t", f"nixdf-test/{example}:e2e")
    assert f"building with {BUILD_COMMAND[engine_name(engine_env)]}" in done.stderr
    ref = f"nixdf-test/{example}:e2e"
    output = run(engine_env, ref)
    assert "redis stand-in: cwd=/data uid=0" in output
    assert "data dir writable" in output
    cfg = config(engine_env, ref)
    assert cfg["Cmd"] == ["/bin/redis-server"]
    assert cfg["WorkingDir"] == "/data"
    assert cfg["Volumes"] == {"/data": {}}
    tree = files(engine_env, ref)
    assert tree["bin/redis-server"].isfile(), "contents = pkgs.redis is copied into the root"
    assert tree["data"].isdir(), "runAsRoot made /data"
    store = [n for n in tree if n.startswith("nix/store/") and n.count("/") == 2]
    assert any(n.endswith("-redis-server") for n in store)
    assert all(tree[n].mtime == 1 for n in store), "store paths keep mtime 1"
    assert tree["nix/store"].mode & 0o777 == 0o555
    top_level = sorted({n.split("/")[0] for n in layer_files(engine_env, ref)})
    assert top_level == ["bin", "data", "nix"], "nothing of the builder or the RUN stays"
    assert not [n for n in layer_files(engine_env, ref) if n.startswith("nix/.nixdf")]


def test_two_images_targets_and_dirlinks(engine_env, offline_image) -> None:  # type: ignore[no-untyped-def]
    nixfile = ROOT / "examples" / "hello" / "Nixfile"
    build(engine_env, offline_image, nixfile)
    assert run(engine_env, "nixdf/hello:1.0") == "Hello from nixdf\n"
    hello = config(engine_env, "nixdf/hello:1.0")
    assert hello["Entrypoint"] == ["/bin/hello"]
    assert hello["User"] == "65534:65534"
    assert hello["StopSignal"] == "SIGINT"
    assert hello["ExposedPorts"] == {"8080/tcp": {}}
    assert "GREETING_LANG=en" in hello["Env"]
    assert hello["Labels"]["org.opencontainers.image.version"] == "1.0"
    tree = files(engine_env, "nixdf/hello:1.0")
    assert tree["bin"].isdir() and tree["bin/hello"].isfile(), (
        "a symlinked directory in copyToRoot becomes a real one, as buildImage's rsync -k")
    assert run(engine_env, "nixdf/hello-shell:1.0") == "hello-shell\nHello from nixdf\n"
    # Its extraCommands ran as root; it runs as the user of hello, its base.
    assert config(engine_env, "nixdf/hello-shell:1.0")["User"] == "65534:65534"


def test_target_dry_run_and_unknown_target(engine_env, offline_image) -> None:  # type: ignore[no-untyped-def]
    nixfile = ROOT / "examples" / "hello" / "Nixfile"
    done = build(engine_env, offline_image, nixfile, "--target", "shell", "--dry-run")
    assert "--target shell" in done.stdout and "-t nixdf/hello-shell:1.0" in done.stdout
    lines = done.stdout.splitlines()
    if engine_name(engine_env) == LEGACY:
        # No named build contexts on 20.10: the package set outside the context is an image.
        assert lines[0].startswith("printf 'FROM scratch\\nCOPY . /\\n' | DOCKER_BUILDKIT=1 ")
        assert len(lines) == 2 and lines[1].startswith("nixdf render ")
    else:
        assert len(lines) == 1 and lines[0].startswith("nixdf render ")
        assert re.search(f" --build-context nixdf-nixpkgs:[0-9a-f]{{32}}={OFFLINE_PKGS} ", lines[0])
    bad = build(engine_env, offline_image, nixfile, "--target", "nope", check=False)
    assert bad.returncode == 2 and "no such image" in bad.stderr


def test_rebuilds_after_the_cache_mount_was_pruned(engine_env, offline_image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }: buildImage { name = "nixdf-test/prune"; '
                       'contents = pkgs.hello; config.Cmd = [ "/bin/hello" ]; }\n')
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    source = (OFFLINE_PKGS / "default.nix").read_text()
    (pkgs / "default.nix").write_text(source)
    build(engine_env, offline_image, nixfile, nixpkgs=pkgs)
    assert run(engine_env, "nixdf-test/prune:latest") == "Hello from nixdf\n"
    docker(engine_env, "builder", "prune", "-f", "--filter", "type=exec.cachemount")
    build(engine_env, offline_image, nixfile, nixpkgs=pkgs)
    assert run(engine_env, "nixdf-test/prune:latest") == "Hello from nixdf\n"
    (pkgs / "default.nix").write_text(source.replace('"Hello from nixdf"', '"Hello again"'))
    docker(engine_env, "builder", "prune", "-f", "--filter", "type=exec.cachemount")
    build(engine_env, offline_image, nixfile, nixpkgs=pkgs)
    assert run(engine_env, "nixdf-test/prune:latest") == "Hello again\n"


def test_a_nix_error_in_the_builder_points_into_the_nixfile(engine_env, offline_image,  # type: ignore[no-untyped-def]
                                                            tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\nbuildImage {\n  name = "t/typo";\n'
                       '  contents = pkgs.helo;\n}\n')
    done = build(engine_env, offline_image, nixfile, check=False)
    assert done.returncode == 2
    message = done.stderr[done.stderr.rindex(f"{nixfile}:4:14:"):]
    assert message.splitlines() == [
        f"{nixfile}:4:14: error: Nix: attribute 'helo' missing",
        "      contents = pkgs.helo;",
        "                 ^",
        "  hint: Did you mean hello?",
    ]


def test_build_options_pass_through_to_a_real_build(engine_env, offline_image) -> None:  # type: ignore[no-untyped-def]
    nixfile = ROOT / "examples" / "redis" / "Nixfile"
    done = build(engine_env, offline_image, nixfile, "-t", "nixdf-test/pass:1",
                 "--label", "org.example.built-by=nixdf", "--build-arg", "UNUSED=1",
                 "--progress", "plain", "--", "--network=none")
    assert "--network=none" in done.stderr
    labels = config(engine_env, "nixdf-test/pass:1")["Labels"]
    assert labels == {"org.example.built-by": "nixdf"}


def test_layers_are_identical_across_clean_builds(engine_env, offline_image) -> None:  # type: ignore[no-untyped-def]
    nixfile = ROOT / "examples" / "redis" / "Nixfile"
    built = []
    for round_ in (1, 2):
        docker(engine_env, "builder", "prune", "-af")
        build(engine_env, offline_image, nixfile, "-t", f"nixdf-test/repro:{round_}")
        built.append(layers(engine_env, f"nixdf-test/repro:{round_}"))
    assert built[0] == built[1]


@pytest.mark.parametrize("workdir", ["/srv/app", "/srv/it's $HOME \\ `id`"])
def test_a_working_dir_is_made_in_the_root_so_its_layer_repeats(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path, workdir: str) -> None:
    # WORKDIR would make /srv/app with the build's time: a layer new at every build. A name
    # the shell needs quoted is quoted, not left to WORKDIR.
    nixfile = tmp_path / "Nixfile"
    nix_text = workdir.replace("\\", "\\\\").replace("$", "\\$")
    nixfile.write_text('{ pkgs, buildImage }: buildImage { name = "nixdf-test/workdir"; '
                       f'copyToRoot = pkgs.hello; config.WorkingDir = "{nix_text}"; }}\n')
    built = []
    for round_ in (1, 2):
        build(engine_env, offline_image, nixfile, "-t", f"nixdf-test/workdir:{round_}",
              "--", "--no-cache")
        built.append(layers(engine_env, f"nixdf-test/workdir:{round_}"))
    assert built[0] == built[1]
    tree = files(engine_env, "nixdf-test/workdir:1")
    assert tree[workdir[1:]].isdir() and tree[workdir[1:]].mtime == 1
    assert config(engine_env, "nixdf-test/workdir:1")["WorkingDir"] == workdir


def test_a_frontend_the_engine_cannot_fetch_gets_a_way_out(engine_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from nixdf import api
    from nixdf.engine import Engine
    from nixdf.errors import EngineError

    for name, value in engine_env.items():
        monkeypatch.setenv(name, value)
    # The default target, on an engine that cannot pull docker/dockerfile (no Docker Hub).
    engine = Engine(client(engine_env), buildx=False, server_version="24.0.7")
    options = api.RenderOptions(OFFLINE_IMAGE, str(OFFLINE_PKGS))
    prepared = api.prepare_build(ROOT / "examples" / "redis" / "Nixfile", options, target=None,
                                 tags=("nixdf-test/frontend:1",), engine=engine)
    with pytest.raises(EngineError, match="could not fetch the Dockerfile frontend") as caught:
        api.build(prepared)
    assert caught.value.hint is not None and "--compat builtin-frontend" in caught.value.hint


def example_copy(name: str, tmp_path: Path) -> Path:
    """A copy of examples/NAME to build: building a layered image writes its lock beside it."""
    import shutil

    shutil.copytree(ROOT / "examples" / name, tmp_path / name)
    return tmp_path / name / "Nixfile"


def test_layered_builder_symlinks_contents_and_runs_fake_root_commands_as_root(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    build(engine_env, offline_image, example_copy("layered", tmp_path))
    ref = "nixdf/layered:1.0"
    assert run(engine_env, ref) == "Hello from nixdf\n"
    assert "uid=1000" in run(engine_env, ref, "/bin/redis-server")
    tree = files(engine_env, ref)
    hello = tree["bin/hello"]
    assert hello.issym() and hello.linkname.startswith("/nix/store/")
    assert hello.linkname.endswith("-hello/bin/hello")
    assert (tree["var/lib/app"].uid, tree["var/lib/app"].gid) == (1000, 1000)
    assert tree["tmp"].mode & 0o7777 == 0o1777
    assert tree["nix/store"].mode & 0o777 == 0o755
    assert sorted({n.split("/")[0] for n in layer_files(engine_env, ref)}) == [
        "bin", "nix", "tmp", "var"]


def test_healthcheck_onbuild_shell_and_lower_case_keys(engine_env, offline_image,  # type: ignore[no-untyped-def]
                                                        tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('''{ pkgs, buildImage }: buildImage {
  name = "nixdf-test/health";
  config = {
    entrypoint = [ "/bin/app" ];
    Healthcheck = {
      Test = [ "CMD" "/bin/app" "--check" ];
      Interval = 30000000000;
      Timeout = 1500000000;
      StartPeriod = 5000000000;
      Retries = 3;
    };
    OnBuild = [ "RUN echo child" ];
    Shell = [ "/bin/sh" "-eu" "-c" ];
  };
}
''')
    build(engine_env, offline_image, nixfile)
    cfg = config(engine_env, "nixdf-test/health:latest")
    assert cfg["Entrypoint"] == ["/bin/app"]
    assert cfg["Healthcheck"] == {"Test": ["CMD", "/bin/app", "--check"],
                                  "Interval": 30000000000, "Timeout": 1500000000,
                                  "StartPeriod": 5000000000, "Retries": 3}
    assert cfg["OnBuild"] == ["RUN echo child"]
    assert cfg["Shell"] == ["/bin/sh", "-eu", "-c"]


def test_no_network_for_the_default_nixpkgs_is_an_engine_error_with_a_way_out(  # type: ignore[no-untyped-def]
        engine_env, offline_image) -> None:
    # The default package set is a tarball the builder downloads; here there is no network.
    done = nixdf(engine_env, "build", str(ROOT / "examples" / "redis" / "Nixfile"),
                 "--nix-image", offline_image, "-t", "nixdf-test/no-network", check=False)
    assert done.returncode == 3
    assert "error: Nix in the builder could not download: unable to download" in done.stderr
    assert "pass --nixpkgs with a local package set" in done.stderr


def test_arguments_come_from_the_package_set_as_callpackage_passes_them(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    # `{ dockerTools, hello }:` as real docker.nix files written for callPackage say it.
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ dockerTools, hello, tag ? "callpackage" }:\n'
                       'dockerTools.buildImage { name = "nixdf-test/callpackage"; inherit tag; '
                       'copyToRoot = hello; config.Cmd = [ "/bin/hello" ]; }\n')
    build(engine_env, offline_image, nixfile)
    assert run(engine_env, "nixdf-test/callpackage:callpackage") == "Hello from nixdf\n"
    missing = tmp_path / "Missing"
    missing.write_text('{ dockerTools, no-such-package }:\n'
                       'dockerTools.buildImage { name = "nixdf-test/missing"; '
                       'copyToRoot = no-such-package; }\n')
    failed = build(engine_env, offline_image, missing, check=False)
    assert failed.returncode == 2
    assert "an argument no-such-package, and the package set has no such package" in (
        failed.stderr)


def test_images_sharing_a_name_and_tag_are_refused(engine_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\n{\n  a = buildImage { name = "same"; };\n'
                       '  b = buildImage { name = "same"; };\n'
                       '  c = buildImage { name = "c"; };\n}\n')
    done = nixdf(engine_env, "build", str(nixfile), "--dry-run", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == (
        f"{nixfile}:4:27: error: the images a and b are both named same:latest")
    assert f"a is named at {nixfile}:3:27" in done.stderr


def test_kept_dirlinks_are_never_written_through(engine_env, offline_image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # helloEnv's bin is a link into hello's store path; redis has a real bin. Copying redis
    # after it would write redis-server into hello's store path in the /nix cache.
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\nbuildImage {\n  name = "nixdf-test/dirlinks";\n'
                       '  keepContentsDirlinks = true;\n'
                       '  contents = [ pkgs.helloEnv pkgs.redis ];\n}\n')
    done = build(engine_env, offline_image, nixfile, check=False)
    assert done.returncode == 3
    assert "bin is a directory in" in done.stderr and "cannot be merged" in done.stderr
    alone = tmp_path / "alone" / "Nixfile"
    alone.parent.mkdir()
    alone.write_text('{ pkgs, buildImage }:\nbuildImage {\n  name = "nixdf-test/dirlinks";\n'
                     '  tag = "hello";\n  contents = [ pkgs.hello ];\n}\n')
    build(engine_env, offline_image, alone)
    store = [n for n in files(engine_env, "nixdf-test/dirlinks:hello") if n.endswith("/bin")]
    assert store and not any(n.endswith("redis-server") for n in
                             files(engine_env, "nixdf-test/dirlinks:hello"))


def test_a_package_set_file_whose_name_needs_quoting(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    # It reaches the builder in an ENV value, quoted as ENV takes it: nothing to refuse.
    shutil.copytree(OFFLINE_PKGS, tmp_path / "pkgs")
    (tmp_path / "pkgs" / "default.nix").rename(tmp_path / "pkgs" / "it's $set.nix")
    shutil.copy(ROOT / "examples" / "redis" / "Nixfile", tmp_path / "Nixfile")
    build(engine_env, offline_image, tmp_path / "Nixfile", "-t", "nixdf-test/quoted-set:1",
          nixpkgs=tmp_path / "pkgs" / "it's $set.nix")
    assert "redis stand-in" in run(engine_env, "nixdf-test/quoted-set:1")

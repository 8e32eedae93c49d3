"""`nixdf build --nix-cache-from IMAGE`: a fresh runner takes from the image built last time
the store paths that did not change, and Nix builds only the rest.

A fresh runner is a /nix cache that was never used: each build here names the offline
builder image by a tag of its own, and nixdf keys the cache by that name (plan.cache_id),
so nothing is pruned on the shared engines and no other test's cache is touched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nixdf.cachefrom import SeedReport
from nixdf.cli import app
from nixdf.registrations import Registration, parse_dump_db

from .conftest import OFFLINE_PKGS, ROOT, docker

NIXFILE = """{ pkgs, BUILDER }:
BUILDER {
  name = "nixdf-test/cache-from";
  tag = "TAG";
  contents = [ pkgs.hello pkgs.redis ];
  config.Cmd = [ "/bin/hello" ];
}
"""
GREETING = '"Hello from nixdf"'


class Runner:
    """Builds of one test: its images and its builder-image names (each a /nix cache)."""

    def __init__(self, env: dict[str, str], offline_image: str, context: Path) -> None:
        self.env, self.offline_image, self.context = env, offline_image, context
        self.run_id = uuid.uuid4().hex[:12]
        self.refs: list[str] = []

    def tag(self, name: str) -> str:
        ref = f"nixdf-test/cache-from-{name}:{self.run_id}"
        self.refs.append(ref)
        return ref

    def cache(self, name: str) -> str:
        """A builder-image name never used before: an empty /nix cache, as on a fresh runner."""
        ref = self.tag(f"nix-{name}")
        docker(self.env, "tag", self.offline_image, ref)
        return ref

    def build(self, cache: str, tag: str, *args: str) -> subprocess.CompletedProcess[str]:
        # The Nixfile's tag is the build's own: every Nix step has input of its own, so that
        # BuildKit's cache (which Docker 26 keys without the cache mount's id) never answers
        # for Nix; the derivations do not depend on it.
        nixfile = self.context / "Nixfile"
        own = f'tag = "{tag.split(":")[0].rpartition("/")[2]}-{self.run_id}"'
        nixfile.write_text(re.sub(r'tag = "[^"]*"', own, nixfile.read_text()))
        done = subprocess.run(
            [sys.executable, "-m", "nixdf", "build", str(self.context / "Nixfile"),
             "--nix-image", cache, "--nixpkgs", str(self.context / "pkgs"), "-t", tag,
             "--progress", "plain", *args],
            env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        return done

    def layers(self, ref: str) -> list[str]:
        return docker(self.env, "image", "inspect", "-f", "{{json .RootFS.Layers}}",
                      ref).stdout.split()


def built(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The derivations Nix built, by name, from the build log; each once (a build in which
    another user of the shared engine pruned cache mounts builds some twice)."""
    return sorted(set(re.findall(r"building '/nix/store/[0-9a-z]{32}-(.+?)\.drv'", done.stderr)))


@pytest.fixture
def runner(engine_env: dict[str, str], offline_image: str, tmp_path: Path,
           request: pytest.FixtureRequest) -> Iterator[Runner]:
    context = tmp_path / "app"
    context.mkdir()
    shutil.copytree(OFFLINE_PKGS, context / "pkgs")
    builder = getattr(request, "param", "buildLayeredImage")
    (context / "Nixfile").write_text(NIXFILE.replace("BUILDER", builder))
    made = Runner(engine_env, offline_image, context)
    yield made
    docker(engine_env, "rmi", "-f", *made.refs, check=False)


def change_leaf(context: Path) -> None:
    """The greeting changes: greetings and hello are new store paths, busybox and redis not."""
    default = context / "pkgs" / "default.nix"
    text = default.read_text()
    assert GREETING in text
    default.write_text(text.replace(GREETING, '"Hello again from nixdf"', 1))


@pytest.mark.docker
@pytest.mark.parametrize("runner", ["buildLayeredImage", "buildImage"], indirect=True)
def test_a_fresh_runner_builds_only_what_changed(runner: Runner) -> None:
    first = runner.cache("first")
    v1 = runner.tag("v1")
    # The first run of a pipeline: its source is not there yet, and the build goes on.
    done = runner.build(first, v1, "--nix-cache-from", v1 + "-absent")
    assert built(done) == ["busybox-static", "greetings-1.0", "hello", "redis-server"], (
        done.stderr[-4000:])
    assert "the seed build failed" in done.stderr
    change_leaf(runner.context)
    # Before the warm build, so that BuildKit has nothing of the new version cached.
    fresh = runner.build(runner.cache("fresh"), fresh_tag := runner.tag("fresh"),
                         "--nix-cache-from", v1)
    assert built(fresh) == ["greetings-1.0", "hello"], fresh.stderr[-4000:]
    assert "took 2 of the 4 store paths the /nix cache lacked (" in fresh.stderr
    warm = runner.build(first, warm_tag := runner.tag("warm"))
    assert built(warm) == ["greetings-1.0", "hello"]
    assert runner.layers(fresh_tag) == runner.layers(warm_tag)
    # Without the option, a fresh runner builds everything: the test measures the option.
    cold = runner.build(runner.cache("cold"), runner.tag("cold"))
    assert built(cold) == ["busybox-static", "greetings-1.0", "hello", "redis-server"]


@pytest.mark.docker
@pytest.mark.parametrize("runner", ["buildImage"], indirect=True)
def test_a_plain_image_built_without_the_option_is_recorded_by_the_first_run_with_it(
        runner: Runner) -> None:
    # buildImage needs no lock: built without the option, nothing records its store paths,
    # and none of them is taken, however the image holds them.
    v1 = runner.tag("v1")
    runner.build(runner.cache("first"), v1)
    assert not (runner.context / "Nixfile.lock").exists()
    change_leaf(runner.context)
    v2 = runner.tag("v2")
    done = runner.build(runner.cache("fresh"), v2, "--nix-cache-from", v1)
    assert built(done) == ["busybox-static", "greetings-1.0", "hello", "redis-server"]
    assert "2 with no hash in the lock file: Nix builds them); the lock this build writes" in (
        done.stderr)
    # That run recorded them: the next fresh runner takes all four from its image.
    again = runner.build(runner.cache("again"), runner.tag("v2-again"), "--nix-cache-from", v2)
    assert built(again) == [], again.stderr[-4000:]
    assert "took 4 of the 4 store paths" in again.stderr


@pytest.mark.docker
@pytest.mark.parametrize(("package", "file", "rebuilt", "note"), [
    # A leaf: only it is built again.
    ("redis-server", "bin/redis-server", ["redis-server"], "(1 not what Nix built: "),
    # What the programs refer to: they are right, but cannot be registered without it (the
    # greetings data refers to nothing and is taken).
    ("busybox-static", "bin/busybox", ["busybox-static", "hello", "redis-server"],
     "(1 not what Nix built, 2 without their references: "),
])
def test_a_path_changed_in_the_source_image_is_built_not_taken(
        runner: Runner, package: str, file: str, rebuilt: list[str], note: str) -> None:
    first = runner.cache("first")
    v1 = runner.tag("v1")
    runner.build(first, v1)
    # The same name, other bytes: a file of the path in the image says something else.
    lock = (runner.context / "Nixfile.lock").read_text()
    path = re.search(rf"/nix/store/[0-9a-z]{{32}}-{package}", lock)
    assert path, f"the lock records {package}'s store path"
    script = runner.context / "tampered"
    script.write_text("#!/bin/sh\necho tampered\n")
    script.chmod(0o555)
    container = docker(runner.env, "create", v1).stdout.strip()
    try:
        docker(runner.env, "cp", str(script), f"{container}:{path.group()}/{file}")
        docker(runner.env, "commit", container, tampered := runner.tag("tampered"))
    finally:
        docker(runner.env, "rm", "-f", container, check=False)
    again = runner.build(runner.cache("fresh"), fixed := runner.tag("rebuilt"),
                         "--nix-cache-from", tampered)
    assert built(again) == rebuilt, again.stderr[-4000:]
    assert re.search(rf"nixdf: --nix-cache-from: {path.group()} in a source image is not what "
                     r"Nix built \(NAR hash sha256:[0-9a-f]{64}, the lock records "
                     r"sha256:[0-9a-f]{64}\): not taken, Nix builds it", again.stderr)
    assert note in again.stderr
    assert runner.layers(fixed) == runner.layers(v1)


DUMP = """/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app
1d0495fcf8173bdbfb423e6e42def545db831dc010c62d1a1093d3130d81a454
1982928
/nix/store/dddddddddddddddddddddddddddddddd-app.drv
2
/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app
/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-busybox
/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-busybox
sha256:0d0495fcf8173bdbfb423e6e42def545db831dc010c62d1a1093d3130d81a454
10

0
"""


def test_the_dump_db_records_become_the_seed_steps_lines() -> None:
    app_, busybox = parse_dump_db(DUMP)
    assert app_ == Registration(
        "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app",
        "1d0495fcf8173bdbfb423e6e42def545db831dc010c62d1a1093d3130d81a454", 1982928,
        "/nix/store/dddddddddddddddddddddddddddddddd-app.drv",
        ("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app",
         "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-busybox"))
    # No deriver is "-" in the line the seed step splits on spaces; a "sha256:" prefix goes.
    assert busybox.line() == ("/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-busybox "
                              "0d0495fcf8173bdbfb423e6e42def545db831dc010c62d1a1093d3130d81a454 "
                              "10 -")


def test_the_report_counts_what_was_taken_and_why_the_rest_was_not() -> None:
    report = SeedReport.parse("mismatch /nix/store/x-a 0 11 22\ntaken /nix/store/y-b\n"
                              "absent /nix/store/z-c\nwanted 5 3\n")
    records = parse_dump_db(DUMP)
    assert report.taken == ("/nix/store/y-b",)
    assert report.summary(("img:1",), records) == (
        "--nix-cache-from img:1: took 1 of the 3 store paths the /nix cache lacked (0 B) "
        "(1 not what Nix built, 1 in no source image: Nix builds them)")


@pytest.mark.parametrize("source", ["app:1,target=/etc", "app:1 --x", "", "app:'1'"])
def test_a_source_that_is_not_an_image_reference_is_refused(source: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    (tmp_path / "Nixfile").write_text(NIXFILE.replace("BUILDER", "buildImage"))
    done = CliRunner().invoke(app, ["build", str(tmp_path / "Nixfile"), "--dry-run",
                                    "--nix-cache-from", source])
    assert done.exit_code == 2
    assert f"--nix-cache-from {source}: not an image reference" in done.output
    assert "Traceback" not in done.output


def test_many_records_go_in_steps_of_less_than_one_shell_argument(tmp_path: Path) -> None:
    import dockerfile

    from nixdf.cachefrom import _chunks
    from nixdf.load import nixpkgs_source
    from nixdf.plan import PlanOptions, plan
    from nixdf.render import render_seed

    nixpkgs, _ = nixpkgs_source(None, tmp_path)
    the_plan = plan([], PlanOptions("nixos/nix:x", nixpkgs, "Nixfile", ("Nixfile",)))
    records = tuple(Registration(f"/nix/store/{n:032d}-package-{n}", "0" * 64, n, "-",
                                 tuple(f"/nix/store/{m:032d}-package-{m}" for m in range(n % 9)))
                    for n in range(3000))
    text = render_seed(the_plan, [None], ("app:1",), _chunks([r.line() for r in records]),
                       run_id="0")
    runs = [i for i in dockerfile.parse_string(text) if i.cmd == "RUN"]
    # Every record once, in order; each step's command one shell argument of < 128 KiB.
    written = re.findall(r"'?(/nix/store/\d{32}-package-\d+) 0{64}", text)
    assert written == [record.path for record in records]
    assert len(runs) > 2
    assert all(len(run.original.encode()) < 128 * 1024 for run in runs)

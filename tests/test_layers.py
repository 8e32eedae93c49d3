"""Layering as dockerTools' layered builders do it, checked on small graphs."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixdf.layers import StorePath, auto_layer, by_popularity, split

S = "/nix/store/"
GLIBC, BASH, HELLO, APP, DATA = (f"{S}{h * 32}-{n}" for h, n in (
    ("a", "glibc"), ("b", "bash"), ("c", "hello"), ("d", "app"), ("e", "data")))
# app -> hello -> glibc, app -> bash -> glibc, app -> data (and app to itself)
GRAPH = {APP: [HELLO, BASH, DATA, APP], HELLO: [GLIBC], BASH: [GLIBC], GLIBC: [], DATA: []}
SIZES = {APP: 1, HELLO: 10, BASH: 5, GLIBC: 30, DATA: 50}


def closure(graph: dict[str, list[str]], sizes: dict[str, int] | None = None,
            ) -> list[StorePath]:
    return [StorePath(p, (sizes or SIZES).get(p, 1), tuple(refs)) for p, refs in graph.items()]


def renamed(graph: dict[str, list[str]], old: str, new: str) -> dict[str, list[str]]:
    return {(new if p == old else p): [new if r == old else r for r in refs]
            for p, refs in graph.items()}


def test_popularity_most_depended_upon_first_each_alone_when_the_budget_allows() -> None:
    assert by_popularity(closure(GRAPH), 100) == [[GLIBC], [BASH], [DATA], [HELLO], [APP]]


def test_popularity_the_rest_share_the_last_layer_under_a_small_budget() -> None:
    assert by_popularity(closure(GRAPH), 3) == [[GLIBC], [BASH], [APP, DATA, HELLO]]
    assert by_popularity(closure(GRAPH), 1) == [[APP, BASH, DATA, GLIBC, HELLO]]


@pytest.mark.parametrize("strategy", ["auto", "popularity"])
def test_a_rebuilt_path_keeps_its_place_and_moves_no_other(strategy: str) -> None:
    rebuilt = f"{S}{'f' * 32}-hello"
    sizes = {**SIZES, rebuilt: SIZES[HELLO]}
    for budget in (2, 3, 100):
        before = split(closure(GRAPH), budget, strategy)
        after = split(closure(renamed(GRAPH, HELLO, rebuilt), sizes), budget, strategy)
        assert [[rebuilt if p == HELLO else p for p in layer] for layer in before] == after


def test_references_outside_the_closure_are_ignored_and_budget_is_checked() -> None:
    outside = f"{S}{'9' * 32}-elsewhere"
    for strategy in ("auto", "popularity"):
        assert split([StorePath(APP, 1, (outside,))], 5, strategy) == [[APP]]
        with pytest.raises(ValueError):
            split(closure(GRAPH), 0, strategy)


def test_auto_layer_gives_every_path_a_layer_when_the_budget_allows_deps_first() -> None:
    # Each layer after the layers it depends on: by the size of its closure.
    assert auto_layer(closure(GRAPH), 100) == [[GLIBC], [BASH], [HELLO], [DATA], [APP]]


def test_auto_layer_puts_what_fewer_paths_depend_on_later() -> None:
    # Without COPY --link a changed layer rebuilds every layer after it: data, which
    # only the app uses, goes after lib, which two paths use, though lib is larger.
    lib, tool, base = (f"{S}{h * 32}-{n}" for h, n in (("1", "lib"), ("2", "tool"), ("3", "base")))
    graph = {APP: [lib, tool, DATA], tool: [lib], lib: [base], base: [], DATA: []}
    sizes = {APP: 1, tool: 2, lib: 60, base: 1, DATA: 50}
    assert auto_layer(closure(graph, sizes), 100) == [[base], [lib], [DATA], [tool], [APP]]


def test_auto_layer_isolates_the_largest_paths_first() -> None:
    # data (50) leads a layer; glibc (30) would make a third layer, over the budget.
    assert auto_layer(closure(GRAPH), 2) == [[DATA], [APP, BASH, GLIBC, HELLO]]
    assert auto_layer(closure(GRAPH), 1) == [[APP, BASH, DATA, GLIBC, HELLO]]


def test_auto_layer_puts_a_private_dependency_with_its_leader() -> None:
    big, private = f"{S}{'1' * 32}-python", f"{S}{'2' * 32}-libpython-private"
    graph = {APP: [big, GLIBC], big: [private, GLIBC], private: [], GLIBC: []}
    sizes = {APP: 1, big: 40, private: 8, GLIBC: 30}
    assert auto_layer(closure(graph, sizes), 3) == [[GLIBC], [private, big], [APP]]


def test_auto_layer_gives_shared_dependencies_a_layer_per_set_of_sharers() -> None:
    a, b, shared = (f"{S}{h * 32}-{n}" for h, n in (("1", "a"), ("2", "b"), ("3", "shared")))
    graph = {APP: [a, b], a: [shared], b: [shared], shared: []}
    sizes = {APP: 1, a: 40, b: 30, shared: 5}
    # Under a budget of 3, a takes shared along, and b stays with the app.
    assert auto_layer(closure(graph, sizes), 3) == [[a, shared], [APP, b]]
    # With 4, b leads a layer too and shared, used by both, gets its own.
    assert auto_layer(closure(graph, sizes), 4) == [[shared], [b], [a], [APP]]


def locked_closure(lock: Path) -> list[StorePath]:
    import json

    entries = json.loads(lock.read_text())["images"][""]["closure"]
    return [StorePath(e["path"], e["narSize"], tuple(e["references"])) for e in entries]


LAYERED_NIXFILE = """{ pkgs, buildLayeredImage }:
buildLayeredImage {
  name = "nixdf-test/popular";
  tag = "TAG";
  maxLayers = MAX;
  contents = [ pkgs.hello ];
  config.Cmd = [ "/bin/hello" ];
}
"""


def _layered(tmp_path, greeting: str, tag: str, max_layers: int = 100):  # type: ignore[no-untyped-def]
    from .conftest import OFFLINE_PKGS

    pkgs = tmp_path / "pkgs"
    pkgs.mkdir(exist_ok=True)
    (pkgs / "default.nix").write_text(
        (OFFLINE_PKGS / "default.nix").read_text().replace('"Hello from nixdf"', f'"{greeting}"'))
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(LAYERED_NIXFILE.replace("TAG", tag).replace("MAX", str(max_layers)))
    return nixfile, pkgs


@pytest.mark.docker
def test_a_locked_layered_image_has_a_layer_per_path_and_a_leaf_change_keeps_the_rest(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    import json
    import uuid

    from .conftest import docker
    from .test_examples import build, nixdf, run

    token = uuid.uuid4().hex[:8]
    nixfile, pkgs = _layered(tmp_path, f"Hello {token}", token)
    options = ("--nix-image", offline_image, "--nixpkgs", str(pkgs))
    nixdf(engine_env, "lock", str(nixfile), *options)
    closure = json.loads((tmp_path / "Nixfile.lock").read_text())["images"][""]["closure"]
    assert len(closure) == 3  # busybox, greetings, hello
    build(engine_env, offline_image, nixfile, nixpkgs=pkgs)
    ref = f"nixdf-test/popular:{token}"
    assert run(engine_env, ref) == f"Hello {token}\n"

    def layers() -> list[str]:
        inspected = json.loads(docker(engine_env, "image", "inspect", ref).stdout)[0]
        return inspected["RootFS"]["Layers"]  # type: ignore[no-any-return]

    def by_path() -> dict[str, str]:
        order = split(locked_closure(tmp_path / "Nixfile.lock"), 99, "auto")
        diff_ids = layers()
        assert len(diff_ids) == len(order) + 1  # one per store path, then the root
        return {layer[0]: diff_id for layer, diff_id in zip(order, diff_ids, strict=False)}

    before = by_path()
    # A new greeting changes the greetings package and hello, which refers to it; the
    # busybox they share keeps its layer, digest and all.
    (pkgs / "default.nix").write_text(
        (pkgs / "default.nix").read_text().replace(f"Hello {token}", f"Hi {token}"))
    nixdf(engine_env, "lock", str(nixfile), *options)
    build(engine_env, offline_image, nixfile, nixpkgs=pkgs)
    assert run(engine_env, ref) == f"Hi {token}\n"
    after = by_path()
    kept = before.keys() & after.keys()
    assert kept and all(before[p] == after[p] for p in kept)
    assert all(after[p] not in before.values() for p in after.keys() - kept)
    assert len(after.keys() - kept) == 2


@pytest.mark.docker
def test_max_layers_caps_the_store_layers(engine_env, offline_image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import uuid

    from .conftest import docker
    from .test_examples import build, nixdf, run

    token = uuid.uuid4().hex[:8]
    nixfile, pkgs = _layered(tmp_path, f"Capped {token}", f"capped-{token}", max_layers=2)
    nixdf(engine_env, "lock", str(nixfile), "--nix-image", offline_image, "--nixpkgs", str(pkgs))
    build(engine_env, offline_image, nixfile, nixpkgs=pkgs)
    ref = f"nixdf-test/popular:capped-{token}"
    assert run(engine_env, ref) == f"Capped {token}\n"
    inspected = json.loads(docker(engine_env, "image", "inspect", ref).stdout)[0]
    assert len(inspected["RootFS"]["Layers"]) == 2  # the whole store, then the root


@pytest.mark.docker
def test_locked_layers_with_scripts_are_identical_across_clean_builds(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    import json

    from .conftest import docker
    from .test_examples import build, files, nixdf, run

    nixfile, pkgs = _layered(tmp_path, "Hello from nixdf", "repro")
    nixfile.write_text(nixfile.read_text().replace(
        "  contents =", '  fakeRootCommands = "mkdir -p data; chown 1000 data";\n  contents ='))
    nixdf(engine_env, "lock", str(nixfile), "--nix-image", offline_image, "--nixpkgs", str(pkgs))
    built = []
    for round_ in (1, 2):
        docker(engine_env, "builder", "prune", "-af")
        build(engine_env, offline_image, nixfile, "-t", f"nixdf-test/popular-repro:{round_}",
              nixpkgs=pkgs)
        inspected = json.loads(docker(engine_env, "image", "inspect",
                                      f"nixdf-test/popular-repro:{round_}").stdout)[0]
        built.append(inspected["RootFS"]["Layers"])
    assert built[0] == built[1] and len(built[0]) == 4  # three store paths, then the root
    ref = "nixdf-test/popular-repro:2"
    assert run(engine_env, ref) == "Hello from nixdf\n"
    assert files(engine_env, ref)["data"].uid == 1000


def _layer_ids(env: dict[str, str], ref: str) -> list[str]:
    import json

    from .conftest import docker

    return json.loads(docker(env, "image", "inspect", ref).stdout)[0]["RootFS"]["Layers"]  # type: ignore[no-any-return]


@pytest.mark.docker
def test_per_path_stages_give_the_same_layers_and_copy_only_changed_paths(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    import re
    import uuid

    from .test_examples import build, files, nixdf, run

    token = uuid.uuid4().hex[:8]
    nixfile, pkgs = _layered(tmp_path, f"Hello {token}", token)
    nixfile.write_text(nixfile.read_text().replace(
        "  contents =", '  fakeRootCommands = "mkdir -p data; chown 1000 data";\n  contents ='))
    options = ("--nix-image", offline_image, "--nixpkgs", str(pkgs))
    nixdf(engine_env, "lock", str(nixfile), *options)
    dockerfile = nixdf(engine_env, "render", str(nixfile), "--per-path", "--compat",
                       "docker-20.10", *options).stdout
    assert dockerfile.count("FROM nix AS popular-store-") == 3
    ref = f"nixdf-test/popular:{token}"
    build(engine_env, offline_image, nixfile, "-t", f"{ref}-default", nixpkgs=pkgs)
    build(engine_env, offline_image, nixfile, "--per-path", nixpkgs=pkgs)
    assert run(engine_env, ref) == f"Hello {token}\n"
    assert files(engine_env, ref)["data"].uid == 1000
    # The same layers, byte for byte, as the default build stage makes them.
    before = _layer_ids(engine_env, ref)
    assert before == _layer_ids(engine_env, f"{ref}-default") and len(before) == 4

    # A new greeting rebuilds greetings and hello; busybox's stage is not run again.
    (pkgs / "default.nix").write_text(
        (pkgs / "default.nix").read_text().replace(f"Hello {token}", f"Hi {token}"))
    nixdf(engine_env, "lock", str(nixfile), *options)
    busybox = next(e.path for e in locked_closure(tmp_path / "Nixfile.lock")
                   if e.path.endswith("-busybox-static"))
    done = build(engine_env, offline_image, nixfile, "--per-path", "--progress", "plain",
                 nixpkgs=pkgs)
    assert run(engine_env, ref) == f"Hi {token}\n"
    steps = re.findall(r"^#(\d+) \[(popular-store-\d+) 1/1\] RUN .*?copy_layer \S+ \S+ '?([^' ;]+)",
                       done.stderr, re.MULTILINE)
    ran = {stage: (number, name) for number, stage, name in steps}
    cached = set(re.findall(r"^#(\d+) CACHED$", done.stderr, re.MULTILINE))
    busybox_step = next(number for number, name in ran.values()
                        if name == busybox.rsplit("/", 1)[-1])
    assert busybox_step in cached
    assert sum(number not in cached for number, _ in ran.values()) == 2
    after = _layer_ids(engine_env, ref)
    assert len(after) == 4 and len(set(after) & set(before)) == 1


@pytest.mark.docker
def test_build_locks_a_layered_image_for_its_layers(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    import uuid

    from .test_examples import build, run

    token = uuid.uuid4().hex[:8]
    nixfile, pkgs = _layered(tmp_path, f"Unlocked {token}", f"unlocked-{token}")
    done = build(engine_env, offline_image, nixfile, nixpkgs=pkgs)
    assert "for their layers" in done.stderr and (tmp_path / "Nixfile.lock").is_file()
    ref = f"nixdf-test/popular:unlocked-{token}"
    assert run(engine_env, ref) == f"Unlocked {token}\n"
    assert len(_layer_ids(engine_env, ref)) == 4  # three store paths, then the root
    # The lock is current now: the next build neither locks nor changes a layer.
    again = build(engine_env, offline_image, nixfile, nixpkgs=pkgs)
    assert "for their layers" not in again.stderr


def test_render_without_a_lock_says_the_store_goes_in_one_layer(tmp_path: Path) -> None:
    from .test_examples import nixdf

    nixfile, pkgs = _layered(tmp_path, "Hello", "unlocked")
    done = nixdf(dict(__import__("os").environ), "render", str(nixfile), "--nixpkgs", str(pkgs))
    # The command it suggests makes the lock for this very input: with the same --nixpkgs.
    assert "Nixfile.lock does not exist, so the store of the layered" in done.stderr
    assert f"run `nixdf lock {nixfile} --nixpkgs {pkgs}` for their layers" in done.stderr
    assert "/out/layers/" not in done.stdout


def test_a_base_from_the_nixfile_counts_against_max_layers(tmp_path: Path) -> None:
    import os

    from .test_examples import nixdf

    nixfile = tmp_path / "Nixfile"
    nixfile.write_text("""{ pkgs, buildLayeredImage }:
rec {
  base = buildLayeredImage { name = "base"; contents = [ pkgs.hello ]; };
  top = buildLayeredImage { name = "top"; fromImage = base; maxLayers = 2; };
}
""")
    done = nixdf(dict(os.environ), "render", str(nixfile), check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[0].endswith(
        "error: maxLayers = 2 leaves no layer for the store: the fromImage has 1 layer and "
        "the root takes one")
    assert "raise maxLayers to 3 or more" in done.stderr


@pytest.mark.docker
@pytest.mark.parametrize("per_path", [False, True])
def test_mtime_sets_every_files_time_in_the_layers(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path, per_path: bool) -> None:
    import uuid

    from .test_examples import build, files, run

    token = uuid.uuid4().hex[:8]
    nixfile, pkgs = _layered(tmp_path, f"Timed {token}", f"mtime-{token}")
    nixfile.write_text(nixfile.read_text().replace(
        "  contents =", '  mtime = "2024-01-01T00:00:00Z";\n'
        '  fakeRootCommands = "mkdir data";\n  contents ='))
    build(engine_env, offline_image, nixfile, *(["--per-path"] if per_path else []), nixpkgs=pkgs)
    ref = f"nixdf-test/popular:mtime-{token}"
    assert run(engine_env, ref) == f"Timed {token}\n"
    tree = files(engine_env, ref)
    in_layers = [m for name, m in tree.items() if name.startswith(("nix", "bin", "data"))]
    assert in_layers and {m.mtime for m in in_layers} == {1704067200}
    # "now": the times the build leaves (BuildKit's cache ignores file times, so the
    # unchanged layers above are reused as they are); the Dockerfile still builds.
    nixfile.write_text(nixfile.read_text().replace('"2024-01-01T00:00:00Z"', '"now"'))
    build(engine_env, offline_image, nixfile, *(["--per-path"] if per_path else []), nixpkgs=pkgs)
    assert run(engine_env, ref) == f"Timed {token}\n"

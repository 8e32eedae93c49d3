"""Layering by popularity: what dockerTools' layered builders do, checked on small graphs."""

from __future__ import annotations

import pytest

from nixdf.layers import by_popularity

S = "/nix/store/"
GLIBC, BASH, HELLO, APP, DATA = (f"{S}{h * 32}-{n}" for h, n in (
    ("a", "glibc"), ("b", "bash"), ("c", "hello"), ("d", "app"), ("e", "data")))
# app -> hello -> glibc, app -> bash -> glibc, app -> data
GRAPH = {APP: [HELLO, BASH, DATA, APP], HELLO: [GLIBC], BASH: [GLIBC], GLIBC: [], DATA: []}


def test_most_depended_upon_first_each_alone_when_the_budget_allows() -> None:
    assert by_popularity(GRAPH, 100) == [[GLIBC], [BASH], [DATA], [HELLO], [APP]]


def test_the_rest_share_the_last_layer_under_a_small_budget() -> None:
    assert by_popularity(GRAPH, 3) == [[GLIBC], [BASH], sorted([DATA, HELLO, APP])]
    assert by_popularity(GRAPH, 1) == [sorted(GRAPH)]


def test_a_rebuilt_path_keeps_its_place_and_moves_no_other() -> None:
    rebuilt = f"{S}{'f' * 32}-hello"
    graph = {(rebuilt if p == HELLO else p): [rebuilt if r == HELLO else r for r in refs]
             for p, refs in GRAPH.items()}
    before, after = by_popularity(GRAPH, 100), by_popularity(graph, 100)
    assert [layer for layer in before if layer != [HELLO]] == [
        layer for layer in after if layer != [rebuilt]]
    assert before.index([HELLO]) == after.index([rebuilt])


def test_references_outside_the_closure_are_ignored_and_budget_is_checked() -> None:
    assert by_popularity({APP: [f"{S}{'9' * 32}-elsewhere"]}, 5) == [[APP]]
    with pytest.raises(ValueError):
        by_popularity(GRAPH, 0)


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
        lock = json.loads((tmp_path / "Nixfile.lock").read_text())["images"][""]["closure"]
        order = by_popularity({e["path"]: e["references"] for e in lock}, 99)
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

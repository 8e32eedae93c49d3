"""Images on a fromImage base, built for real: their layer holds only what the image adds to
its base (no store path the base has)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from .conftest import DOCKER
from .test_examples import build, layers, run

pytestmark = pytest.mark.docker

BASE = """\
  base = buildImage {
    name = "nixdf-test/h-image-base";
    tag = "1";
    contents = pkgs.busybox;
    config.User = "1000:1000";
  };
"""


def layer_trees(env: dict[str, str], ref: str) -> list[dict[str, tarfile.TarInfo]]:
    """Each layer's entries, bottom first, as `docker save` writes them."""
    saved = subprocess.run([DOCKER, "save", ref], env=env, capture_output=True,
                           check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as image:
        manifest = image.extractfile("manifest.json")
        assert manifest is not None
        trees = []
        for name in json.load(manifest)[0]["Layers"]:
            layer = image.extractfile(name)
            assert layer is not None
            with tarfile.open(fileobj=layer) as tar:
                trees.append({m.name.rstrip("/"): m for m in tar.getmembers()})
    return trees


def own_layers(env: dict[str, str], ref: str, base: str) -> list[dict[str, tarfile.TarInfo]]:
    """The layers ``ref`` has on top of ``base``'s."""
    below = layers(env, base)
    assert layers(env, ref)[:len(below)] == below
    return layer_trees(env, ref)[len(below):]


def store_names(tree: dict[str, tarfile.TarInfo]) -> set[str]:
    return {n.split("/")[2] for n in tree if n.startswith("nix/store/") and n.count("/") >= 2}


def test_a_base_of_the_nixfile_is_not_repeated_in_the_image_layer(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    # dockerTools' buildImage leaves out of its layer the store paths its fromImage has.
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text("{ pkgs, buildImage }:\nrec {\n" + BASE + """\
  app = buildImage {
    name = "nixdf-test/h-image-dedup";
    fromImage = base;
    contents = pkgs.hello;
    config.Cmd = [ "/bin/hello" ];
  };
}
""")
    build(engine_env, offline_image, nixfile)
    app = "nixdf-test/h-image-dedup:latest"
    [below] = layer_trees(engine_env, "nixdf-test/h-image-base:1")
    [own] = own_layers(engine_env, app, "nixdf-test/h-image-base:1")
    assert any(n.endswith("-busybox-static") for n in store_names(below))
    assert {n.rsplit("-", 1)[-1] for n in store_names(own)} == {"hello", "1.0"}, sorted(own)
    # hello's script runs the base's busybox from the store the base brought.
    assert run(engine_env, app) == "Hello from nixdf\n"
    assert (own["nix/store"].mode & 0o777, own["nix/store"].uid) == (0o555, 0)

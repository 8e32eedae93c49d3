"""An image that names its architecture: dockerTools' architecture/variant, nix2container's arch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nixdf import api
from nixdf.errors import NixdfError

from .conftest import OFFLINE_PKGS, docker
from .test_examples import build

LAYERED = """{ pkgs, buildLayeredImage }:
buildLayeredImage {
  name = "nixdf-test/arch";
  tag = "TAG";
  contents = [ pkgs.hello ];
  config.Cmd = [ "/bin/hello" ];
ARGS}
"""


def nixfile(tmp_path: Path, args: str, tag: str = "latest") -> Path:
    path = tmp_path / "Nixfile"
    path.write_text(LAYERED.replace("TAG", tag).replace("ARGS", args))
    return path


@pytest.mark.parametrize(("args", "platform"), [
    ("", None),
    ('  architecture = "arm64";\n', "linux/arm64"),
    # Nix's and Linux's names, as containerd normalises them; an alias may imply a variant.
    ('  architecture = "aarch64";\n', "linux/arm64"),
    ('  architecture = "x86_64";\n', "linux/amd64"),
    ('  architecture = "armv7l";\n', "linux/arm/v7"),
    ('  architecture = "arm";\n  variant = "v6";\n', "linux/arm/v6"),
])
def test_architecture_becomes_the_images_platform(tmp_path: Path, args: str,
                                                  platform: str | None) -> None:
    [spec] = api.load(nixfile(tmp_path, args))
    assert spec.platform == platform


@pytest.mark.parametrize(("args", "message"), [
    ('  architecture = "sparc64";\n', "no architecture Docker knows"),
    ('  variant = "v7";\n', "'variant' needs an 'architecture'"),
    ('  architecture = "arm";\n  variant = "7";\n', "Docker's variants"),
])
def test_an_unknown_architecture_is_refused_where_it_is(tmp_path: Path, args: str,
                                                        message: str) -> None:
    with pytest.raises(NixdfError, match=message) as caught:
        api.load(nixfile(tmp_path, args))
    assert caught.value.span is not None and caught.value.span.line >= 7


def test_the_builder_runs_natively_and_the_hint_names_the_platform(tmp_path: Path) -> None:
    shutil.copytree(OFFLINE_PKGS, tmp_path / "pkgs")
    options = api.RenderOptions("nixdf-offline/nix:latest", str(tmp_path / "pkgs"),
                                "docker-20.10")
    text = api.render_path(nixfile(tmp_path, '  architecture = "arm64";\n'), options).text
    assert "FROM --platform=$BUILDPLATFORM nixdf-offline/nix:latest AS nix" in text
    assert "# Build with: DOCKER_BUILDKIT=1 docker build --platform linux/arm64 ." in text
    plain = api.render_path(nixfile(tmp_path, ""), options).text
    assert "$BUILDPLATFORM" not in plain and "--platform" not in plain


@pytest.mark.docker
def test_an_arm64_image_is_built_by_a_native_builder(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    # The contents here are the offline set's x86-64 busybox: a real cross image takes
    # them from pkgsCross. What is checked is the platform and that Nix ran natively.
    path = nixfile(tmp_path, '  architecture = "aarch64";\n', tag=tmp_path.name[-8:])
    build(engine_env, offline_image, path)
    ref = f"nixdf-test/arch:{tmp_path.name[-8:]}"
    image = json.loads(docker(engine_env, "image", "inspect", ref).stdout)[0]
    assert (image["Os"], image["Architecture"]) == ("linux", "arm64")
    assert len(image["RootFS"]["Layers"]) == 4  # busybox, greetings, hello, the root
    done = build(engine_env, offline_image, path, "--platform", "linux/amd64", check=False)
    assert done.returncode == 2 and "the architecture its Nixfile names" in done.stderr

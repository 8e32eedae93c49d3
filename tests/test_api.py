"""The library's doors: atomic writes and errors that carry their source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nixdf import api
from nixdf.engine import Engine
from nixdf.errors import NixdfError


def test_write_atomic_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "Dockerfile"
    target.write_text("old\n")
    target.chmod(0o600)
    api.write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["Dockerfile"]


def test_an_interrupted_write_leaves_the_old_file_and_no_debris(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "Dockerfile"
    target.write_text("old\n")

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        api.write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["Dockerfile"]


def test_errors_carry_the_nixfile_text(tmp_path: Path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('buildImage {\n  name = 3;\n}\n')
    with pytest.raises(NixdfError) as info:
        api.load(nixfile)
    assert info.value.span is not None and info.value.span.line == 2
    assert "      name = 3;" in str(info.value).splitlines()


def test_an_error_in_an_imported_file_shows_that_files_line(tmp_path: Path) -> None:
    (tmp_path / "app.nix").write_text("{ pkgs }:\n  import ./missing.nix\n")
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\nbuildImage { name = "x"; '
                       "contents = import ./app.nix { inherit pkgs; }; }\n")
    with pytest.raises(NixdfError) as info:
        api.render_path(nixfile, api.RenderOptions())
    assert str(info.value).splitlines()[:2] == [
        "app.nix:2:10: error: ./missing.nix does not exist", "      import ./missing.nix"]


def test_two_images_under_one_name_and_tag_are_not_built_together(tmp_path: Path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{\n  a = buildImage { name = "app"; };\n'
                       '  b = buildImage { name = "App"; tag = "latest"; };\n'
                       '  c = buildImage { name = "app"; tag = "2"; };\n}\n')
    engine = Engine("/usr/bin/docker", buildx=True, server_version="26.1.5")
    with pytest.raises(NixdfError) as raised:
        api.prepare_build(nixfile, api.RenderOptions(), target=None, tags=(), engine=engine)
    assert raised.value.exit_code == 2
    assert raised.value.span is not None and raised.value.span[1:3] == (3, 27)
    assert raised.value.message == "the images a and b are both named app:latest"
    assert str(raised.value).splitlines()[1:3] == [
        '      b = buildImage { name = "App"; tag = "latest"; };', " " * 30 + "^^^^^"]
    assert f"a is named at {nixfile}:2:27" in str(raised.value)
    # Either one alone is no clash: the Dockerfile renders, and --target picks one.
    prepared = api.prepare_build(nixfile, api.RenderOptions(), target="b", tags=(),
                                 engine=engine)
    assert [request.tags for request in prepared.requests] == [("app:latest",)]


def test_one_image_under_two_attributes_is_no_clash(tmp_path: Path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('let img = buildImage { name = "app"; }; in { a = img; b = img; }\n')
    engine = Engine("/usr/bin/docker", buildx=True, server_version="26.1.5")
    prepared = api.prepare_build(nixfile, api.RenderOptions(), target=None, tags=(),
                                 engine=engine)
    assert [request.tags for request in prepared.requests] == [("app:latest",)] * 2

"""Rendered Dockerfiles: one snapshot per example and target, stable, parseable."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dockerfile
import pytest

from nixdf import api, render
from nixdf.defaults import NIX_IMAGE
from nixdf.engine import Engine
from nixdf.errors import NixdfError
from nixdf.render import duration

from .conftest import ROOT, example_nixfiles

TARGETS = {"modern": None, "compat": "docker-20.10"}


def _render(nixfile: Path, compat: str | None) -> str:
    options = api.RenderOptions(NIX_IMAGE, None, compat)
    return api.render_path(nixfile, options).text


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("nixfile", example_nixfiles(), ids=lambda p: p.parent.name)
def test_render_example(nixfile: Path, target: str, snapshot_dockerfile) -> None:  # type: ignore[no-untyped-def]
    text = _render(nixfile, TARGETS[target])
    assert text == _render(nixfile, TARGETS[target]), "rendering is not deterministic"
    assert text == snapshot_dockerfile


@pytest.mark.parametrize("nixfile", example_nixfiles(), ids=lambda p: p.parent.name)
def test_every_stage_starts_with_a_comment(nixfile: Path) -> None:
    lines = _render(nixfile, None).splitlines()
    for number, line in enumerate(lines):
        if line.startswith("FROM "):
            assert lines[number - 1].startswith("# "), line


@pytest.mark.parametrize("nixfile", example_nixfiles(), ids=lambda p: p.parent.name)
def test_compat_uses_only_syntax_1_2(nixfile: Path) -> None:
    text = _render(nixfile, "docker-20.10")
    assert "# syntax=" not in text
    assert "--link" not in text
    commands = [i.cmd for i in dockerfile.parse_string(text)]
    assert set(commands) <= {"FROM", "COPY", "RUN", "ENV", "LABEL", "EXPOSE", "VOLUME",
                             "WORKDIR", "STOPSIGNAL", "USER", "ENTRYPOINT", "CMD"}


def test_modern_target_pins_the_frontend_and_links_layers() -> None:
    text = _render(ROOT / "examples" / "redis" / "Nixfile", None)
    assert text.startswith("# syntax=docker/dockerfile:1.7.1@sha256:")
    assert "COPY --link --from=redis-tidy /out/ /" in text


def test_local_nixpkgs_inside_the_context_is_copied(tmp_path: Path) -> None:
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "pkgs" / "default.nix").write_text("{ }: { }\n")
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('buildImage { name = "x"; }\n')
    rendered = api.render_path(nixfile, api.RenderOptions(nixpkgs=str(tmp_path / "pkgs")))
    assert 'COPY ["pkgs", "/nixdf/nixpkgs"]' in rendered.text
    assert rendered.external_nixpkgs is None


def test_local_nixpkgs_outside_the_context_comes_from_a_named_source(tmp_path: Path) -> None:
    nixfile = tmp_path / "app" / "Nixfile"
    nixfile.parent.mkdir()
    nixfile.write_text('buildImage { name = "x"; }\n')
    rendered = api.render_path(nixfile, api.RenderOptions(nixpkgs=str(ROOT / "examples" /
                                                                      "offline-pkgs")))
    assert rendered.external_nixpkgs is not None
    image = rendered.external_nixpkgs.image
    assert re.fullmatch(r"nixdf-nixpkgs:[0-9a-f]{32}", image)
    assert f"COPY --from={image} / /nixdf/nixpkgs/" in rendered.text
    assert rendered.external_nixpkgs.path == ROOT / "examples" / "offline-pkgs"


def test_an_outside_package_set_is_named_after_its_content(tmp_path: Path) -> None:
    # Builds at once with different sets must never name one image (Docker 20.10 makes it
    # a local image by that name); the same files, wherever they are, share one.
    nixfile = tmp_path / "app" / "Nixfile"
    nixfile.parent.mkdir()
    nixfile.write_text('buildImage { name = "x"; }\n')

    def image(pkgs: Path) -> str:
        rendered = api.render_path(nixfile, api.RenderOptions(nixpkgs=str(pkgs)))
        assert rendered.external_nixpkgs is not None
        return rendered.external_nixpkgs.image

    first = tmp_path / "one"
    shutil.copytree(ROOT / "examples" / "offline-pkgs", first)
    same = tmp_path / "two"
    shutil.copytree(first, same)
    assert image(first) == image(same)
    (same / "default.nix").write_text((same / "default.nix").read_text() + " ")
    assert image(same) != image(first)
    (same / "default.nix").write_bytes((first / "default.nix").read_bytes())
    (same / "default.nix").chmod(0o755)  # Nix keeps a file's executable bit
    assert image(same) != image(first)
    (same / "default.nix").chmod((first / "default.nix").stat().st_mode)
    (same / "link").symlink_to("default.nix")
    assert image(same) != image(first)


def test_only_nix_inputs_are_copied(tmp_path: Path) -> None:
    (tmp_path / "unrelated.txt").write_text("x")
    (tmp_path / "app.nix").write_text("{ pkgs }: pkgs.hello\n")
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }: buildImage { name = "x"; '
                       'contents = import ./app.nix { inherit pkgs; }; }\n')
    text = api.render_path(nixfile, api.RenderOptions()).text
    copies = [line for line in text.splitlines() if line.startswith("COPY [")]
    assert copies == ['COPY [".nixdf/", "/"]',
                      'COPY ["Nixfile", "/nixdf/src/Nixfile"]',
                      'COPY ["app.nix", "/nixdf/src/app.nix"]']


@pytest.mark.parametrize(("test", "line"), [
    ('[ "NONE" ]', "HEALTHCHECK NONE"),
    ('[ "CMD-SHELL" "curl -f http://localhost/ || exit 1" ]; Retries = 2',
     "HEALTHCHECK --retries=2 CMD curl -f http://localhost/ || exit 1"),
    ('[ "CMD" "/bin/check" ]; Interval = 1500000; Timeout = 2000',
     None),
])
def test_healthcheck_lines(tmp_path: Path, test: str, line: str | None) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(f'buildImage {{ name = "x"; config.Healthcheck = {{ Test = {test}; }}; }}')
    if line is None:
        with pytest.raises(NixdfError, match="under a millisecond"):
            api.render_path(nixfile, api.RenderOptions())
        return
    assert line in api.render_path(nixfile, api.RenderOptions()).text.splitlines()


def test_durations_are_exact() -> None:
    assert [duration(n) for n in (30 * 10**9, 1_500_000_000, 1_000_000, 2_500, 7)] == [
        "30s", "1500ms", "1ms", "2500ns", "7ns"]


DIGEST = "sha256:" + "ab" * 32


def test_pull_image_becomes_a_base_pinned_by_digest(tmp_path: Path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(f'''{{ pkgs, buildImage }}: buildImage {{
  name = "x";
  fromImage = pkgs.dockerTools.pullImage {{
    imageName = "library/debian"; imageDigest = "{DIGEST}";
    sha256 = "unused"; finalImageName = "debian"; finalImageTag = "bookworm";
  }};
}}''')
    text = api.render_path(nixfile, api.RenderOptions()).text
    assert f"FROM library/debian@{DIGEST} AS x" in text.splitlines()


def test_a_let_bound_base_gets_a_stage_and_comes_first(tmp_path: Path) -> None:
    # nixpkgs' examples.nix, layersOrder: l1 and l2 are bound in a let, not attributes.
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }: { layersOrder = let '
                       'l1 = buildImage { name = "l1"; extraCommands = "echo 1 > one"; }; '
                       'l2 = buildImage { name = "l2"; fromImage = l1; }; in '
                       'buildImage { name = "l3"; fromImage = l2; }; }\n')
    froms = [line for line in api.render_path(nixfile, api.RenderOptions()).text.splitlines()
             if line.startswith("FROM ") and not line.endswith("-build")]
    assert froms[2:] == [
        "FROM scratch AS layersorder.fromimage.fromimage-scripts",
        "FROM nix AS layersorder.fromimage.fromimage-tidy",
        "FROM scratch AS layersorder.fromimage.fromimage",
        "FROM layersorder.fromimage.fromimage AS layersorder.fromimage",
        "FROM layersorder.fromimage AS layersorder",
    ]


# Linux refuses to start a program with one argument longer than this (MAX_ARG_STRLEN),
# and BuildKit hands a RUN line to the shell as one argument.
MAX_ARGUMENT = 128 * 1024


def test_locking_many_layered_images_keeps_every_step_under_the_argument_limit() -> None:
    from nixdf.plan import Nixpkgs, PlanOptions, plan

    images = [f"image-{n}" for n in range(80)]  # nixpkgs' examples have 23 layered images
    options = PlanOptions(NIX_IMAGE, Nixpkgs("context", context_path="pkgs"), "Nixfile",
                          ("Nixfile",))
    text = render.render_lock(plan([], options), images, images)
    runs = [i for i in dockerfile.parse_string(text) if i.cmd == "RUN"]
    assert len(runs) == 1 + len(images)
    assert max(len(run.value[0].encode()) for run in runs) < MAX_ARGUMENT
    # Each image's step names it and calls .nixdf/'s lib: a few hundred bytes, not the Nix
    # prelude again.
    assert max(len(run.value[0].encode()) for run in runs[1:]) < 1024


@pytest.fixture
def template_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A fresh jinja2 environment whose compiled-template cache lives under tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    render._environment.cache_clear()
    yield tmp_path / "cache"
    render._environment.cache_clear()


@pytest.mark.parametrize("damage", [None, "garbage", "unwritable"])
def test_compiled_template_cache_never_changes_the_output(
        template_cache: Path, damage: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    nixfile = ROOT / "examples" / "redis" / "Nixfile"
    expected = _render(nixfile, None)  # the first run compiles and fills the cache
    entries = sorted(template_cache.glob("nixdf/templates-*/*.cache"))
    loaded = render._environment().cache
    assert loaded is not None and len(entries) == len(loaded) > 1  # every template it loaded
    if damage is None:  # the next run loads every template, compiling none

        def no_compile(*args: object, **kwargs: object) -> None:
            raise AssertionError("a cached template was compiled again")

        monkeypatch.setattr(render.jinja2.Environment, "compile", no_compile)
    elif damage == "garbage":
        for entry in entries:
            entry.write_bytes(entry.read_bytes()[:40])
    elif damage == "unwritable":  # a file where the cache directory should be
        for entry in entries:
            entry.unlink()
        entries[0].parent.rmdir()
        entries[0].parent.write_text("")
    render._environment.cache_clear()
    assert _render(nixfile, None) == expected


@pytest.mark.parametrize(("created", "hint"), [
    ('"2024-01-01T00:00:00Z"', "--build-arg SOURCE_DATE_EPOCH=1704067200 ."),
    ('"2024-01-01T01:00:00+01:00"', "--build-arg SOURCE_DATE_EPOCH=1704067200 ."),
    ('"now"', "docker buildx build ."),
])
def test_created_is_the_source_date_epoch_of_the_build_hint(
        tmp_path: Path, created: str, hint: str) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(f'buildImage {{ name = "x"; created = {created}; }}\n')
    text = _render(nixfile, None)
    assert text.splitlines()[2].endswith(hint), text.splitlines()[2]
    build = api.prepare_build(nixfile, api.RenderOptions(NIX_IMAGE, None, None), target=None,
                              tags=(), engine=Engine("docker", buildx=True,
                                                     server_version="27.3.1"))
    epoch = None if created == '"now"' else 1704067200
    assert build.requests[0].source_date_epoch == epoch


@pytest.mark.parametrize("nixfile", example_nixfiles(), ids=lambda p: p.parent.name)
def test_the_builtin_frontend_target_is_the_default_without_its_syntax_line(
        nixfile: Path) -> None:
    modern, builtin = _render(nixfile, None), _render(nixfile, "builtin-frontend")
    first, rest = modern.split("\n", 1)
    assert first.startswith("# syntax=") and builtin == rest
    assert "COPY --link" in builtin

"""The plan (nixdf.plan's DockerfilePlan), the data the Dockerfile is written from: one
snapshot per example, as render makes it, and the order its stages must keep."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from nixdf import api
from nixdf.plan import DockerfilePlan

from .conftest import example_nixfiles

EXAMPLES = example_nixfiles()


def _plan(nixfile: Path, compat: str | None = None) -> DockerfilePlan:
    return api.render_path(nixfile, api.RenderOptions(compat=compat)).plan


@pytest.mark.parametrize("nixfile", EXAMPLES, ids=lambda p: p.parent.name)
def test_plan_of_example(nixfile: Path, snapshot) -> None:  # type: ignore[no-untyped-def]
    the_plan = _plan(nixfile)
    assert dataclasses.asdict(the_plan) == dataclasses.asdict(_plan(nixfile)), \
        "planning is not deterministic"
    assert dataclasses.asdict(the_plan) == snapshot


@pytest.mark.parametrize("nixfile", EXAMPLES, ids=lambda p: p.parent.name)
def test_each_build_stage_builds_its_image_and_bases_come_first(nixfile: Path) -> None:
    the_plan = _plan(nixfile)
    assert len(the_plan.builds) == len(the_plan.images)
    stages = [image.name for image in the_plan.images]
    for index, (build, image) in enumerate(zip(the_plan.builds, the_plan.images, strict=True)):
        assert image.build_stage == build.name
        if image.base in stages:
            assert stages.index(image.base) < index, f"{image.name} comes before its base"


@pytest.mark.parametrize("nixfile", EXAMPLES, ids=lambda p: p.parent.name)
def test_the_docker_20_10_target_plans_neither_a_syntax_line_nor_links(nixfile: Path) -> None:
    modern, compat = _plan(nixfile), _plan(nixfile, "docker-20.10")
    assert modern.syntax is not None and modern.link
    assert compat.syntax is None and not compat.link
    # Only the target differs: the stages are the same.
    assert compat.builds == modern.builds and compat.images == modern.images


def test_a_base_image_of_the_nixfile_is_planned_before_the_image_on_it(tmp_path: Path) -> None:
    nixfile = tmp_path / "Nixfile"
    # The image on the base is written first: the plan reorders them.
    nixfile.write_text('{ buildImage }: rec {\n'
                       '  app = buildImage { name = "app"; fromImage = base; };\n'
                       '  base = buildImage { name = "base"; };\n'
                       '}\n')
    the_plan = _plan(nixfile)
    assert [image.name for image in the_plan.images] == ["base", "app"]
    assert the_plan.images[1].base == "base"

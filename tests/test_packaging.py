"""The installed package, not the checkout: the wheel carries grammar/ and templates/,
and a plain `pip install .` into a fresh venv renders from outside the repository."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nixdf import api

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_wheel_carries_grammar_and_templates(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("nixdf-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").glob("*.j2"):
        assert f"nixdf/templates/{template.name}" in names
    assert "nixdf/grammar/nix.lark" in names


def test_plain_pip_install_renders_from_outside_the_checkout(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT)], check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    nixfile = ROOT / "examples" / "redis" / "Nixfile"
    done = subprocess.run([str(venv / "bin" / "nixdf"), "render", str(nixfile)], cwd=work,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == api.render_path(nixfile, api.RenderOptions()).text
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import nixdf; print(nixdf.__file__)"], cwd=work,
                           capture_output=True, text=True, check=True).stdout
    assert str(venv) in where, "the test must exercise the installed copy"

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
    for template in (ROOT / "templates").glob("*.*"):
        if template.suffix in (".j2", ".nix", ".sh"):  # the Dockerfile's, and .nixdf/'s
            assert f"nixdf/templates/{template.name}" in names
    assert "nixdf/grammar/nix.lark" in names


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with a plain (not editable) `pip install` of the checkout."""
    venv = tmp_path_factory.mktemp("packaging") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT)], check=True)
    return venv


def test_plain_pip_install_renders_from_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
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


def test_python_m_nixdf_runs_from_the_checkout_root(venv: Path) -> None:
    # There the checkout's nixdf comes first on sys.path and shadows the installed one.
    python = str(venv / "bin" / "python")
    where = subprocess.run([python, "-c", "import nixdf; print(nixdf.__file__)"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    assert where.strip() == str(ROOT / "nixdf" / "__init__.py"), "the checkout must shadow it"
    done = subprocess.run([python, "-m", "nixdf", "render", "examples/redis/Nixfile"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    nixfile = ROOT / "examples" / "redis" / "Nixfile"
    assert done.stdout == api.render_path(nixfile, api.RenderOptions()).text

"""The pre-commit hooks, run by the real pre-commit against a scratch repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   cwd=repo, check=True, capture_output=True)


def try_repo(repo: Path, hook: str, home: Path) -> subprocess.CompletedProcess[str]:
    # The pre-commit of the environment that runs the tests, never one a machine happens to have.
    pre_commit = Path(sys.executable).parent / "pre-commit"
    assert pre_commit.exists(), f"{pre_commit} is missing: pip install -e '.[test]'"
    # try-repo commits a shadow copy of the hooks' repository: give it an identity.
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org")
    return subprocess.run([str(pre_commit), "try-repo", str(ROOT), hook, "--all-files"], cwd=repo,
                          env=env, capture_output=True, text=True)


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "svc").mkdir()
    shutil.copy(ROOT / "examples" / "redis" / "Nixfile", tmp_path / "svc" / "Nixfile")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "a Nixfile")
    return tmp_path


def test_sync_writes_check_passes_then_fails_on_a_stale_dockerfile(repo: Path,
                                                                    home: Path) -> None:
    first = try_repo(repo, "nixdf-sync", home)
    assert first.returncode == 1, first.stdout  # it wrote a file: stop the commit
    dockerfile = repo / "svc" / "Dockerfile"
    assert dockerfile.read_text().startswith("# syntax=docker/dockerfile:")
    git(repo, "add", "-A")
    fresh = try_repo(repo, "nixdf-check", home)
    assert fresh.returncode == 0, fresh.stdout

    nixfile = repo / "svc" / "Nixfile"
    nixfile.write_text(nixfile.read_text().replace('"/data"', '"/srv"'))
    git(repo, "add", "-A")
    stale = try_repo(repo, "nixdf-check", home)
    assert stale.returncode == 1
    assert '-WORKDIR "/data"' in stale.stdout and '+WORKDIR "/srv"' in stale.stdout
    assert "svc/Dockerfile is out of date" in stale.stdout
    assert 'WORKDIR "/data"' in dockerfile.read_text(), "the check hook writes nothing"

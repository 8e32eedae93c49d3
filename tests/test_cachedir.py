"""The cache directory: XDG's rules, and no cache rather than one in the wrong place."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixdf.cachedir import cache_dir


def test_xdg_cache_home_when_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "nixdf"


@pytest.mark.parametrize("value", ["", "relative/dir"])
def test_home_cache_when_xdg_is_unset_or_relative(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path, value: str) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", value)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "nixdf"


def test_none_without_a_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "not/absolute")
    assert cache_dir() is None

"""The LALR tables: made by lark from grammar/nix.lark, cached on disk, never stale."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nixdf import tables
from nixdf.tables import compile_tables, load


@pytest.fixture()
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "nixdf"


def _same_language(made: tables.Tables) -> bool:
    # lark numbers its states differently from run to run; the symbols and rules do not change.
    fresh = compile_tables()
    return (sorted({t for row in made.actions for t in row})
            == sorted({t for row in fresh.actions for t in row})
            and set(made.rules) == set(fresh.rules)
            and len(made.actions) == len(fresh.actions))


def test_load_caches_the_tables_and_reads_them_back(cache_home: Path) -> None:
    made = load()
    [cached] = cache_home.glob("nix-lalr-*.marshal")
    assert load() == made  # the second time, read back unchanged
    assert _same_language(made)
    assert [p.name for p in cache_home.iterdir()] == [cached.name]  # no temporary left


def test_a_changed_grammar_never_meets_the_old_tables(cache_home: Path) -> None:
    grammar = tables._grammar_text()
    load(grammar)
    # A grammar that no longer knows `assert` must not be served the cached tables.
    smaller = grammar.replace("     | _ASSERT expr _SEMI expr            -> assert_\n", "")
    assert smaller != grammar
    assert "_ASSERT" not in {t for row in load(smaller).actions for t in row}
    assert len(list(cache_home.glob("nix-lalr-*.marshal"))) == 2


def test_a_corrupt_cache_file_is_replaced(cache_home: Path) -> None:
    load()
    [cached] = cache_home.glob("nix-lalr-*.marshal")
    cached.write_bytes(b"\x00garbage")
    assert _same_language(load())
    assert cached.read_bytes() != b"\x00garbage"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only modes")
def test_an_unwritable_cache_only_costs_time(cache_home: Path) -> None:
    cache_home.parent.chmod(0o500)
    try:
        assert _same_language(load())
    finally:
        cache_home.parent.chmod(0o700)
    assert not cache_home.exists()


def test_a_cache_that_is_a_file_only_costs_time(cache_home: Path) -> None:
    cache_home.write_text("not a directory")  # also what root gets for an unwritable home
    assert _same_language(load())

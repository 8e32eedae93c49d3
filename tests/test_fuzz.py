"""A bounded sample of benchmarks/fuzz.py: whatever the input, render or a located error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .conftest import ROOT


def test_a_fuzz_sample_never_escapes_as_a_traceback(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("fuzz", ROOT / "benchmarks" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    counts, failures = fuzz.worker((20261127, 3000, 0, str(tmp_path)))
    assert failures == [], (tmp_path / Path(failures[0]).name).read_text() if failures else ""
    assert counts["rendered"] > 0 and counts["rejected"] > 0
    assert counts["rendered"] + counts["rejected"] == 3000

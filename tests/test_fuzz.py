"""A bounded sample of the fuzzer (benchmarks/fuzz.py runs millions): whatever the input,
render or a located error."""

from __future__ import annotations

from pathlib import Path

from .fuzzing import worker


def test_a_fuzz_sample_never_escapes_as_a_traceback(tmp_path: Path) -> None:
    counts, failures = worker((20261127, 3000, 0, str(tmp_path)))
    assert failures == [], (tmp_path / Path(failures[0]).name).read_text() if failures else ""
    assert counts["rendered"] > 0 and counts["rejected"] > 0
    assert counts["rendered"] + counts["rejected"] == 3000

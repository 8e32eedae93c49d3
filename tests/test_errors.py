"""The one error format: file:line:col, the line, a caret under the span, a hint."""

from __future__ import annotations

from nixdf.errors import NixdfError, Span


def test_format_with_line_caret_and_hint() -> None:
    err = NixdfError("expected ';'", Span("Nixfile", 2, 7, 2, 8), hint="add one")
    err.with_source('{\n  a = "x"\n}\n')
    assert str(err).splitlines() == [
        "Nixfile:2:7: error: expected ';'", '      a = "x"', "          ^", "  hint: add one"]


def test_a_long_line_is_cut_around_the_column() -> None:
    err = NixdfError("m", Span("f", 1, 300, 1, 305)).with_source("x" * 299 + "HELLO" + "y" * 400)
    line, caret = str(err).splitlines()[1:]
    assert len(line) <= 4 + 102 and line.startswith("    …") and line.endswith("…")
    assert line[caret.index("^"):caret.index("^") + 5] == "HELLO"


def test_without_a_location_or_source() -> None:
    assert str(NixdfError("no engine")) == "error: no engine"
    assert str(NixdfError("m", Span("f", 3, 1, 3, 2))) == "f:3:1: error: m"

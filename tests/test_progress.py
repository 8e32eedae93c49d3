"""What of BuildKit's output is shown: echoed commands cut, step output whole."""

from __future__ import annotations

from nixdf.progress import Shown, shorten

LONG = "nix-build --expr '" + "x " * 2000 + "'"


def show(lines: list[str], *, repeats_shown: bool = True) -> list[str]:
    shown = Shown(repeats_shown=repeats_shown)
    out = [text for line in lines for text in shown.feed(line)]
    return out + list(shown.close())


def test_an_echoed_command_is_cut_and_keeps_its_step_number() -> None:
    line = f"#9 [app-build 3/3] RUN --mount=type=cache,id=x,target=/nix {LONG}"
    cut = shorten(line)
    assert cut.startswith("#9 [app-build 3/3] RUN --mount=type=cache")
    assert cut.endswith(f"… [{len(line) - 96} more characters]") and len(cut) < 130
    for echo in (f'#9 ERROR: executor failed running [/bin/sh -c {LONG}]: exit code: 1',
                 f' > [app-build 3/3] RUN {LONG}', f'ERROR: failed to solve: process "{LONG}"',
                 f"executor failed running [/bin/sh -c {LONG}]", f"STEP 3/5: RUN {LONG}"):
        assert len(shorten(echo)) < 130, echo


def test_step_output_and_short_lines_are_never_cut() -> None:
    output = f"#9 12.3 gcc -O2 {LONG}"
    assert shorten(output) == output
    assert shorten("#9 [app 1/2] COPY a /b") == "#9 [app 1/2] COPY a /b"
    # Cutting a few characters would make the line longer, with the mark.
    barely = "#9 [app 1/2] COPY " + "a" * 100
    assert shorten(barely) == barely


def test_the_quoted_dockerfile_becomes_one_line() -> None:
    lines = ["Dockerfile:12", "-" * 20, "  11 |     COPY a b", f"  12 | >>> RUN {LONG}",
             "  13 | >>>     set -eu", "-" * 20, "ERROR: failed to solve: exit code: 1"]
    assert show(lines) == ["Dockerfile:12: the failing instruction (3 lines; `nixdf render` "
                           "prints the Dockerfile)", "ERROR: failed to solve: exit code: 1"]


def test_a_line_that_only_looks_like_a_quote_is_shown() -> None:
    assert show(["Dockerfile:12", "something else"]) == ["Dockerfile:12", "something else"]
    assert show(["Dockerfile:12"]) == ["Dockerfile:12"]


def test_the_summary_leaves_out_output_already_shown_in_plain_mode() -> None:
    summary = ["------", " > [app-build 3/3] RUN nix-build:", "0.301 error: attribute 'helo'",
               "0.301 Did you mean hello?", "------"]
    assert show(summary) == ["------", " > [app-build 3/3] RUN nix-build:",
                             " (2 lines of the step's output, shown above)", "------"]
    # A terminal's live display showed only a window of it: the summary keeps it.
    assert show(summary, repeats_shown=False) == summary

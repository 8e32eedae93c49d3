"""What a build prints, built for real: BuildKit's live display on a terminal, plain
progress in a pipe, and a failure that ends with nixdf's located error instead of pages
of the step's command echoed again."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import OFFLINE_PKGS, ROOT
from .test_examples import build

pytestmark = pytest.mark.docker

TYPO = ('{ pkgs, buildImage }:\nbuildImage {\n  name = "nixdf-test/typo";\n'
        '  contents = pkgs.helo;\n}\n')
# The measure: a misspelt package printed 17–22 KB, its located error last.
MOST_BYTES = 5000


def located(nixfile: Path) -> list[str]:
    return [
        f"{nixfile}:4:14: error: Nix: attribute 'helo' missing",
        "      contents = pkgs.helo;",
        "                 ^",
        "  hint: Did you mean hello?",
    ]


def typo(tmp_path: Path) -> Path:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(TYPO)
    return nixfile


def test_a_misspelt_package_prints_little_and_ends_with_the_located_error(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = typo(tmp_path)
    done = build(engine_env, offline_image, nixfile, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    size = len(done.stdout.encode()) + len(done.stderr.encode())
    assert size <= MOST_BYTES, done.stderr
    assert done.stderr.splitlines()[-4:] == located(nixfile)
    # Nix's own message, as the step printed it, and the step's number stay.
    assert re.search(r"^#\d+ \d+\.\d+ error: attribute 'helo' missing$", done.stderr, re.M)
    assert re.search(r"^#\d+ \[typo-build \d/\d\] RUN .* more characters\]$", done.stderr, re.M)
    assert max(len(line) for line in done.stderr.splitlines()) <= 400


def test_progress_plain_shows_all_buildkit_wrote(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = typo(tmp_path)
    done = build(engine_env, offline_image, nixfile, "--progress", "plain", check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "more characters]" not in done.stderr
    # The build step's command whole, to its last call.
    assert re.search(r"own_root;\s+stamp 1\n", done.stderr)
    assert done.stderr.splitlines()[-4:] == located(nixfile)


def test_a_terminal_gets_the_live_display_and_the_located_error(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = typo(tmp_path)
    leader, follower = pty.openpty()
    with subprocess.Popen(
            [sys.executable, "-m", "nixdf", "build", str(nixfile), "--nix-image", offline_image,
             "--nixpkgs", str(OFFLINE_PKGS)], env=engine_env, cwd=ROOT,
            stdin=subprocess.DEVNULL, stdout=follower, stderr=follower) as proc:
        os.close(follower)
        written = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            written += chunk
    os.close(leader)
    assert proc.returncode == 2, written[-2000:]
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", written.decode()).replace("\r\n", "\n")
    # BuildKit drew its display (it does only on a terminal), redrawn in place.
    assert "[+] Building" in text and "\x1b[" in written.decode()
    assert " => ERROR [typo-build 3/3] RUN" in text
    assert text.rstrip("\n").splitlines()[-4:] == located(nixfile)
    # The summary's echo of the step is cut as in a pipe; the display's own lines are short.
    assert max(len(line) for line in text.splitlines()) <= 400


def test_a_failure_nixdf_cannot_place_ends_with_the_steps_last_lines(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\nbuildImage {\n  name = "nixdf-test/script";\n'
                       '  contents = pkgs.hello;\n  runAsRoot = "echo preparing /data; '
                       'echo cannot make /data: the disk is full >&2; exit 1";\n}\n')
    done = build(engine_env, offline_image, nixfile, check=False)
    assert done.returncode == 3, done.stderr[-2000:]
    ending = done.stderr[done.stderr.rindex("error: the build failed"):].splitlines()
    assert re.fullmatch(r"  step #\d+ ended with:", ending[1])
    assert sorted(ending[2:4]) == ["    > cannot make /data: the disk is full",
                                   "    > preparing /data"]
    assert ending[4].startswith("  hint: the whole output of step #") and len(ending) == 5
    assert len(done.stdout.encode()) + len(done.stderr.encode()) <= MOST_BYTES

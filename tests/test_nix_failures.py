"""What a build says when Nix stops in the builder, built for real on the engine: a
package whose own build fails is exit 3 and named; a Nixfile Nix finds wrong is exit 2
at its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import OFFLINE_PKGS
from .test_examples import build

pytestmark = pytest.mark.docker

# A package whose build script prints `error: …` and fails, as a compiler does.
BROKEN = """  broken = mkPackage "broken-1.0" ''
    echo compiling main.c
    echo 'error: boom' >&2
    exit 1
  '';
  # More output than BuildKit shows of a step (200 KiB/s, 2 MiB in all, by default).
  noisy = mkPackage "noisy-1.0" ''
    i=0
    while [ $i -lt 40000 ]; do
      echo "line $i of a long build log, padded to sixty bytes"; i=$((i+1))
    done
    exit 1
  '';
  # A fetcher's kind of package: its output must have the hash given, and has not.
  fixed = derivation {
    name = "fixed-1.0";
    inherit system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "echo hi > $out" ];
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "0000000000000000000000000000000000000000000000000000";
  };
"""


@pytest.fixture
def pkgs(tmp_path: Path) -> Path:
    """The offline package set with a package whose build fails."""
    source = (OFFLINE_PKGS / "default.nix").read_text()
    anchor = "\n  base = rec {\n"  # the set's own packages, before the overlays
    assert anchor in source
    directory = tmp_path / "pkgs"
    directory.mkdir()
    (directory / "default.nix").write_text(source.replace(anchor, anchor + BROKEN))
    return directory


def test_a_package_whose_build_fails_is_named_with_its_log(  # type: ignore[no-untyped-def]
        engine_env, offline_image, pkgs, tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\nbuildImage {\n  name = "nixdf-test/broken";\n'
                       '  contents = [ pkgs.hello pkgs.broken ];\n}\n')
    done = build(engine_env, offline_image, nixfile, nixpkgs=pkgs, check=False)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    message = done.stderr[done.stderr.rindex("error: Nix could not build"):].splitlines()
    assert message[0] == ("error: Nix could not build the package broken-1.0: its builder "
                          "failed with exit code 1")
    assert message[1].startswith("  derivation: /nix/store/")
    assert message[1].endswith("-broken-1.0.drv")
    assert message[2:5] == ["  the last 2 lines of its log:", "    > compiling main.c",
                            "    > error: boom"]
    assert message[5].startswith("  hint: its whole log is in the build output above")
    # Nix's own line stays in the output the user saw.
    assert "failed with exit code 1" in done.stderr[:done.stderr.rindex("error: Nix could")]


def test_a_package_of_another_hash_is_named_with_both_hashes(  # type: ignore[no-untyped-def]
        engine_env, offline_image, pkgs, tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\nbuildImage {\n  name = "nixdf-test/fixed";\n'
                       '  contents = [ pkgs.fixed ];\n}\n')
    done = build(engine_env, offline_image, nixfile, nixpkgs=pkgs, check=False)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    message = done.stderr[done.stderr.rindex("error: Nix could not build"):].splitlines()
    assert message[0] == ("error: Nix could not build the package fixed-1.0: its builder made "
                          "an output whose hash is not the one given (its outputHash)")
    assert message[2] == "  specified: sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    assert message[3].startswith("  got:    sha256-")


def test_a_package_whose_log_buildkit_clipped_says_how_to_see_it_all(  # type: ignore[no-untyped-def]
        engine_env, offline_image, pkgs, tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\nbuildImage {\n  name = "nixdf-test/noisy";\n'
                       '  contents = pkgs.noisy;\n}\n')
    done = build(engine_env, offline_image, nixfile, nixpkgs=pkgs, check=False)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "[output clipped" in done.stderr
    message = done.stderr[done.stderr.rindex("error: Nix could not build"):].splitlines()
    assert message[3:5] == ["    > line 39990 of a long build log, padded to sixty bytes",
                            "    > line 39991 of a long build log, padded to sixty bytes"]
    assert "BuildKit clipped it" in message[-1]
    assert "BUILDKIT_STEP_LOG_MAX_SIZE=-1" in message[-1]


def test_names_only_nix_knows_are_checked_once_the_lock_says_them(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\n{\n'
                       '  a = buildImage { name = "nixdf-test/dup-${pkgs.lib.version}"; };\n'
                       '  b = buildImage { name = "nixdf-test/dup-offline"; };\n}\n')
    done = build(engine_env, offline_image, nixfile, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    error = done.stderr[done.stderr.rindex(f"{nixfile}:4:"):].splitlines()
    assert error[0].endswith(
        "error: the images a and b are both named nixdf-test/dup-offline:latest")
    assert f"a is named at {nixfile}:3:" in error[-1]


def test_an_item_of_the_contents_that_is_no_package_stops_at_its_place(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    # pkgs.lib is a set, but only Nix knows it: nix-build left it out, the image had hello only.
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text('{ pkgs, buildImage }:\nbuildImage {\n  name = "nixdf-test/not-a-package";\n'
                       '  contents = [ pkgs.hello pkgs.lib ];\n}\n')
    done = build(engine_env, offline_image, nixfile, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr[done.stderr.rindex(f"{nixfile}:4:27:"):].splitlines() == [
        f"{nixfile}:4:27: error: an item of 'contents' must be a package, not a set",
        "      contents = [ pkgs.hello pkgs.lib ];",
        "                              ^^^^^^^^",
        "  hint: each item of the contents is a package (a derivation, such as pkgs.hello), "
        "whose store path is copied into the image.",
    ]


def test_a_nix2container_layer_item_that_is_no_package_stops_at_its_place(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text(
        '{ pkgs, nix2container }:\n'
        'let extra = [ pkgs.hello ] ++ [ pkgs.lib ]; in\n'
        'nix2container.buildImage {\n  name = "nixdf-test/n2c-not-a-package";\n'
        '  layers = [\n    (nix2container.buildLayer { deps = [ pkgs.hello ]; })\n'
        '    (nix2container.buildLayer { layers = [ (nix2container.buildLayer '
        '{ copyToRoot = extra; }) ]; })\n  ];\n}\n')
    done = build(engine_env, offline_image, nixfile, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr[done.stderr.rindex(f"{nixfile}:2:"):].splitlines()[:3] == [
        f"{nixfile}:2:33: error: an item of 'copyToRoot' must be a package, not a set",
        "    let extra = [ pkgs.hello ] ++ [ pkgs.lib ]; in",
        "                                    ^^^^^^^^",
    ]

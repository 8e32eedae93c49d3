"""Finding Nix's error in BuildKit's plain progress output."""

from __future__ import annotations

from nixdf.buildlog import NixFailure, nix_failure

LOG = """#9 [err-build 3/3] RUN --mount=type=cache,id=nixdf-nix-be87,target=/nix set -eu; nix-build
#9 sha256:79210f29221587f4420fd410646c889ed9af9168c4d6aacf28c3ffa07f075ee4
#9 0.281 error: attribute 'helo' missing
#9 0.281
#9 0.281        at /nixdf/src/sub/app.nix:4:14:
#9 0.281
#9 0.281             4|   contents = pkgs.helo;
#9 0.281              |              ^
#9 0.281        Did you mean hello?
#9 0.281 (use '--show-trace' to show detailed location information)
#9 ERROR: executor failed running [/bin/sh -c set -eu; nix-build]: exit code: 1
""".splitlines()


def test_error_position_and_suggestion() -> None:
    assert nix_failure(LOG, "/nixdf/src") == NixFailure(
        "attribute 'helo' missing", "sub/app.nix", 4, 14, "Did you mean hello?")


def test_error_without_position() -> None:
    log = ["#9 0.5 error: getting status of '/nixdf/nixpkgs': No such file or directory"]
    assert nix_failure(log, "/nixdf/src") == NixFailure(
        "getting status of '/nixdf/nixpkgs': No such file or directory")


def test_a_failing_builder_is_not_taken_for_the_cause() -> None:
    log = ["#9 0.5 error: builder for '/nix/store/x.drv' failed with exit code 1"]
    assert nix_failure(log, "/nixdf/src") is None


def test_no_nix_error() -> None:
    assert nix_failure(["#9 ERROR: executor failed running [/bin/sh]: exit code: 1"],
                       "/nixdf/src") is None

"""Finding Nix's error in BuildKit's plain progress output."""

from __future__ import annotations

from nixdf.buildlog import (
    BuildFailure,
    NixFailure,
    NotAPackage,
    build_failure,
    failed_step,
    nix_failure,
    not_a_package,
)

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


def test_error_in_the_summary_of_a_terminal_display() -> None:
    # buildx's live display leaves the failed step's last lines in its summary, prefixed
    # with their time only.
    summary = [line.split(" ", 1)[1] for line in LOG[2:10]]
    assert summary[0] == "0.281 error: attribute 'helo' missing"
    assert nix_failure([" > [err-build 3/3] RUN nix-build:", *summary],
                       "/nixdf/src") == NixFailure(
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


# A package whose build script fails, as three Nix versions report it. The script printed
# `error: boom`, as gcc and make do: that line is the package's, not an error of Nix.
DRV = "/nix/store/98svwfalvsspldiwhx1pkfxi9ni2b70l-broken-1.0.drv"
NIX_2_8 = f"""#8 0.257 this derivation will be built:
#8 0.257   {DRV}
#8 0.279 building '{DRV}'...
#8 0.281 compiling main.c
#8 0.281 error: boom
#9 0.281 a line of another step
#8 0.283 error: builder for '{DRV}' failed with exit code 1
#8 ERROR: executor failed running [/bin/sh -c set -eu; nix-build]: exit code: 100
""".splitlines()
NIX_2_18 = f"""#8 0.279 building '{DRV}'...
#8 0.283 error: builder for '{DRV}' failed with exit code 1;
#8 0.283        last 2 log lines:
#8 0.283        > compiling main.c
#8 0.283        > error: boom
#8 0.283        For full logs, run 'nix log {DRV}'.
#8 ERROR: executor failed running [/bin/sh -c set -eu; nix-build]: exit code: 100
""".splitlines()
NIX_2_30 = f"""#8 0.283 error: Cannot build '{DRV}'.
#8 0.283        Reason: builder failed with exit code 1.
#8 0.283        Output paths:
#8 0.283          /nix/store/0i3vqb6h3c4f9zpm4jrbnqkmzmwhm1ak-broken-1.0
#8 0.283        Last 2 log lines:
#8 0.283        > compiling main.c
#8 0.283        > error: boom
#8 0.283        For full logs, run:
#8 0.283          nix log {DRV}
#8 0.290 error: 1 dependencies of derivation '/nix/store/x-app.drv' failed to build
""".splitlines()


def test_a_failed_package_as_each_nix_reports_it() -> None:
    for log in (NIX_2_8, NIX_2_18, NIX_2_30):
        assert build_failure(log) == BuildFailure(
            DRV, "broken-1.0", "failed with exit code 1", ("compiling main.c", "error: boom"),
            "8")


def test_a_failed_package_log_shows_its_last_lines() -> None:
    log = [f"#8 0.1 building '{DRV}'...", *(f"#8 0.2 line {n}" for n in range(30)),
           f"#8 0.3 error: builder for '{DRV}' failed due to signal 9 (Killed)"]
    failed = build_failure(log)
    assert failed is not None and failed.reason == "failed due to signal 9 (Killed)"
    assert failed.log == tuple(f"line {n}" for n in range(20, 30))


def test_a_package_of_another_hash() -> None:
    fixed = DRV.replace("broken", "fixed")
    log = [f"#6 0.3 building '{fixed}'...",
           f"#6 0.4 error: hash mismatch in fixed-output derivation '{fixed}':",
           "#6 0.4          specified: sha256-AAAA=", "#6 0.4             got:    sha256-mOpu="]
    failed = build_failure(log)
    assert failed is not None and failed.name == "fixed-1.0" and failed.step == "6"
    assert failed.hashes == ("specified: sha256-AAAA=", "got:    sha256-mOpu=")


def test_a_failed_package_whose_output_buildkit_clipped() -> None:
    clipped = "#8 0.3 [output clipped, log limit 200KiB/s reached]"
    failed = build_failure([clipped, *NIX_2_8])
    assert failed is not None and failed.clipped
    other_step = build_failure(["#9 0.3 [output clipped, log limit 2MiB reached]", *NIX_2_8])
    assert other_step is not None and not other_step.clipped


def test_an_evaluation_error_is_no_failed_package() -> None:
    assert build_failure(LOG) is None


def test_an_item_that_is_no_package_as_nix_reports_it() -> None:
    thrown = ('nixdf: item 2 of the layers.1.layers.0.copyToRoot of image "app.fromImage" is '
              'not a package (a derivation) but a set')
    # Nix 2.8 gives the message on its "error:" line; newer Nix indents it under a trace.
    for line in (f"#8 0.3 error: {thrown}", f"#8 0.3        error: {thrown}"):
        assert not_a_package(["#8 0.2 error:", line]) == NotAPackage(
            "app.fromImage", ("layers", "1", "layers", "0", "copyToRoot"), 2, "a set")
    whole = 'nixdf: the contents of image "" is not a package (a derivation) but a string'
    assert not_a_package([f"#8 0.3 error: {whole}"]) == NotAPackage(
        None, ("contents",), None, "a string")
    assert not_a_package(LOG) is None


# Nix 2.13 on: a bare "error:", a trace, then the message with its position.
NIX_2_31 = """#9 0.4 error:
#9 0.4        … while evaluating the attribute 'contents'
#9 0.4          at /nixdf/src/sub/app.nix:4:3:
#9 0.4             3|   name = "t/typo";
#9 0.4             4|   contents = pkgs.helo;
#9 0.4              |   ^
#10 0.4 a line of another step
#9 0.4
#9 0.4        error: attribute 'helo' missing
#9 0.4
#9 0.4        at /nixdf/src/sub/app.nix:4:14:
#9 0.4             3|   name = "t/typo";
#9 0.4             4|   contents = pkgs.helo;
#9 0.4              |              ^
#9 0.4        Did you mean hello?
#9 ERROR: executor failed running [/bin/sh -c set -eu; nix-build]: exit code: 1
""".splitlines()


def test_error_after_a_trace_as_newer_nix_prints_it() -> None:
    assert nix_failure(NIX_2_31, "/nixdf/src") == NixFailure(
        "attribute 'helo' missing", "sub/app.nix", 4, 14, "Did you mean hello?")


def test_error_after_a_trace_outside_the_context_takes_the_last_frame_in_it() -> None:
    log = ["#9 0.4 error:", "#9 0.4        … while calling a function",
           "#9 0.4          at /nixdf/src/Nixfile:7:5:", "#9 0.4",
           "#9 0.4        error: value is a string while a set was expected",
           "#9 0.4        at /nixdf/nixpkgs/default.nix:3:1:"]
    assert nix_failure(log, "/nixdf/src") == NixFailure(
        "value is a string while a set was expected", "Nixfile", 7, 5)


def test_a_failed_step_is_told_by_its_last_lines() -> None:
    log = ["#11 [app-scripts 1/2] COPY --from=app-build /out/root/ /", "#11 DONE 0.1s", "",
           "#12 [app-scripts 2/2] RUN set -e; mkdir /data", "#12 0.1 preparing /data",
           "#12 0.1 ", "#12 0.2 cannot make /data: the disk is full",
           "#12 ERROR: process \"/bin/sh -c set -e; mkdir /data\" did not complete",
           "------", " > [app-scripts 2/2] RUN set -e; mkdir /data:", "------"]
    assert failed_step(log) == ("12", ("preparing /data", "cannot make /data: the disk is full"))
    assert failed_step(["#12 [app 1/1] RUN true", "#12 DONE 0.1s"]) is None


"""Images on a fromImage base, built for real.

Their layer holds only what the image adds to its base: no store path the base has and, when
they have scripts (runAsRoot, extraCommands, fakeRootCommands), none of the mount points a
RUN leaves behind; it is the same at every build. The scripts run as root, as dockerTools runs
them, yet the image keeps the user its base says, also when the base is an image reference
whose config nixdf never sees.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from .conftest import saved_layer_members
from .test_examples import build, config, files, layers, run

pytestmark = pytest.mark.docker

BASE = """\
  base = buildImage {
    name = "nixdf-test/frombase-base";
    tag = "1";
    contents = pkgs.busybox;
    config.User = "1000:1000";
  };
"""


def own_layers(env: dict[str, str], ref: str, base: str) -> list[dict[str, tarfile.TarInfo]]:
    """The layers ``ref`` has on top of ``base``'s."""
    below = layers(env, base)
    assert layers(env, ref)[:len(below)] == below
    return saved_layer_members(env, ref)[len(below):]


def store_names(tree: dict[str, tarfile.TarInfo]) -> set[str]:
    return {n.split("/")[2] for n in tree if n.startswith("nix/store/") and n.count("/") >= 2}


def test_a_script_on_a_base_of_the_nixfile_keeps_its_user_and_adds_only_its_own(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text("{ pkgs, buildImage }:\nrec {\n" + BASE + """\
  app = buildImage {
    name = "nixdf-test/frombase-app";
    tag = "1";
    fromImage = base;
    contents = pkgs.hello;
    runAsRoot = "mkdir -p /opt/app; id -u > /opt/app/built-by";
  };
}
""")
    build(engine_env, offline_image, nixfile)
    base, app = "nixdf-test/frombase-base:1", "nixdf-test/frombase-app:1"
    # The script ran as root; the image runs as its base's user.
    assert config(engine_env, app)["User"] == "1000:1000"
    assert run(engine_env, app, "/bin/id", "-u") == "1000\n"
    assert run(engine_env, app, "/bin/cat", "/opt/app/built-by") == "0\n"
    assert files(engine_env, app)["opt/app"].isdir()
    # One layer on the base: the root and what the script made, nothing the base has.
    [own] = own_layers(engine_env, app, base)
    [below] = saved_layer_members(engine_env, base)
    shared = store_names(own) & store_names(below)
    assert not shared, f"store paths the base holds, again in the app's layer: {shared}"
    assert any(n.endswith("-hello") for n in store_names(own))
    assert {n.split("/")[0] for n in own} == {"bin", "nix", "opt"}, sorted(own)
    assert all(entry.mtime == 1 for entry in own.values())


def test_a_script_on_an_image_reference_keeps_the_base_user(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    base_dir, app_dir = tmp_path / "base", tmp_path / "app"
    base_dir.mkdir()
    app_dir.mkdir()
    (base_dir / "Nixfile").write_text("{ pkgs, buildImage }:\n"
                                      + BASE.replace("  base = ", "").rstrip(";\n") + "\n")
    build(engine_env, offline_image, base_dir / "Nixfile", "-t", "nixdf-test/frombase-ref:1")
    (app_dir / "Nixfile").write_text("""\
{ pkgs, buildImage }:
buildImage {
  name = "nixdf-test/frombase-on-ref";
  tag = "1";
  fromImage = "nixdf-test/frombase-ref:1";
  runAsRoot = "mkdir -p /opt/app";
}
""")
    build(engine_env, offline_image, app_dir / "Nixfile")
    app = "nixdf-test/frombase-on-ref:1"
    assert config(engine_env, app)["User"] == "1000:1000"
    assert run(engine_env, app, "/bin/id", "-u") == "1000\n"
    [own] = own_layers(engine_env, app, "nixdf-test/frombase-ref:1")
    assert sorted(own) == ["opt", "opt/app"]


def test_a_script_layer_on_a_base_is_the_same_at_every_build(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text("{ pkgs, buildImage }:\nrec {\n" + BASE + """\
  app = buildImage {
    name = "nixdf-test/frombase-repro";
    fromImage = base;
    extraCommands = "mkdir -p srv; echo made > srv/file";
  };
}
""")
    built = []
    for round_ in (1, 2):
        build(engine_env, offline_image, nixfile, "--target", "app",
              "-t", f"nixdf-test/frombase-repro:{round_}", "--", "--no-cache")
        built.append(layers(engine_env, f"nixdf-test/frombase-repro:{round_}"))
    assert built[0] == built[1]
    [own] = own_layers(engine_env, "nixdf-test/frombase-repro:1", "nixdf-test/frombase-base:1")
    assert sorted(own) == ["srv", "srv/file"], "no dev, etc, proc or sys left by the RUN"


def test_a_script_that_deletes_from_its_base_stops_the_build(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    # A layer on a base can add, not delete: the image would still have the file.
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text("{ pkgs, buildImage }:\nrec {\n" + BASE + """\
  app = buildImage {
    name = "nixdf-test/frombase-delete";
    fromImage = base;
    runAsRoot = "rm /bin/ls";
  };
}
""")
    done = build(engine_env, offline_image, nixfile, "--target", "app", check=False)
    assert done.returncode != 0
    assert "removed from its fromImage" in done.stderr and "  /bin/ls" in done.stderr


def test_a_base_of_the_nixfile_is_not_repeated_in_the_image_layer(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    # dockerTools' buildImage leaves out of its layer the store paths its fromImage has.
    nixfile = tmp_path / "Nixfile"
    nixfile.write_text("{ pkgs, buildImage }:\nrec {\n" + BASE + """\
  app = buildImage {
    name = "nixdf-test/frombase-dedup";
    fromImage = base;
    contents = pkgs.hello;
    config.Cmd = [ "/bin/hello" ];
  };
}
""")
    build(engine_env, offline_image, nixfile)
    app = "nixdf-test/frombase-dedup:latest"
    [below] = saved_layer_members(engine_env, "nixdf-test/frombase-base:1")
    [own] = own_layers(engine_env, app, "nixdf-test/frombase-base:1")
    assert any(n.endswith("-busybox-static") for n in store_names(below))
    assert {n.rsplit("-", 1)[-1] for n in store_names(own)} == {"hello", "1.0"}, sorted(own)
    # hello's script runs the base's busybox from the store the base brought.
    assert run(engine_env, app) == "Hello from nixdf\n"
    assert (own["nix/store"].mode & 0o777, own["nix/store"].uid) == (0o555, 0)

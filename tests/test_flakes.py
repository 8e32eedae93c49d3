"""Flakes as Nixfiles (issue 12): every shape built for real on the offline builder, with the
offline package set as the flake's nixpkgs and stand-ins for flake-utils and flake-parts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nixdf.cli import _joined_overrides
from nixdf.errors import UsageError
from nixdf.flake import nixfile_text, resolve

from .conftest import OFFLINE_PKGS, ROOT, docker, engine_name
from .test_examples import config, nixdf

FLAKES = ROOT / "tests" / "data" / "flakes"


def flake_copy(tmp_path: Path, name: str) -> Path:
    """The flake and the stand-ins beside it, so the lock nixdf writes lands in tmp_path."""
    for part in (name, "flake-utils", "flake-parts"):
        shutil.copytree(FLAKES / part, tmp_path / part)
    return tmp_path / name


# --- selection, no engine ------------------------------------------------------------

def test_selection_forms(tmp_path: Path) -> None:
    (tmp_path / "flake.nix").write_text("{ outputs = { self }: { }; }")
    assert resolve(f"{tmp_path}#app", None) == (tmp_path / "flake.nix", "app", True)
    assert resolve(str(tmp_path / "flake.nix"), "images.api") == (
        tmp_path / "flake.nix", "images.api", True)
    assert resolve(str(tmp_path), None) == (tmp_path / "flake.nix", None, True)
    assert resolve(str(tmp_path / "Nixfile"), "app") == (tmp_path / "flake.nix", "app", True)
    (tmp_path / "Nixfile").write_text("{ }")
    assert resolve(str(tmp_path), "x") == (tmp_path / "Nixfile", "x", False)
    with pytest.raises(UsageError):
        resolve(f"{tmp_path}#a", "b")


def test_override_input_takes_two_words() -> None:
    assert _joined_overrides(["build", "--override-input", "a", "/x", "--", "--override-input"]
                             ) == ["build", "--override-input=a=/x", "--", "--override-input"]


def test_found_images_become_a_nixfile() -> None:
    found = [{"path": ["packages", "x86_64-linux", "images", "api"],
              "image": {"__nixdf": "call", "builder": "buildImage",
                        "args": {"name": "a${b}", "contents": [{"__nixdf": "opaque"}],
                                 "config": {"Cmd": ["/bin/x"]}}}}]
    text = nixfile_text(found, "x86_64-linux")
    assert '"images-api" = buildImage {' in text
    assert '"name" = "a\\${b}";' in text and "(pkgs.fromFlake)" in text


def test_syntax_error_in_flake_is_located(tmp_path: Path) -> None:
    (tmp_path / "flake.nix").write_text("{\n  outputs = { self }: { packages = 1 };\n}\n")
    done = nixdf(None, "render", f"{tmp_path}#x", check=False)
    assert done.returncode == 2
    assert "flake.nix:2:" in done.stderr and "^" in done.stderr, done.stderr


def test_syntax_error_in_imported_file_is_located(tmp_path: Path) -> None:
    shutil.copytree(FLAKES / "callpackage", tmp_path / "app")
    (tmp_path / "app" / "image.nix").write_text("{ dockerTools }:\ndockerTools.buildImage {\n")
    done = nixdf(None, "render", str(tmp_path / "app" / "flake.nix"), "--target", "docker",
                 check=False)
    assert done.returncode == 2
    assert "image.nix:3:" in done.stderr, done.stderr


# --- real builds ---------------------------------------------------------------------

SHAPES = {
    # flake, attribute, tag, extra arguments, what the container prints
    "legacy": ("hello", "nixdf-test-flake-legacy:v1", (), "Hello from nixdf"),
    "overlay": ("default", "nixdf-test-flake-overlay:latest", (), "overlaid"),
    "callpackage": ("docker", "nixdf-test-flake-callpackage:latest", ("flake-utils",),
                    "Hello from nixdf"),
    "utils": ("docker", "nixdf-test-flake-utils:latest", ("flake-utils",), "Hello from nixdf"),
    "parts": ("docker", "nixdf-test-flake-parts:latest", ("flake-parts",), "Hello from nixdf"),
    "n2c": ("hello", "nixdf-test-flake-n2c:latest", (), "Hello from nixdf"),
    "helpers": ("default", "nixdf-test-flake-helpers:latest", (), "nobody:x:65534"),
    "callpackage/viaPkgs": ("viaPkgs", "nixdf-test-flake-callpackage-pkgs:latest", ("flake-utils",),
                            "Hello from nixdf"),
}


@pytest.mark.docker
@pytest.mark.parametrize("shape", list(SHAPES))
def test_flake_shape_builds_and_runs(shape: str, engine_env: dict[str, str],
                                     offline_image: str, tmp_path: Path) -> None:
    attr, ref, inputs, printed = SHAPES[shape]
    flake = flake_copy(tmp_path, shape.split("/")[0])
    ref = f"{ref.split(':')[0]}-{engine_name(engine_env)}:{ref.split(':')[1]}"
    overrides = [w for name in inputs for w in ("--override-input", name, str(tmp_path / name))]
    nixdf(engine_env, "build", str(flake / "flake.nix"), "--target", attr, "-t", ref,
          "--nix-image", offline_image, "--nixpkgs", str(OFFLINE_PKGS), *overrides)
    try:
        run = docker(engine_env, "run", "--rm", ref)
        assert printed in run.stdout
        # The render of the same flake, now locked, names the same image.
        rendered = nixdf(engine_env, "render", f"{flake}#{attr}", "--nix-image", offline_image,
                         "--nixpkgs", str(OFFLINE_PKGS), *overrides).stdout
        assert "FROM scratch AS " in rendered
        assert not (flake / "flake.lock").exists() or shape == "legacy"
    finally:
        docker(engine_env, "image", "rm", "-f", ref, check=False)


@pytest.mark.docker
def test_flake_config_and_nested_attr(engine_env: dict[str, str], offline_image: str,
                                      tmp_path: Path) -> None:
    """Store paths only Nix knows in config; a nested image by its short path; the
    user's flake.lock is read, never written."""
    flake = flake_copy(tmp_path, "legacy")
    before = (flake / "flake.lock").read_text()
    suffix = engine_name(engine_env)
    nixdf(engine_env, "build", f"{flake}#hello", "-t", f"nixdf-test-flake-cfg-{suffix}",
          "--nix-image", offline_image, "--nixpkgs", str(OFFLINE_PKGS))
    nixdf(engine_env, "build", f"{flake}#images.api", "-t", f"nixdf-test-flake-api-{suffix}",
          "--nix-image", offline_image, "--nixpkgs", str(OFFLINE_PKGS))
    try:
        cfg = config(engine_env, f"nixdf-test-flake-cfg-{suffix}")
        assert cfg["Cmd"][0].startswith("/nix/store/") and cfg["Cmd"][0].endswith("/bin/hello")
        assert "GREETER=hello" in cfg["Env"]
        assert "Hello from nixdf" in docker(engine_env, "run", "--rm",
                                            f"nixdf-test-flake-api-{suffix}").stdout
        assert (flake / "flake.lock").read_text() == before
    finally:
        docker(engine_env, "image", "rm", "-f", f"nixdf-test-flake-cfg-{suffix}",
               f"nixdf-test-flake-api-{suffix}", check=False)


@pytest.mark.docker
@pytest.mark.engines("docker-20.10")
def test_flake_errors_name_the_images(engine_env: dict[str, str], offline_image: str,
                                      tmp_path: Path) -> None:
    flake = flake_copy(tmp_path, "legacy")
    missing = nixdf(engine_env, "lock", f"{flake}#nope", "--nix-image", offline_image,
                    "--nixpkgs", str(OFFLINE_PKGS), check=False)
    assert missing.returncode == 2, missing.stderr[-2000:]
    assert "packages.x86_64-linux.hello" in missing.stderr
    assert "packages.x86_64-linux.images.api" in missing.stderr
    not_image = nixdf(engine_env, "lock", f"{flake}#images", "--nix-image", offline_image,
                      "--nixpkgs", str(OFFLINE_PKGS), check=False)
    assert not_image.returncode == 2
    assert "packages.x86_64-linux.images is not an image" in not_image.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "flake.nix").write_text(
        "{ outputs = { self, nixpkgs }: { packages.x86_64-linux.hello = "
        "nixpkgs.legacyPackages.x86_64-linux.hello; }; }\n")
    empty = nixdf(engine_env, "render", str(tmp_path / "empty"), "--nix-image", offline_image,
                  "--nixpkgs", str(OFFLINE_PKGS), check=False)
    assert empty.returncode == 2
    assert "this flake has no image among packages.x86_64-linux" in empty.stderr
    # Nix's own error, against the flake.nix on disk.
    source = flake / "flake.nix"
    source.write_text(source.read_text().replace("${pkgs.hello}/bin", "${pkgs.helo}/bin"))
    misspelt = nixdf(engine_env, "lock", f"{flake}#hello", "--nix-image", offline_image,
                     "--nixpkgs", str(OFFLINE_PKGS), check=False)
    assert misspelt.returncode == 2, misspelt.stderr[-2000:]
    assert "flake.nix:14:22: error: Nix: attribute 'helo' missing" in misspelt.stderr
    assert "Did you mean hello?" in misspelt.stderr
    # Without --nixpkgs the input nixpkgs is flake.lock's, fetched from GitHub: offline, the
    # build says it could not.
    offline = nixdf(engine_env, "lock", f"{flake}#hello", "--nix-image", offline_image,
                    check=False)
    assert offline.returncode != 0 and "Traceback" not in offline.stderr


@pytest.mark.docker
@pytest.mark.engines("docker-20.10")
def test_sync_a_flake(engine_env: dict[str, str], offline_image: str, tmp_path: Path) -> None:
    """`nixdf sync flake.nix` (the flake pre-commit hooks): every image of packages.<system>
    in the Dockerfile beside it, stale again when the flake changes."""
    flake = flake_copy(tmp_path, "legacy")
    options = ("--nix-image", offline_image, "--nixpkgs", str(OFFLINE_PKGS),
               "--compat", "docker-20.10")
    first = nixdf(engine_env, "sync", str(flake / "flake.nix"), *options, check=False)
    assert first.returncode == 1, first.stderr[-2000:]
    text = (flake / "Dockerfile").read_text()
    assert "FROM scratch AS hello" in text and "FROM scratch AS images-api" in text
    assert nixdf(engine_env, "sync", "--check", str(flake / "flake.nix"), *options,
                 check=False).returncode == 0
    source = flake / "flake.nix"
    source.write_text(source.read_text().replace('tag = "v1";', 'tag = "v2";'))
    stale = nixdf(engine_env, "sync", "--check", str(flake / "flake.nix"), *options,
                  check=False)
    assert stale.returncode == 1 and "v2" in stale.stdout, stale.stderr[-2000:]


def test_lock_key_ignores_where_the_checkout_is(tmp_path: Path) -> None:
    """The lock's key covers the replaced inputs by content and place in the context, so a
    copy of the same tree elsewhere finds the committed flake.nix.lock current."""
    from nixdf import api, load, lockfile
    from nixdf.flake import FlakeRequest

    keys = []
    for copy in ("one", "two"):
        flake = flake_copy(tmp_path / copy, "callpackage")
        request = FlakeRequest("docker", "x86_64-linux",
                               (("flake-utils", str(tmp_path / copy / "flake-utils")),))
        inputs, _, _ = load.flake_inputs(flake / "flake.nix", request)
        keys.append(lockfile.lock_key(inputs, api.RenderOptions(flake=request)))
    assert keys[0] == keys[1]
    (tmp_path / "two" / "flake-utils" / "flake.nix").write_text("{ outputs = _: { }; }\n")
    inputs, _, _ = load.flake_inputs(tmp_path / "two" / "callpackage" / "flake.nix", request)
    assert lockfile.lock_key(inputs, api.RenderOptions(flake=request)) != keys[0]


def test_flake_options_on_a_nixfile_are_refused() -> None:
    nixfile = str(ROOT / "examples" / "hello" / "Nixfile")
    target = nixdf(None, "render", nixfile, "--target", "hello", check=False)
    assert target.returncode == 2 and "--target hello" in target.stderr
    override = nixdf(None, "render", nixfile, "--override-input", "nixpkgs", str(OFFLINE_PKGS),
                     check=False)
    assert override.returncode == 2 and "replaces a flake's input" in override.stderr


@pytest.mark.docker
@pytest.mark.engines("docker-20.10")
def test_dry_run_of_a_flake_runs_as_printed(engine_env: dict[str, str], offline_image: str,
                                            tmp_path: Path) -> None:
    flake = flake_copy(tmp_path, "callpackage")
    args = ("build", str(flake / "flake.nix"), "--target", "docker", "-t", "nixdf-test-flake",
            "--nix-image", offline_image, "--nixpkgs", str(OFFLINE_PKGS),
            "--override-input", "flake-utils", str(tmp_path / "flake-utils"))
    nixdf(engine_env, *args)  # locks
    docker(engine_env, "image", "rm", "nixdf-test-flake")
    printed = nixdf(engine_env, *args, "--dry-run").stdout
    env = dict(engine_env, PATH=f"{Path(sys.executable).parent}:{engine_env.get('PATH', '')}")
    subprocess.run(["bash", "-euo", "pipefail", "-c", printed], env=env, check=True,
                   capture_output=True, cwd=ROOT)
    try:
        assert "Hello from nixdf" in docker(engine_env, "run", "--rm", "nixdf-test-flake").stdout
    finally:
        docker(engine_env, "image", "rm", "-f", "nixdf-test-flake", check=False)

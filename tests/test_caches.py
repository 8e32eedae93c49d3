"""Binary caches for Nix in the builder, and their credentials as a build secret.

A signed file:// binary cache is made with the offline builder image itself, shipped
inside the package set's directory, and substituted from; the netrc given with
--netrc must not appear anywhere in the saved image."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import OFFLINE_PKGS, ROOT, client, docker
from .test_examples import nixdf, run

pytestmark = pytest.mark.docker

MAKE_CACHE = """set -eu
nix-store --generate-binary-cache-key nixdf-test-1 /out/secret.key /out/public.key
path=$(nix-build --no-out-link -E '(import /pkgs { }).hello')
nix --extra-experimental-features nix-command copy \
  --to 'file:///out/pkgs/cache?secret-key=/out/secret.key' "$path"
"""


def test_substitutes_from_a_signed_cache_and_the_netrc_never_reaches_the_image(  # type: ignore[no-untyped-def]
        engine_env, offline_image, tmp_path: Path) -> None:
    shutil.copytree(OFFLINE_PKGS, tmp_path / "pkgs")
    subprocess.run([client(engine_env), "run", "--rm", "-v", f"{tmp_path}:/out",
                    "-v", f"{OFFLINE_PKGS}:/pkgs:ro", offline_image, "sh", "-c", MAKE_CACHE],
                   env=engine_env, check=True, capture_output=True)
    public_key = (tmp_path / "public.key").read_text().strip()
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine cache.example.org login nixdf password {secret}\n")
    nixfile = tmp_path / "app" / "Nixfile"
    nixfile.parent.mkdir()
    nixfile.write_text('{ pkgs, buildImage }: buildImage { name = "nixdf-test/cached"; '
                       'contents = pkgs.hello; config.Cmd = [ "/bin/hello" ]; }\n')
    # A store that has never built hello: the cache is the only place it can come from.
    docker(engine_env, "builder", "prune", "-f", "--filter", "type=exec.cachemount")

    done = nixdf(engine_env, "build", str(nixfile), "--nix-image", offline_image,
                 "--nixpkgs", str(tmp_path / "pkgs"), "--progress", "plain",
                 "--substituter", "file:///nixdf/nixpkgs/cache",
                 "--trusted-public-key", public_key, "--netrc", str(netrc))

    assert "from 'file:///nixdf/nixpkgs/cache'" in done.stderr
    assert not re.search(r"building '/nix/store/[a-z0-9]+-hello\.drv'", done.stderr), (
        "hello was built instead of substituted")
    assert run(engine_env, "nixdf-test/cached:latest") == "Hello from nixdf\n"
    saved = subprocess.run([client(engine_env), "save", "nixdf-test/cached:latest"], env=engine_env,
                           capture_output=True, check=True).stdout
    history = docker(engine_env, "history", "--no-trunc", "nixdf-test/cached:latest").stdout
    inspect = docker(engine_env, "image", "inspect", "nixdf-test/cached:latest").stdout
    for where, text in (("the saved image", saved), ("the history", history.encode()),
                        ("the image config", inspect.encode()),
                        ("the build output", done.stderr.encode())):
        assert secret.encode() not in text, f"the netrc secret leaked into {where}"


def test_cache_options_are_checked_before_they_reach_a_shell() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "nixdf", "render", str(ROOT / "examples" / "redis" / "Nixfile"),
         "--substituter", "https://x.org/'; rm -rf /"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a URL nixdf can pass on" in bad.stderr

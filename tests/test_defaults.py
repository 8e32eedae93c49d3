"""The README states the pinned defaults that nixdf/defaults.py holds, and no others."""

from __future__ import annotations

import re
from pathlib import Path

from nixdf import defaults

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_names_the_default_builder_image() -> None:
    tag, digest = defaults.NIX_IMAGE.split("@")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    # Every nixos/nix version the README gives is the default's, and it gives the digest.
    assert set(re.findall(r"nixos/nix:(\d+\.\d+\.\d+)", README)) == {
        tag.removeprefix("nixos/nix:")}
    assert digest in README


def test_readme_names_the_default_package_set() -> None:
    commit = re.fullmatch(r"https://github\.com/NixOS/nixpkgs/archive/([0-9a-f]{40})\.tar\.gz",
                          defaults.NIXPKGS_URL)
    assert commit
    # fetchTarball's sha256 in Nix's base32 (no e, o, u, t), as nixdf passes it on.
    assert re.fullmatch(r"[0-9a-df-np-sv-z]{52}", defaults.NIXPKGS_SHA256)
    assert set(re.findall(r"nixpkgs (\d\d\.\d\d) release", README)) == {defaults.NIXPKGS_RELEASE}
    assert commit[1] in README

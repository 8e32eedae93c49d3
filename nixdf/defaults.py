"""Pinned defaults: the builder image and the package set, each from a published source.

Neither value was resolved here (these machines reach no registry); both were
copied from files that renovate[bot] or several independent projects maintain.
"""

from __future__ import annotations

# nixos/nix 2.31.2, multi-arch index digest, as renovate[bot] pinned it in
# Enalean/tuleap-documentation-en build-support/linkcheck-docker.dockerfile
# (commit 24abb264a7bfbc9a56f421b56c9bf6727e7073b7, 2025-09-18); the same
# tag@digest pair is quoted in several other public Dockerfiles.
NIX_IMAGE = (
    "nixos/nix:2.31.2@sha256:29fc5fe207f159ceb0143c25c19c774062fee02ce5eda118f3067547b3054894"
)

# The nixpkgs 24.05 release (tag 24.05 = commit 63dacb46bf939521bdc93981b4cbb7ecb58427a0)
# and the hash of its unpacked tarball, as pinned in earldouglas/sectery default.nix
# (commit b7de4a70d8c9da4763ec4585993846872af817f8) and danilopedraza/komodo
# report/shell.nix (commit be6b9713fd4cfb42399d4d017f018d784d199294).
NIXPKGS_URL = (
    "https://github.com/NixOS/nixpkgs/archive/63dacb46bf939521bdc93981b4cbb7ecb58427a0.tar.gz"
)
NIXPKGS_SHA256 = "1lr1h35prqkd1mkmzriwlpvxcb34kmhc9dnr48gkm8hh089hifmx"

# The Dockerfile frontend for the default target, as renovate[bot] pinned it in
# aclemons/slackrepo-docker Dockerfile (commit 006fc3bdeecf29ea43140aed35f5afe457532d6f).
DOCKERFILE_SYNTAX = (
    "docker/dockerfile:1.7.1@sha256:a57df69d0ea827fb7266491f2813635de6f17269be881f696fbfdf2d83dda33e"
)

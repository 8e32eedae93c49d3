"""Pinned defaults: the builder image and the package set, each from a published source.

Neither value was resolved here (these machines reach no registry); both were
copied from files that renovate[bot] or several independent projects maintain.
"""

from __future__ import annotations

# nixos/nix 2.35.1, multi-arch index digest, as renovate[bot] pinned it in
# Enalean/tuleap-documentation-en build-support/linkcheck-docker.dockerfile line 1
# (commit 87a35440b776f050c04a885fe35cac09401db7b1, 2026-07-14, "update nixos/nix docker tag
# to v2.35.1"); the same tag@digest pair is quoted in several other public Dockerfiles,
# Forgejo runner labels and dockerTools.pullImage pins.
NIX_IMAGE = (
    "nixos/nix:2.35.1@sha256:377d4887aca98f0dfa12971c1ea6d6a625a435d8b610d4c95a436843da6fbfd1"
)

# The nixpkgs 26.05 release ("Yarara", 2026-05-30), the newest stable release whose tarball hash
# is published. The hash is fetchTarball's (the NAR hash of the unpacked tree, nix base32). Seven
# public fetchTarball pins found by code search give exactly this url and sha256; others give the
# same sha256 for the tag's archive (archive/refs/tags/26.05.tar.gz, archive/26.05.tar.gz), so
# the commit and the tag are one tree; and a table of every release's hash, whose 24.05 entry is
# the hash this default had before (1lr1h35prqkd…), gives 26.05's as this one.
NIXPKGS_RELEASE = "26.05"
NIXPKGS_URL = (
    "https://github.com/NixOS/nixpkgs/archive/8c50a710ddca43d7a530fb805ad55bde8d0141c5.tar.gz"
)
NIXPKGS_SHA256 = "0am8xx09fx5yf2p0wb001v0jx1g5hrfb76h4r37xph378jgk7pcr"

# The Dockerfile frontend for the default target, as renovate[bot] pinned it in
# aclemons/slackrepo-docker Dockerfile (commit 006fc3bdeecf29ea43140aed35f5afe457532d6f).
DOCKERFILE_SYNTAX = (
    "docker/dockerfile:1.7.1@sha256:a57df69d0ea827fb7266491f2813635de6f17269be881f696fbfdf2d83dda33e"
)

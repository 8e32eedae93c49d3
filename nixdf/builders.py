"""The image builders a Nixfile may call, shared by the static and the Nix side."""

from __future__ import annotations

BUILDERS = ("buildImage", "buildLayeredImage", "streamLayeredImage")
# dockerTools' builders that are another one with `includeNixDB = true`.
WITH_NIX_DB = {"buildImageWithNixDb": "buildImage",
               "buildLayeredImageWithNixDb": "buildLayeredImage"}
# nlewo/nix2container's functions, reached as `nix2container.NAME` (a Nixfile asks for
# `nix2container` as it asks for `pkgs`); nixdf implements them, so the real one is never
# fetched. pullImageFromManifest is named only to refuse it with a hint.
NIX2CONTAINER = "nix2container"
NIX2CONTAINER_FUNCTIONS = ("buildImage", "buildLayer", "pullImage", "pullImageFromManifest")

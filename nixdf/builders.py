"""The image builders a Nixfile may call, shared by the static and the Nix side."""

from __future__ import annotations

BUILDERS = ("buildImage", "buildLayeredImage", "streamLayeredImage")
# Builders people reach for that nixdf does not implement yet; naming them lets
# both sides say so instead of "unknown function".
PLANNED_BUILDERS = ("buildImageWithNixDb", "buildLayeredImageWithNixDb")

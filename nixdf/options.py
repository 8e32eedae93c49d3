"""The options a Dockerfile is rendered with: the builder image, the package set, the target,
the caches; checked before any Nixfile is read."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import defaults
from .errors import UsageError
from .flake import FlakeRequest
from .plan import COMPAT_TARGETS, NixCaches
from .record import ValueRecord
from .spec import REFERENCE


@dataclass(slots=True, repr=False, eq=False)
class RenderOptions(ValueRecord):
    """How to render: the builder image, the package set, the target, the caches."""

    nix_image: str = defaults.NIX_IMAGE
    nixpkgs: str | None = None
    compat: str | None = None
    substituters: tuple[str, ...] = ()
    trusted_keys: tuple[str, ...] = ()
    netrc: bool = False
    per_path: bool = False
    flake: FlakeRequest | None = None  # the Nixfile path is a flake.nix (nixdf.flake)

    def caches(self) -> NixCaches:
        """The binary-cache options, checked: they reach the builder's shell."""
        for url in self.substituters:
            if not re.fullmatch(_SUBSTITUTER, url):
                raise UsageError(f"--substituter {url}: not a URL nixdf can pass on",
                                 hint="a URL such as https://cache.example.org, without "
                                 "spaces.")
        for key in self.trusted_keys:
            if not re.fullmatch(_PUBLIC_KEY, key):
                raise UsageError(f"--trusted-public-key {key}: not a Nix public key",
                                 hint="NAME:BASE64, as nix-store --generate-binary-cache-key "
                                 "writes it.")
        return NixCaches(self.substituters, self.trusted_keys, self.netrc)


# Patterns, compiled (and cached by re) the first time a cache option is given.
_SUBSTITUTER = r"[a-z][a-z0-9+.-]*://\S+"
_PUBLIC_KEY = r"[A-Za-z0-9._-]+:[A-Za-z0-9+/]+={0,2}"


def check_options(options: RenderOptions) -> None:
    """Refuse options no Nixfile could render with, before reading any."""
    if not REFERENCE.fullmatch(options.nix_image):
        raise UsageError(f"--nix-image {options.nix_image}: not an image reference",
                         hint="NAME[:TAG][@sha256:DIGEST].")
    if options.compat not in (None, *COMPAT_TARGETS):
        raise UsageError(f"--compat {options.compat}: unknown target",
                         hint="the targets are " + " and ".join(COMPAT_TARGETS) + ".")
    options.caches()


"""An image as the Dockerfile needs it: plain, checked data that :mod:`nixdf.spec` makes
from a builder's call, and :mod:`nixdf.plan` plans stages from."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Span
from .layers import StorePath
from .record import ValueRecord

# dockerTools' default `created`; anything else needs the reproducibility work.
DEFAULT_CREATED = "1970-01-01T00:00:01Z"


# nix2container's default `created`, before anything SOURCE_DATE_EPOCH can say: the image
# gets the earliest time it can, 1970-01-01T00:00:00Z.
NIX2CONTAINER_CREATED = "0001-01-01T00:00:00Z"


@dataclass(slots=True, repr=False, eq=False)
class Healthcheck(ValueRecord):
    """Docker's Healthcheck: ``test`` is ("NONE",), ("CMD", …) or ("CMD-SHELL", command);
    durations in nanoseconds, 0 for the default."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0


@dataclass(slots=True, repr=False, eq=False)
class ImageConfig(ValueRecord):
    """The OCI/Docker config keys that have a Dockerfile instruction."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None
    volumes: tuple[str, ...] = ()
    exposed_ports: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str | None = None
    user: str | None = None
    healthcheck: Healthcheck | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] | None = None


@dataclass(slots=True, repr=False, eq=False)
class ImageSpec(ValueRecord):
    """One image: what Nix builds (found at ``attr``) and what the Dockerfile says."""

    attr: str | None
    name: str
    tag: str
    from_image: str | None
    from_attr: str | None
    layered: bool
    keep_contents_dirlinks: bool
    include_store_paths: bool
    store_owner: tuple[int, int]
    scripts: tuple[tuple[str, str], ...]
    config: ImageConfig
    span: Span
    # Config or scripts name store paths (values from the lock file).
    store_refs: bool = False
    # The layered builders' budget (store layers and the customisation layer), how
    # the store is split (nixdf.layers.STRATEGIES), and the closure the lock recorded.
    max_layers: int = 100
    layering: str = "auto"
    closure: tuple[StorePath, ...] = ()
    # `created`, and the layered builders' `mtime` of every file, in seconds since the
    # epoch; None for "now" (the build's own times).
    created: int | None = 1
    mtime: int | None = 1
    # A Nix database of the image's store paths in /nix/var/nix/db (dockerTools'
    # includeNixDB, nix2container's initializeNixDatabase), owned by nix_db_owner.
    nix_db: bool = False
    nix_db_owner: tuple[int, int] = (0, 0)
    # nix2container.buildImage, and its explicit layers (`layers`, nested ones first), each
    # as the indices through `layers` that reach it from the image's arguments.
    nix2container: bool = False
    explicit_layers: tuple[tuple[int, ...], ...] = ()
    # dockerTools' architecture and variant, nix2container's arch: the image's platform
    # ("linux/arm64"); None: the engine's own, which is their default too.
    platform: str | None = None


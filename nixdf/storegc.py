"""``nixdf gc``: collect the garbage of the /nix cache mount the builds share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EngineError, UsageError
from .record import ValueRecord
from .render import render_gc
from .spec import REFERENCE

# The engine and its subprocess are imported by the functions that run them.
if TYPE_CHECKING:
    from .engine import Command, Engine


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5GiB``, ``0``: bytes, the units binary as du's are."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"--keep {text}: not a size", hint="a number of bytes, or with K, M, G "
                         "or T: 0, 500M, 2G.")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMGT".index(unit.upper() or " "))


@dataclass(slots=True, repr=False, eq=False)
class PreparedGc(ValueRecord):
    """``nixdf gc`` ready to run: the engine, and the Dockerfile that collects the garbage."""

    engine: Engine
    nix_image: str
    dockerfile: str
    builder: str | None = None

    def command(self, context: Path, report: Path) -> Command:
        from .engine import output_commands

        [command] = output_commands(self.engine, context, report, cached=False,
                                    builder=self.builder)
        return command


@dataclass(slots=True, repr=False, eq=False)
class GcReport(ValueRecord):
    """The store in the cache mount before and after, in bytes."""

    before: int
    after: int


def prepare_gc(nix_image: str, keep: int, engine_choice: str = "auto",
               builder: str | None = None) -> PreparedGc:
    """Collect the garbage of the /nix cache mount that builds on ``nix_image`` share, on
    ``builder`` (buildx's) when given: each builder has its own cache."""
    from .engine import PassThrough, check_supported, probe

    if not REFERENCE.fullmatch(nix_image):
        raise UsageError(f"--nix-image {nix_image}: not an image reference",
                         hint="NAME[:TAG][@sha256:DIGEST].")
    engine = probe(engine_choice)
    check_supported(engine, PassThrough(builder=builder))
    return PreparedGc(engine, nix_image, render_gc(nix_image, keep), builder)


def gc(plan: PreparedGc) -> GcReport:
    """Run it; the store's size comes back as a file in the build's local output."""
    import tempfile

    from .engine import run

    with tempfile.TemporaryDirectory(prefix="nixdf-gc-") as scratch:
        context, report = Path(scratch, "context"), Path(scratch, "report")
        context.mkdir()
        run(plan.engine, plan.command(context, report), plan.dockerfile)
        try:
            lines = (report / "nixdf-gc.txt").read_text().split()
            sizes = dict(line.split("=", 1) for line in lines)
            return GcReport(int(sizes["before"]) * 1024, int(sizes["after"]) * 1024)
        except (OSError, KeyError, ValueError) as err:
            raise EngineError(f"nixdf gc: the build left no report ({err})") from None


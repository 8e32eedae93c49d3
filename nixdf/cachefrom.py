"""``nixdf build --nix-cache-from IMAGE``: the image built last time as the Nix store's cache.

BuildKit does not export cache mounts, so a fresh runner starts with an empty /nix and Nix
builds everything again. The image pushed last time holds, byte for byte, the store paths
that did not change. Before the lock and the image build, a build of its own
(templates/cache_from.j2) copies into the /nix cache each store path that

- Nix wants for these images (an output of a derivation they need) and the cache lacks,
- the lock file records, with its NAR hash, size, deriver and references (a lock made for
  earlier input counts: a store path's name fixes what Nix builds for it), and
- a source image holds with that very NAR hash,

and registers it as ``nix-store --load-db`` does. Anything else is left to Nix to build; a
path whose bytes differ from the record is said on stderr.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .load import nixpkgs_source, read_images
from .lockfile import lock_path
from .options import RenderOptions
from .plan import COMPAT_TARGETS, ExternalSource, PlanOptions, plan
from .record import ValueRecord
from .registrations import Registration, recorded
from .render import render_seed, size_text

if TYPE_CHECKING:
    from .engine import Command, Engine

# An image reference as the engine takes it: it lands in a --mount option, where a comma,
# a quote or a space would start another option.
_SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]*(@sha256:[0-9a-f]{64})?")
# One shell argument holds at most 128 KiB: the records go in parts well below that.
_CHUNK_BYTES = 64 * 1024


def wants_records(lock: Path, locked: bool) -> bool:
    """Whether the lock must be made (again) so that it records every image's closure for the
    next --nix-cache-from: it is for other input (not ``locked``), or it records some image's
    closure not."""
    if not locked:
        return True
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
        images = data["images"]
        return not data.get("registrations") or not all(
            isinstance(values, dict) and "closure" in values for values in images.values())
    except (OSError, ValueError, TypeError, KeyError):
        return True


def check_sources(sources: tuple[str, ...]) -> None:
    for source in sources:
        if not _SOURCE.fullmatch(source):
            raise UsageError(f"--nix-cache-from {source}: not an image reference",
                             hint="NAME[:TAG] or NAME@sha256:DIGEST, as `docker pull` takes it "
                             "(a registry's, or a local image).")


@dataclass(slots=True, repr=False, eq=False)
class SeedPlan(ValueRecord):
    """The seed build ready to run: the engine, its Dockerfile, its context."""

    engine: Engine
    sources: tuple[str, ...]
    dockerfile: str
    context: Path
    external_nixpkgs: ExternalSource | None
    records: tuple[Registration, ...] = ()
    secrets: tuple[str, ...] = ()
    builder: str | None = None

    def commands(self, dest: Path) -> tuple[Command, ...]:
        from .engine import output_commands

        return output_commands(self.engine, self.context, dest,
                               external_nixpkgs=self.external_nixpkgs, secrets=self.secrets,
                               builder=self.builder)


@dataclass(slots=True, repr=False, eq=False)
class SeedReport(ValueRecord):
    """What the seed build did, from its /out/report."""

    taken: tuple[str, ...]
    mismatched: tuple[str, ...]
    absent: tuple[str, ...]  # recorded, wanted, in no source image
    unrecorded: tuple[str, ...]  # wanted and in a source image, but the lock has no hash
    unreferenced: tuple[str, ...]  # hash right, but a reference neither valid nor taken
    wanted: int
    missing: int  # of the wanted, those the /nix cache lacked

    @classmethod
    def parse(cls, text: str) -> SeedReport:
        kinds: dict[str, list[str]] = {}
        wanted = missing = 0
        for line in text.splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "wanted":
                wanted, missing = (int(n) for n in rest.split())
            else:
                kinds.setdefault(kind, []).append(rest.split()[0])
        def paths(kind: str) -> tuple[str, ...]:
            return tuple(kinds.get(kind, ()))

        return cls(paths("taken"), paths("mismatch"), paths("absent"), paths("unrecorded"),
                   paths("unreferenced"), wanted, missing)

    def summary(self, sources: tuple[str, ...], records: tuple[Registration, ...]) -> str:
        size = {record.path: record.nar_size for record in records}
        taken = sum(size.get(path, 0) for path in self.taken)
        text = (f"--nix-cache-from {', '.join(sources)}: took {len(self.taken)} of the "
                f"{self.missing} store paths the /nix cache lacked ({size_text(taken)})")
        notes = [f"{len(paths)} {what}" for paths, what in (
            (self.mismatched, "not what Nix built"), (self.absent, "in no source image"),
            (self.unrecorded, "with no hash in the lock file"),
            (self.unreferenced, "without their references")) if paths]
        text += f" ({', '.join(notes)}: Nix builds them)" if notes else ""
        if self.unrecorded:
            # A plain buildImage built without the option: its lock (if any) has no closure.
            text += ("; the lock this build writes records them for the next --nix-cache-from "
                     "(commit it)")
        return text


def prepare_seed(nixfile: Path, options: RenderOptions, sources: tuple[str, ...],
                 engine: Engine, secrets: tuple[str, ...] = (),
                 builder: str | None = None) -> SeedPlan:
    """The seed build of every image of ``nixfile``, from ``sources``, with the registrations
    its lock file keeps."""
    import dataclasses

    check_sources(sources)
    if options.compat is None and engine.wants_compat:
        options = dataclasses.replace(options, compat=COMPAT_TARGETS[0])
    found = read_images(nixfile)
    inputs = found.inputs
    nixpkgs, external = nixpkgs_source(options.nixpkgs, inputs.context)
    the_plan = plan([], PlanOptions(options.nix_image, nixpkgs, inputs.nixfile, inputs.paths,
                                    options.compat, options.caches()))
    records = recorded(lock_path(nixfile))
    text = render_seed(the_plan, [image.attr for image in found.images], sources,
                       _chunks([record.line() for record in records]),
                       run_id=f"{time.time_ns():x}")
    return SeedPlan(engine, sources, text, inputs.context, external, records, secrets, builder)


def seed(prepared: SeedPlan, made: tuple[Command, ...] = ()) -> SeedReport:
    """Run the seed build; what it reports. ``made`` ran already (the package-set image)."""
    import tempfile

    from .engine import run

    with tempfile.TemporaryDirectory(prefix="nixdf-seed-") as scratch:
        dest = Path(scratch)
        for command in prepared.commands(dest):
            if command not in made:
                run(prepared.engine, command, prepared.dockerfile)
        return SeedReport.parse((dest / "report").read_text(encoding="utf-8"))


def _chunks(lines: list[str]) -> list[list[str]]:
    chunks: list[list[str]] = []
    size = _CHUNK_BYTES
    for line in lines:
        if size + len(line) + 8 > _CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += len(line) + 8
    return chunks

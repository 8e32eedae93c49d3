"""The registrations of store paths the lock file keeps for ``--nix-cache-from``
(nixdf.cachefrom): for each path of the closures the lock run built, what Nix's database
holds of it (NAR hash, size, deriver, references), as ``nix-store --dump-db`` writes it.
A store path's name fixes what Nix builds for it, so a record outlives the input it was
locked for: it tells a copy of the path from an image apart from anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .record import ValueRecord


@dataclass(slots=True, repr=False, eq=False)
class Registration(ValueRecord):
    """What Nix's database keeps of a valid store path, as ``nix-store --dump-db`` writes it."""

    path: str
    nar_hash: str  # base16 SHA-256 of the path's NAR, without a "sha256:" prefix
    nar_size: int
    deriver: str  # "" when it has none
    references: tuple[str, ...]

    def line(self) -> str:
        """PATH NARHASH NARSIZE DERIVER|- REFERENCE..., as the seed step reads it."""
        return " ".join([self.path, self.nar_hash, str(self.nar_size), self.deriver or "-",
                         *self.references])


def parse_dump_db(text: str) -> list[Registration]:
    """``nix-store --dump-db`` output: per path its name, hash, size, deriver, a count of
    references and the references, a line each."""
    lines = text.splitlines()
    found: list[Registration] = []
    at = 0
    while at < len(lines):
        path, nar_hash, size, deriver, count = lines[at:at + 5]
        refs = tuple(sorted(lines[at + 5:at + 5 + int(count)]))
        found.append(Registration(path, nar_hash.removeprefix("sha256:"), int(size), deriver,
                                  refs))
        at += 5 + int(count)
    return found


def registrations(closures: list[list[Registration]]) -> dict[str, dict[str, Any]]:
    """The lock's ``registrations``: every path of the closures the lock run dumped, keyed
    by path."""
    return {entry.path: {"narHash": f"sha256:{entry.nar_hash}", "narSize": entry.nar_size,
                         "deriver": entry.deriver or None, "references": list(entry.references)}
            for closure in closures for entry in closure}


def recorded(lock: Path) -> tuple[Registration, ...]:
    """The registrations a lock file keeps, whatever input it was made for; none when there
    is no lock or it cannot be read."""
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
        entries = data.get("registrations") or {}
        return tuple(sorted(
            (Registration(path, str(e["narHash"]).removeprefix("sha256:"), int(e["narSize"]),
                          e.get("deriver") or "", tuple(e["references"]))
             for path, e in entries.items()), key=lambda r: r.path))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return ()

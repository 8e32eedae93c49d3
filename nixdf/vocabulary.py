"""The Dockerfile's vocabulary: what an instruction can carry, as the Dockerfile reference
and BuildKit's parser take it.

spec.py and imageconfig.py refuse a value here, early and at its place in the Nixfile,
rather than let it reach a Dockerfile line that would mean something else (a line break
that starts another instruction, a final backslash that joins the next one).
"""

from __future__ import annotations

import re

# Docker's reference grammar (distribution/reference): lower-case path components,
# an optional registry host with port, and tags of at most 128 characters.
NAME = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# A full reference: name, optional :tag, optional @digest (what FROM may say).
REFERENCE = re.compile(rf"(?:{NAME.pattern})(?::{TAG.pattern})?(?:@sha256:[0-9a-f]{{64}})?")
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
PORT = re.compile(r"[0-9]{1,5}(?:-[0-9]{1,5})?(?:/(?:tcp|udp|sctp))?")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What Docker's signal parser takes (STOPSIGNAL fails the build on anything else). Kept
# as text: few Nixfiles give one, so it is compiled (and cached by re) when one is given.
SIGNAL = r"(?:SIG)?[A-Z][A-Z0-9]*(?:[+-][0-9]+)?|[0-9]+"

# ONBUILD may not hold these (Dockerfile reference).
ONBUILD_FORBIDDEN = ("ONBUILD", "FROM", "MAINTAINER")
# Config keys of the image config that no Dockerfile instruction sets.
NO_INSTRUCTION = ("ArgsEscaped", "Memory", "MemorySwap", "CpuShares")


def carries(text: str, *, tab: bool = False) -> bool:
    """Whether one instruction line carries ``text`` as it is: no line break or other control
    character; a tab where ``tab`` (ENV's and LABEL's quoted values, ONBUILD keep one)."""
    return not CONTROL.search(text.replace("\t", "") if tab else text)


def one_line(text: str) -> bool:
    """Whether ``text`` is a whole instruction's argument on one line, as written: BuildKit
    trims a line's outer spaces, and a final backslash joins the next line to it."""
    return carries(text) and text == text.strip() and not text.endswith("\\")


def label_key(name: str) -> bool:
    """Whether LABEL can carry ``name`` as a key: it splits key from value at the first
    '=', quotes or not."""
    return bool(name) and "=" not in name


def volume_path(path: str) -> bool:
    """Whether VOLUME can carry ``path``: it trims each path, so outer spaces are lost."""
    return bool(path) and path == path.strip()

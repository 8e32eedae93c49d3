"""The Dockerfile's vocabulary: what an instruction can carry, as the Dockerfile reference
and BuildKit's parser take it, and how a value is quoted for each.

spec.py and imageconfig.py refuse a value here, early and at its place in the Nixfile,
rather than let it reach a Dockerfile line that would mean something else (a line break
that starts another instruction, a final backslash that joins the next one); render.py
quotes every value with the functions at the end, so that it can neither start a new
instruction nor expand a variable it did not mean to.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable

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


# --- quoting, for render.py's templates ------------------------------------------------


def exec_json(words: Iterable[str]) -> str:
    """Exec form (RUN, CMD, ENTRYPOINT): JSON, which the Dockerfile never expands."""
    return json.dumps(list(words), ensure_ascii=False)


def _escape_word(word: str) -> str:
    # BuildKit's word lexer treats \ $ ' " specially in VOLUME/COPY words, even in JSON form.
    return "".join("\\" + c if c in "\\$'\"" else c for c in word)


def words_json(words: Iterable[str]) -> str:
    """JSON form of instructions that still expand variables (VOLUME, COPY)."""
    return json.dumps([_escape_word(w) for w in words], ensure_ascii=False)


def dq(text: str) -> str:
    """A double-quoted word for ENV, LABEL, WORKDIR, USER, STOPSIGNAL."""
    return '"' + "".join("\\" + c if c in '\\"$' else c for c in text) + '"'


def pairs(items: Iterable[tuple[str, str]], key_filter: str | None) -> str:
    """ENV/LABEL key=value pairs, one per continuation line."""
    quote_key = dq if key_filter == "dq" else str
    return " \\\n    ".join(f"{quote_key(k)}={dq(v)}" for k, v in items)


def shell_quote(text: str) -> str:
    """One word of a RUN's shell for any text: what reaches the builder's shell from a
    Nixfile or the command line (a WorkingDir name, an attribute path) is quoted, never
    refused for a quote."""
    return shlex.quote(text)


def shell_json(value: object) -> str:
    """A value as one shell word of compact JSON, for ``nix-build --argstr``."""
    return shlex.quote(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def env_json(members: Iterable[tuple[str, object]]) -> str:
    """A JSON object as the double-quoted value of an ENV instruction, a member a
    continuation line (JSON takes the lines' indentation as white space)."""
    lines = [dq(json.dumps(key, ensure_ascii=False) + ":" + json.dumps(value, ensure_ascii=False))
             for key, value in members]
    return '"{' + ", \\\n      ".join(line[1:-1] for line in lines) + '}"'

"""Where nixdf keeps what it can always make again: parse tables, compiled templates."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/nixdf``, else ``~/.cache/nixdf``; None when there is no home.

    As the XDG spec says, a relative ``XDG_CACHE_HOME`` is ignored: a cache
    must not appear in whatever directory nixdf happens to run in.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    return Path(base) / "nixdf"

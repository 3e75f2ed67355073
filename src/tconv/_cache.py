"""A small on-disk cache of facts measured on this machine (the cost model's calibration).

Where: the directory ``TCONV_CACHE_DIR`` when set, else the user's cache
directory (``platformdirs.user_cache_dir("tconv")``, e.g. ``~/.cache/tconv``; the XDG rule where
platformdirs is not installed).
One JSON file per topic, a mapping from a key (which machine, BLAS kernel,
threads...) to a record.  Writes are atomic (a temporary file in the same
directory, then ``os.replace``), so a process never reads a half-written file
even when several processes write at once; a missing, unreadable or corrupt
file reads as empty, and a directory that cannot be written only means
nothing is remembered: the cache never makes a call fail.

>>> import tempfile, os
>>> with tempfile.TemporaryDirectory() as d:
...     os.environ[ENV_DIR] = d
...     stored = store("example", "key", {"value": 1.5})
...     stored, load("example")
(True, {'key': {'value': 1.5}})
>>> del os.environ[ENV_DIR]
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

ENV_DIR = "TCONV_CACHE_DIR"


def cache_dir() -> Path:
    """``TCONV_CACHE_DIR`` when set, else the user's cache directory for tconv (not created here):
    platformdirs' answer, or, where platformdirs is missing from an environment, the XDG rule
    (``$XDG_CACHE_HOME/tconv``, else ``~/.cache/tconv``)."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    try:
        import platformdirs
    except ImportError:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tconv"
    return Path(platformdirs.user_cache_dir("tconv", appauthor=False))


def path(topic: str) -> Path:
    """The file that holds ``topic``."""
    return cache_dir() / f"{topic}.json"


def load(topic: str) -> dict[str, Any]:
    """Everything cached under ``topic`` (empty when there is nothing readable)."""
    try:
        data = json.loads(path(topic).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def store(topic: str, key: str, record: Any) -> bool:
    """Remember ``record`` under ``key`` in ``topic``, atomically; False when the directory is not writable."""
    target = path(topic)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        data = load(topic)
        data[key] = record
        fd, tmp = tempfile.mkstemp(prefix=f".{topic}-", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return False
    return True

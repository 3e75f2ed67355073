"""The memory guard: refuse a result or workspace that cannot fit, before allocating it.

The limit is the memory the machine has available now (``MemAvailable`` on
Linux, physical memory elsewhere), or the number of bytes in the environment
variable ``TCONV_MEMORY_LIMIT`` when it is set.

>>> check_fits(1024, "a small result")  # fits: returns quietly
>>> available_bytes() > 0
True
"""

from __future__ import annotations

import os

ENV_LIMIT = "TCONV_MEMORY_LIMIT"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _physical_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def available_bytes() -> int:
    """Bytes tconv may allocate for one call's result plus workspace."""
    override = os.environ.get(ENV_LIMIT)
    if override:
        try:
            return int(override)
        except ValueError:
            raise ValueError(f"{ENV_LIMIT} must be a whole number of bytes, got {override!r}") from None
    return _meminfo_available() or _physical_bytes()


def format_bytes(n: int) -> str:
    """Human-readable size, e.g. ``format_bytes(3 * 2**30) == '3.0 GiB'``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"


def check_fits(nbytes: int, what: str, limit: int | None = None) -> None:
    """Raise ``ValueError`` if ``nbytes`` exceed ``limit`` (default: the available memory)."""
    limit = available_bytes() if limit is None else limit
    if nbytes > limit:
        raise ValueError(
            f"{what} would need {nbytes} bytes ({format_bytes(nbytes)}), more than the {limit} bytes "
            f"({format_bytes(limit)}) of memory available; nothing was allocated"
        )

"""Reading tconv's environment variables on every call, cheaply.

``os.environ.get(name)`` of a variable that is not set costs about 0.7 us (the mapping raises and catches a
``KeyError``); a small call reads several such switches (``TCONV_NUMBA``, ``TCONV_AUTO``,
``TCONV_MEMORY_LIMIT``, ...) and the fixed cost per call is a goal (issue 15: at most 15 us).
:func:`variable` answers the same from the environment's own table in about 0.1 us, and falls back to
``os.environ.get`` where ``os.environ`` is not the standard mapping.

>>> import os
>>> os.environ["TCONV_EXAMPLE"] = "1"; variable("TCONV_EXAMPLE"), variable("TCONV_EXAMPLE_UNSET")
('1', None)
>>> del os.environ["TCONV_EXAMPLE"]; variable("TCONV_EXAMPLE") is None
True
"""

from __future__ import annotations

import os

_KEYS: dict[str, object] = {}  # name -> its key in the environment's table (the platform's encoding)


def variable(name: str, default: str | None = None) -> str | None:
    """``os.environ.get(name, default)``, read as fast as the platform's mapping allows."""
    environ = os.environ
    data = getattr(environ, "_data", None)
    if data is None:  # os.environ replaced by a plain mapping (tests may do this)
        return environ.get(name, default)
    key = _KEYS.get(name)
    if key is None:
        key = _KEYS[name] = environ.encodekey(name)  # type: ignore[attr-defined]
    raw = data.get(key)
    return default if raw is None else environ.decodevalue(raw)  # type: ignore[attr-defined]

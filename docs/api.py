"""Build tconv's API reference (HTML) from the docstrings with pdoc; a warning is an error.

    python docs/api.py [OUT_DIR]        # default docs/api; open OUT_DIR/index.html

The modules listed are the public surface (see docs/architecture.md); the private ones (leading
underscore) stay out.  tests/test_api_reference.py builds it on every test run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: The public modules, documented with their public names (``__all__`` where a module has one).
MODULES = (
    "tconv", "tconv.ops", "tconv.params", "tconv.shapes", "tconv.algorithms", "tconv.nn", "tconv.init",
    "tconv.optim", "tconv.grad", "tconv.matrix", "tconv.distributed", "tconv.viz", "tconv.memory",
    "tconv.chunking", "tconv.boundary",
)


def build(out: Path) -> subprocess.CompletedProcess:
    """Run pdoc over :data:`MODULES` into ``out`` with warnings turned into errors."""
    return subprocess.run([sys.executable, "-W", "error::UserWarning", "-m", "pdoc", *MODULES, "-o", str(out)],
                          capture_output=True, text=True, timeout=600)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("api")
    done = build(target)
    sys.stderr.write(done.stderr)
    print(f"API reference in {target / 'index.html'}" if done.returncode == 0 else "pdoc failed")
    sys.exit(done.returncode)

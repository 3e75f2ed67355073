"""Benchmark tconv against PyTorch CPU and ONNX Runtime on the suite (same as ``tconv bench``).

    PYTHONPATH=src python bench/run.py --quick
    PYTHONPATH=src python bench/run.py --out bench/results

See ``tconv bench --help`` for every option and :mod:`tconv.bench` for the method.
"""

import sys

from tconv.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

#!/usr/bin/env python
"""Time ``import inseq`` and ``inseq --help`` in fresh interpreters, side by side with the libraries they avoid.

Each command runs ``--repeats`` times in a new ``python`` process (this checkout's ``inseq`` first on the path); the
table shows the median wall time and its ratio to importing torch and transformers, the cost ``import inseq`` no
longer pays (the first ``load_model`` does).

Example:
    .. code-block:: bash

        .venv/bin/python benchmarks/bench_import.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = {
    "python (empty)": ["-c", "pass"],
    "import inseq": ["-c", "import inseq"],
    "inseq --help": ["-m", "inseq.commands.cli", "--help"],
    "import torch, transformers": ["-c", "import torch, transformers"],
    "first use of inseq.load_model": ["-c", "import inseq; inseq.load_model"],
}


def time_command(args: list[str], repeats: int) -> float:
    """Median wall time of ``python <args>`` over ``repeats`` fresh processes."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="Fresh processes per command (median reported).")
    args = parser.parse_args()
    results = {name: time_command(cmd, args.repeats) for name, cmd in COMMANDS.items()}
    reference = results["import torch, transformers"]
    print(f"{'command':<28} {'median s':>9} {'vs torch+transformers':>22}")
    for name, seconds in results.items():
        print(f"{name:<28} {seconds:>9.3f} {seconds / reference:>21.2f}x")


if __name__ == "__main__":
    main()

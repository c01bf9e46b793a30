#!/usr/bin/env python
"""Peak memory of ``inseq attribute-dataset --max_rows 50`` on a 20,000-row JSONL against a 200-row one.

The dataset is read as a stream (:mod:`inseq.pipelines.streams`), so the peak resident memory of the run should not
depend on the number of rows in the file: the target is a ratio of at most 1.10. Each run is a fresh
``python`` process (this checkout's ``inseq`` first on the path) attributing 50 rows with the tiny random GPT-2 of
:mod:`inseq.testing`; every row also carries a ~3 KB ``document`` column that is not attributed, as real datasets
carry metadata. The child reports its own peak RSS (``getrusage``).

Example:
    .. code-block:: bash

        .venv/bin/python benchmarks/bench_streaming.py
        .venv/bin/python benchmarks/bench_streaming.py --big 20000 --small 200 --max_rows 50
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = "the cat sat on a mat while my friend read one more book about the dog".split()


def write_jsonl(path: Path, n_rows: int, doc_words: int) -> None:
    """``n_rows`` rows: a short ``text`` to attribute and a ``document`` of ``doc_words`` words that is only read."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n_rows):
            text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(4))
            document = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(doc_words))
            f.write(json.dumps({"id": i, "text": text, "document": document}) + "\n")


def child(model: str, data: str, output_dir: str, max_rows: int) -> None:
    """Run the dataset command in this process and print its peak RSS (MiB) on the last line."""
    from inseq.commands.cli import main

    code = main(
        [
            "attribute-dataset", "-m", model, "-d", data, "-in", "text", "--output_dir", output_dir, "--hide",
            "--device", "cpu", "--max_rows", str(max_rows), "-bs", "8",
            "--generation_kwargs", json.dumps({"max_new_tokens": 3, "min_new_tokens": 3}),
        ]
    )  # fmt: skip
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"PEAK_RSS_MIB {peak_kib / 1024:.1f} exit={code}")


def measure(model: Path, data: Path, output_dir: Path, max_rows: int) -> float:
    """Peak RSS (MiB) of one run in a fresh process."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    command = [sys.executable, __file__, "--child", str(model), str(data), str(output_dir), str(max_rows)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PEAK_RSS_MIB")]
    if proc.returncode != 0 or not lines or not lines[-1].endswith("exit=0"):
        raise SystemExit(f"run on {data} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return float(lines[-1].split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", type=int, default=20_000, help="Rows of the large file.")
    parser.add_argument("--small", type=int, default=200, help="Rows of the small file.")
    parser.add_argument("--max_rows", type=int, default=50, help="Rows attributed in each run.")
    parser.add_argument("--doc_words", type=int, default=600, help="Words of the unattributed column (~5 chars each).")
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "DATA", "OUT", "MAX_ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, data, out, max_rows = args.child
        child(model, data, out, int(max_rows))
        return
    sys.path.insert(0, str(ROOT))
    from inseq.testing import get_tiny_model_path

    model = get_tiny_model_path("gpt2")
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for n_rows in (args.small, args.big):
            data = Path(tmp) / f"rows_{n_rows}.jsonl"
            write_jsonl(data, n_rows, args.doc_words)
            mib = data.stat().st_size / 2**20
            results[n_rows] = (mib, measure(model, data, Path(tmp) / f"run_{n_rows}", args.max_rows))
    print(f"{'input':<22} {'file MiB':>9} {'peak RSS MiB':>13}")
    for n_rows, (mib, peak) in results.items():
        print(f"{f'{n_rows:,} rows JSONL':<22} {mib:>9.1f} {peak:>13.1f}")
    ratio = results[args.big][1] / results[args.small][1]
    print(
        f"ratio {args.big:,} / {args.small:,} rows: {ratio:.3f} (target <= 1.10): {'OK' if ratio <= 1.10 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()

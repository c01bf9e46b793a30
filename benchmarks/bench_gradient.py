#!/usr/bin/env python
"""Time the attribution engine against the step-by-step Captum reference for the gradient methods.

Every measurement (one implementation, one method, one shape) runs in a fresh subprocess, so that its peak resident
memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: torch's CPU allocator is invisible to ``tracemalloc``) is its
own. Inside the subprocess the model is loaded and warmed up on a tiny input first; only the attribution itself is
timed. Targets are forced random sequences of single-token words (prompt ``P`` tokens + ``G`` generated tokens).

The model is the GPT-2-small-shaped random model written by ``scripts/build_benchmark_model.py`` to
``benchmarks/models/gpt2-small-random/``; with ``--small`` (or when that folder is absent) a smaller random GPT-2
(4 layers, 256 hidden) with the tiny test tokenizer is built into ``benchmarks/models/gpt2-bench-small/``.

``attnlrp`` and ``cp_lrp`` have no Captum reference: only the engine runs them, and when ``saliency`` is measured in
the same run a second table gives each method's time and memory relative to saliency on the same inputs (peak RSS,
and the attribution's own memory: peak minus the RSS after loading and warm-up).

Example:
    .. code-block:: bash

        OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_gradient.py --methods saliency --shapes 20x50
        .venv/bin/python benchmarks/bench_gradient.py --methods saliency,attnlrp,cp_lrp --impls engine
        .venv/bin/python benchmarks/bench_gradient.py --small --shapes 5x10 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
FULL_MODEL = ROOT / "models" / "gpt2-small-random"
SMALL_MODEL = ROOT / "models" / "gpt2-bench-small"
DEFAULT_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "attnlrp", "cp_lrp")
#: Methods without a step-by-step Captum reference: only the engine is timed, and compared with saliency.
NO_REFERENCE = frozenset({"attnlrp", "cp_lrp"})
DEFAULT_SHAPES = ((20, 50), (5, 100), (500, 10))


def parse_shapes(text: str) -> list[tuple[int, int]]:
    """Parse ``"20x50,5x100"`` into ``[(20, 50), (5, 100)]`` (prompt tokens x generated tokens).

    Example:
        >>> parse_shapes("20x50,5x100")
        [(20, 50), (5, 100)]
    """
    shapes = []
    for item in text.split(","):
        prompt, generated = item.lower().split("x")
        shapes.append((int(prompt), int(generated)))
    return shapes


def build_small_model(output: Path = SMALL_MODEL) -> Path:
    """Build (once) a 4-layer random GPT-2 with the tiny test tokenizer, for quick benchmark runs."""
    if (output / "config.json").exists():
        return output
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from inseq.testing import get_tiny_model_path

    tokenizer = AutoTokenizer.from_pretrained(get_tiny_model_path("gpt2"))
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=1024,
        n_embd=256,
        n_layer=4,
        n_head=4,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(config).eval()
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    return output


def random_texts(tokenizer: Any, prompt_len: int, gen_len: int, seed: int = 0) -> tuple[str, str]:
    """A prompt of ``prompt_len`` tokens and its continuation to ``prompt_len + gen_len`` tokens (random words).

    Words are vocabulary entries ``Ġ[a-z]+`` that tokenise back to themselves, so token counts are exact.
    """
    rng = random.Random(seed)
    words = [t[1:] for t in tokenizer.get_vocab() if re.fullmatch(r"Ġ[a-z]{2,}", t)]
    words = sorted(w for w in words if len(tokenizer(" " + w)["input_ids"]) == 1)
    if not words:
        raise RuntimeError("no single-token words found in the vocabulary")
    for _ in range(20):
        chosen = [rng.choice(words) for _ in range(prompt_len + gen_len)]
        prompt = "".join(" " + w for w in chosen[:prompt_len])
        full = prompt + "".join(" " + w for w in chosen[prompt_len:])
        prompt_ids, full_ids = tokenizer(prompt)["input_ids"], tokenizer(full)["input_ids"]
        if (
            len(prompt_ids) == prompt_len
            and len(full_ids) == prompt_len + gen_len
            and full_ids[:prompt_len] == prompt_ids
        ):
            return prompt, full
    raise RuntimeError(f"could not build texts of exactly {prompt_len}+{gen_len} tokens")


def _rss_mb() -> float:
    """Current resident set size (MB), from ``/proc/self/status``."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(
    impl: str, method: str, prompt_len: int, gen_len: int, model_path: Path, threads: int, n_steps: int
) -> dict:
    """One measurement (run in its own process): load, warm up, then time one attribution."""
    import torch

    torch.set_num_threads(threads)
    import warnings

    import inseq
    from inseq.testing.reference import encode_example, reference_attribute
    from inseq.utils.budgets import get_budgets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = inseq.load_model(str(model_path), method)
    kwargs = {"n_steps": n_steps} if method == "integrated_gradients" else {}

    def run(prompt: str, full: str) -> None:
        run_kwargs = dict(kwargs)
        if method == "integrated_gradients":
            # both sides interpolate the same number of steps per forward pass (bounded memory, as the engine does)
            length = len(model.encode(full).input_ids[0])
            run_kwargs["internal_batch_size"] = max(1, min(n_steps, get_budgets().forward_tokens // length))
        if impl == "engine":
            model.attribute([prompt], [full], method=method, show_progress=False, **run_kwargs)
        else:
            reference_attribute(model, method, encode_example(model, prompt, full), **run_kwargs)

    run(*random_texts(model.tokenizer, 2, 2, seed=1))
    base = _rss_mb()
    prompt, full = random_texts(model.tokenizer, prompt_len, gen_len)
    start = time.perf_counter()
    run(prompt, full)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"time_s": elapsed, "peak_rss_mb": peak, "base_rss_mb": base, "threads": torch.get_num_threads()}


def measure(impl: str, method: str, shape: tuple[int, int], model_path: Path, threads: int, n_steps: int) -> dict:
    """Run :func:`worker` in a fresh subprocess and return its JSON result."""
    cmd = [sys.executable, __file__, "--worker", impl, "--methods", method, "--shapes", f"{shape[0]}x{shape[1]}"]
    cmd += ["--model", str(model_path), "--threads", str(threads), "--n-steps", str(n_steps)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} {method} {shape} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_versus_saliency(rows: list[dict]) -> None:
    """Print each method's engine time and memory as a ratio to saliency's on the same shape (same run)."""
    base = {tuple(r["shape"]): r["engine"] for r in rows if r["method"] == "saliency" and r.get("engine")}
    others = [r for r in rows if r["method"] != "saliency" and r.get("engine") and tuple(r["shape"]) in base]
    if not others:
        return
    header = f"{'method':<22}{'shape':>9}{'time / saliency':>17}{'peak RSS / saliency':>21}{'own MB / saliency':>19}"
    print("\n" + header + "\n" + "-" * len(header))
    for row in others:
        eng, sal = row["engine"], base[tuple(row["shape"])]
        own = (eng["peak_rss_mb"] - eng["base_rss_mb"]) / max(sal["peak_rss_mb"] - sal["base_rss_mb"], 1e-9)
        shape = f"{row['shape'][0]}x{row['shape'][1]}"
        print(
            f"{row['method']:<22}{shape:>9}{eng['time_s'] / sal['time_s']:>16.2f}x"
            f"{eng['peak_rss_mb'] / sal['peak_rss_mb']:>20.2f}x{own:>18.2f}x",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: measure every (method, shape) for both implementations and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated method ids")
    parser.add_argument("--shapes", default=",".join(f"{p}x{g}" for p, g in DEFAULT_SHAPES), help="PxG,... shapes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (and OMP_NUM_THREADS) per measurement")
    parser.add_argument("--n-steps", type=int, default=50, help="integrated gradients steps")
    parser.add_argument("--small", action="store_true", help="use a smaller random GPT-2 (built if needed)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (overrides --small)")
    parser.add_argument("--impls", default="engine,reference", help="implementations to time")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    shapes = parse_shapes(args.shapes)
    if args.worker:
        result = worker(args.worker, methods[0], *shapes[0], args.model, args.threads, args.n_steps)
        print(json.dumps(result))
        return
    model_path = args.model
    if model_path is None:
        if args.small or not (FULL_MODEL / "config.json").exists():
            if not args.small:
                print(f"{FULL_MODEL} not found (run scripts/build_benchmark_model.py): using --small", file=sys.stderr)
            model_path = build_small_model()
        else:
            model_path = FULL_MODEL
    impls = [i for i in args.impls.split(",") if i]
    print(f"model: {model_path}  threads: {args.threads}  ig n_steps: {args.n_steps}")
    header = f"{'method':<22}{'shape':>9}{'engine s':>11}{'reference s':>13}{'speedup':>9}"
    header += f"{'engine MB':>11}{'reference MB':>14}{'threads':>9}"
    print(header)
    print("-" * len(header))
    rows = []
    for method in methods:
        for shape in shapes:
            method_impls = [i for i in impls if i == "engine" or method not in NO_REFERENCE]
            res = {impl: measure(impl, method, shape, model_path, args.threads, args.n_steps) for impl in method_impls}
            eng, ref = res.get("engine"), res.get("reference")
            ratio = ref["time_s"] / eng["time_s"] if eng and ref else float("nan")
            threads = (eng or ref)["threads"]

            def fmt(r: dict | None, key: str, spec: str) -> str:
                return format(r[key], spec) if r else "-"

            print(
                f"{method:<22}{f'{shape[0]}x{shape[1]}':>9}{fmt(eng, 'time_s', '.2f'):>11}"
                f"{fmt(ref, 'time_s', '.2f'):>13}{ratio:>8.1f}x{fmt(eng, 'peak_rss_mb', '.0f'):>11}"
                f"{fmt(ref, 'peak_rss_mb', '.0f'):>14}{threads:>9}",
                flush=True,
            )
            rows.append({"method": method, "shape": list(shape), "speedup": ratio, **{k: v for k, v in res.items()}})
    print_versus_saliency(rows)
    if args.json:
        args.json.write_text(json.dumps({"model": str(model_path), "threads": args.threads, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

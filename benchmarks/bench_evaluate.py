#!/usr/bin/env python
"""Time ``inseq.evaluate.evaluate`` relative to the attribution it evaluates (saliency and occlusion).

The model is GPT-2-small-shaped (12 layers, 768 hidden, 12 heads, vocabulary 50257): the random model of
``scripts/build_benchmark_model.py`` when ``benchmarks/models/gpt2-small-random/`` exists, otherwise the same shape
built in memory from a fixed seed with the tiny test tokenizer (the vocabulary is padded to 50257 rows, so the
output layer costs what GPT-2 small's does). ``--small`` uses the 4-layer benchmark model of ``bench_gradient.py``.
Targets are forced random sequences of single-token words (``P`` prompt + ``G`` generated tokens); the model is
warmed up first and each timing is the best of ``--repeat`` runs.

Example:
    .. code-block:: bash

        OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_evaluate.py --shape 10x5
        .venv/bin/python benchmarks/bench_evaluate.py --small --shape 10x5 --metrics comprehensiveness
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gradient import FULL_MODEL, build_small_model, random_texts  # noqa: E402


def gpt2_small_shaped() -> Any:
    """A GPT-2-small-shaped random model (seed 0) with the tiny test tokenizer, wrapped for inseq."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from inseq.models import load_model
    from inseq.testing import get_tiny_model_path

    tokenizer = AutoTokenizer.from_pretrained(get_tiny_model_path("gpt2"))
    config = GPT2Config(
        vocab_size=50257,
        n_positions=1024,
        n_embd=768,
        n_layer=12,
        n_head=12,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(config).eval()
    model.config.name_or_path = "gpt2-small-shaped-random"
    return load_model(model, tokenizer=tokenizer)


def _best(fn, repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(model: Any, method: str, prompt: str, full: str, metrics: list[str] | None, repeat: int) -> dict:
    """Attribution and evaluation times (seconds), their ratio, and the number of values."""
    from inseq.evaluate import evaluate

    attr_s, out = _best(lambda: model.attribute(prompt, full, method=method, show_progress=False), repeat)
    eval_s, res = _best(lambda: evaluate(model, out, metrics), repeat)
    return {
        "method": method,
        "attribution_s": attr_s,
        "evaluation_s": eval_s,
        "values": len(res.records),
        "rows": res.info["model_rows"],
        "forwards": res.info["model_forwards"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="10x5", help="prompt x generated tokens (default 10x5)")
    parser.add_argument("--methods", nargs="+", default=["saliency", "occlusion"])
    parser.add_argument("--metrics", nargs="+", default=None, help="metric ids (default: all)")
    parser.add_argument("--small", action="store_true", help="the 4-layer benchmark GPT-2 instead")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    from inseq.models import load_model

    torch.set_num_threads(args.threads)
    if args.small:
        model, name = load_model(str(build_small_model())), "gpt2-bench-small (4 layers, 256 hidden)"
    elif (FULL_MODEL / "config.json").exists():
        model, name = load_model(str(FULL_MODEL)), "gpt2-small-random (GPT-2 small, GPT-2 tokenizer)"
    else:
        model, name = gpt2_small_shaped(), "GPT-2-small-shaped random model (tiny tokenizer, vocab 50257)"
    prompt_len, gen_len = (int(x) for x in args.shape.lower().split("x"))
    prompt, full = random_texts(model.tokenizer, prompt_len, gen_len)
    warm_p, warm_f = random_texts(model.tokenizer, 3, 2, seed=1)
    from inseq.evaluate import evaluate

    evaluate(model, model.attribute(warm_p, warm_f, method="saliency", show_progress=False), ["comprehensiveness"])
    metrics = args.metrics
    print(f"{name}, {prompt_len}+{gen_len} tokens, {args.threads} thread(s), metrics: {metrics or 'all'}")
    print(
        "| method | attribution (s) | evaluation (s) | evaluation / attribution | values | perturbed rows | forwards |"
    )
    print("|---|---|---|---|---|---|---|")
    for method in args.methods:
        r = measure(model, method, prompt, full, metrics, args.repeat)
        ratio = r["evaluation_s"] / r["attribution_s"]
        cells = f"{r['attribution_s']:.2f} | {r['evaluation_s']:.2f} | {ratio:.1f}x | {r['values']}"
        print(f"| {method} | {cells} | {r['rows']} | {r['forwards']} |")


if __name__ == "__main__":
    main()

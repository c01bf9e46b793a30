#!/usr/bin/env python
"""Source attribution against ContextCite (MadryLab, PyPI ``context-cite`` 0.0.4), side by side: weights and time.

Both run on the same model, sources, query and forced response, with the same prompt (the ContextCite template as
one user message in a chat template) and the same ablation masks (``RandomState(seed + i)``), so the surrogate
weights should be equal up to floating point; the script prints both, the largest difference relative to their
scale, and the time of each at the same ``n_ablations`` (ContextCite at its default ``batch_size=1``, and at
``--cc-batch-size`` when given).

ContextCite runs in its own environment (it pins packages of its own and needs ``nltk`` and ``spacy``): create it
once, then pass its interpreter with ``--contextcite-python``. Its import tries an NLTK download, which fails
harmlessly offline: the sources are given to it through a partitioner of its own kind, so NLTK is never used::

    python -m venv /tmp/venv-cc && /tmp/venv-cc/bin/pip install torch==2.13.0 && /tmp/venv-cc/bin/pip install context-cite==0.0.4

The model is the GPT-2-small-shaped random model of ``scripts/build_benchmark_model.py`` (12 layers, 768 hidden,
real GPT-2 tokenizer), with a minimal chat template set on its tokenizer for both libraries. The context has 20
sentences.

Example:
    .. code-block:: bash

        OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sources.py --contextcite-python /tmp/venv-cc/bin/python
        .venv/bin/python benchmarks/bench_sources.py --n-ablations 16 --sentences 8 --skip-contextcite

The timed runs are interleaved (``--repeats`` pairs, each a run of ours then one of ContextCite's, in fresh
processes for ContextCite), so that a slower spell of a shared machine slows both; the median ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MODEL = ROOT / "models" / "gpt2-small-random"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
NAMES = ["Mary", "John", "Tom", "Anna", "Paul", "Lucy", "Mark", "Sara", "Nick", "Emma"]
THINGS = ["a cup", "a hat", "a key", "a book", "a lamp", "a pen", "a ring", "a box", "a map", "a coin"]

# Runs in ContextCite's interpreter: reads the job from stdin, prints one JSON line.
CONTEXTCITE_WORKER = r"""
import json, sys, time
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from context_cite import ContextCiter
from context_cite.context_partitioner import BaseContextPartitioner

job = json.loads(sys.stdin.read())
torch.set_num_threads(job["threads"])

class Given(BaseContextPartitioner):
    def __init__(self, sources, separator):
        super().__init__(separator.join(sources))
        self.parts, self.separator = sources, separator
    @property
    def num_sources(self):
        return len(self.parts)
    def split_context(self):
        pass
    def get_source(self, index):
        return self.parts[index]
    def get_context(self, mask=None):
        mask = np.ones(len(self.parts), dtype=bool) if mask is None else mask
        return self.separator.join(p for p, keep in zip(self.parts, mask) if keep)

model = AutoModelForCausalLM.from_pretrained(job["model"])
model.eval()
tokenizer = AutoTokenizer.from_pretrained(job["model"])
tokenizer.chat_template = job["chat_template"]
tokenizer.padding_side = "left"
partitioner = Given(job["sources"], job["separator"])
cc = ContextCiter(model, tokenizer, partitioner.context, job["query"], num_ablations=job["n_ablations"],
                  batch_size=job["batch_size"], partitioner=partitioner)
_, prompt = cc._get_prompt_ids(return_prompt=True)
cc._cache["output"] = prompt + job["response"]
start = time.perf_counter()
weights = cc.get_attributions(verbose=False)
print(json.dumps({"weights": [float(w) for w in weights], "seconds": time.perf_counter() - start,
                  "response": cc.response}))
"""


def context_sentences(n: int) -> list[str]:
    """``n`` short sentences of who has what."""
    return [f"{NAMES[i % 10]} has {THINGS[(3 * i) % 10]} in room {i}." for i in range(n)]


def run_inseq(
    model_path: Path, sources: list[str], query: str, response: str | None, n_ablations: int, repeats: int = 1
) -> dict:
    """Our run: load, warm up, then time ``attribute_sources`` (ablation) ``repeats`` times (``seconds``: each)."""
    import warnings

    import inseq

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = inseq.load_model(str(model_path), "saliency")
    kwargs = {"chat_template": CHAT_TEMPLATE, "method": "ablation"}
    warm = inseq.attribute_sources(model, sources[:2], query, response=" ok", n_ablations=2, **kwargs)
    del warm
    if response is None:
        response = inseq.attribute_sources(
            model, sources, query, n_ablations=2, generation_args={"max_new_tokens": 12}, **kwargs
        ).response
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = inseq.attribute_sources(model, sources, query, response=response, n_ablations=n_ablations, **kwargs)
        seconds.append(time.perf_counter() - start)
    return {
        "weights": out.scores.tolist(),
        "seconds": seconds,
        "response": out.response,
        "forwards": out.info["n_forwards"],
    }


def run_contextcite(python: str, job: dict) -> dict:
    """ContextCite's run, in its own interpreter."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": str(job["threads"])}
    proc = subprocess.run(
        [python, "-c", CONTEXTCITE_WORKER], input=json.dumps(job), capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ContextCite failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(ours: dict, theirs: list[dict], label: str) -> None:
    """Print both weight vectors' largest difference relative to the weights' scale, and the times: each pair of
    runs side by side (ours, then ContextCite's) and the median ratio."""
    scale = max(max(abs(w) for w in theirs[0]["weights"]), 1e-12)
    diff = max(abs(a - b) for a, b in zip(ours["weights"], theirs[0]["weights"]))
    print(
        f"\n{label}: max |inseq - ContextCite| = {diff:.3g} = {diff / scale:.2e} of the scale (max |w| = {scale:.3g})"
    )
    ratios = [a / b["seconds"] for a, b in zip(ours["seconds"], theirs)]
    for a, b, r in zip(ours["seconds"], theirs, ratios):
        print(f"  time: inseq {a:.2f} s, ContextCite {b['seconds']:.2f} s, ratio {r:.3f}")
    print(f"  median ratio over {len(ratios)} pair(s): {statistics.median(ratios):.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--contextcite-python", default=None, help="interpreter of an environment with context-cite")
    parser.add_argument("--skip-contextcite", action="store_true")
    parser.add_argument("--cc-batch-size", type=int, default=None, help="also run ContextCite with this batch size")
    parser.add_argument("--n-ablations", type=int, default=64)
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--response", default=None, help="forced response (default: 12 generated tokens)")
    parser.add_argument("--repeats", type=int, default=3, help="pairs of timed runs, interleaved (median ratio)")
    args = parser.parse_args(argv)
    if not args.model.exists():
        sys.exit(f"{args.model} is missing: build it with scripts/build_benchmark_model.py")
    import torch

    torch.set_num_threads(args.threads)
    sources, query = context_sentences(args.sentences), "Who has a key?"
    ours = run_inseq(args.model, sources, query, args.response, args.n_ablations)
    print(f"model {args.model.name}, {len(sources)} sources, {args.n_ablations} ablations, {args.threads} thread(s)")
    print(f"response: {ours['response']!r}; inseq ran {ours['forwards']} forwards in {ours['seconds'][0]:.2f} s")
    if args.skip_contextcite or not args.contextcite_python:
        print("ContextCite not run (pass --contextcite-python).")
        return
    job = {
        "model": str(args.model), "sources": sources, "query": query, "response": ours["response"], "separator": " ",
        "n_ablations": args.n_ablations, "batch_size": 1, "threads": args.threads, "chat_template": CHAT_TEMPLATE,
    }  # fmt: skip
    theirs = [run_contextcite(args.contextcite_python, job)]
    for _ in range(args.repeats - 1):  # interleaved, so that a slower spell of the machine hits both
        ours["seconds"] += run_inseq(args.model, sources, query, ours["response"], args.n_ablations)["seconds"]
        theirs.append(run_contextcite(args.contextcite_python, job))
    if theirs[0]["response"] != ours["response"]:
        print(f"warning: ContextCite attributes {theirs[0]['response']!r}")
    print("\nsource  inseq      ContextCite")
    for i, (a, b) in enumerate(zip(ours["weights"], theirs[0]["weights"])):
        print(f"{i:>6}  {a:+.5f}  {b:+.5f}")
    compare(ours, theirs, "ContextCite batch_size=1 (its default)")
    if args.cc_batch_size:
        theirs_b = run_contextcite(args.contextcite_python, {**job, "batch_size": args.cc_batch_size})
        compare({**ours, "seconds": ours["seconds"][-1:]}, [theirs_b], f"ContextCite batch_size={args.cc_batch_size}")


if __name__ == "__main__":
    main()

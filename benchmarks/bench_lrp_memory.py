#!/usr/bin/env python
"""Peak memory and time of ``attnlrp`` / ``cp_lrp`` on a long prompt: fused SDPA under the rules against eager attention.

Issue 21: the LRP rules run through ``torch.nn.functional.scaled_dot_product_attention`` itself (its backward with
the gradients of queries and keys scaled by 1/4 and of values by 1/2 is AttnLRP's), so no ``L x L`` attention map is
kept; before, the model was switched to eager attention and every map of every layer was stored for the backward.

Each measurement (method x attention) runs in a fresh subprocess on the tiny Llama of :mod:`inseq.testing` (2 layers,
hidden 32, 4 heads, 2 KV heads) with its position limit raised to fit the prompt. The model is loaded and warmed up,
the resident set's high-water mark is reset (``/proc/self/clear_refs``; torch's CPU allocator is invisible to
``tracemalloc``) and only the attribution runs: ``own`` is its peak resident set minus the resident set before it.
A second, separate pass records every tensor created during the attribution (a ``TorchDispatchMode``) and reports the
largest floating tensor whose two last dimensions are both at least the prompt length (``LxL``: an attention map
or its gradient; 0 when none exists).

Example:
    .. code-block:: bash

        OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lrp_memory.py --tokens 1024
        .venv/bin/python benchmarks/bench_lrp_memory.py --tokens 4096 --attention fused --forced 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = "the small cat sees the dog and"


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _build_model(tokens: int, folder: Path) -> Path:
    """The tiny Llama with ``max_position_embeddings`` raised to fit ``tokens`` (+ margin), saved under ``folder``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from inseq.testing import get_tiny_model_path

    source = get_tiny_model_path("llama")
    model = AutoModelForCausalLM.from_pretrained(source)
    model.config.max_position_embeddings = tokens + 64
    target = folder / f"llama-{tokens}"
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return target


def _prompt(model: Any, tokens: int) -> tuple[str, int]:
    """A prompt of about ``tokens`` tokens (repeated words) and its exact length."""
    per = len(model.encode(" ".join([WORDS] * 10)).input_ids[0]) / 10
    reps = max(1, round(tokens / per))
    prompt = " ".join([WORDS] * reps)
    return prompt, len(model.encode(prompt).input_ids[0])


def measure(model_path: str, method: str, attention: str, tokens: int, forced: int) -> dict[str, Any]:
    """One measurement, in this process (the parent runs each in a fresh one)."""
    from contextlib import nullcontext

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    import inseq

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = inseq.load_model(model_path, method)
    prompt, length = _prompt(model, tokens)
    text = prompt + " the dog sees the cat and the" * max(1, forced // 7 + 1)
    text_ids = model.encode(text).input_ids[0][: length + forced]
    text = model.tokenizer.decode(text_ids, skip_special_tokens=True)

    def context() -> Any:
        return model.eager_attention() if attention == "eager" else nullcontext()

    with context():  # warm-up on a short input
        model.attribute(WORDS, WORDS + " the", method=method, show_progress=False)
    before = _rss_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    started = time.perf_counter()
    with context():
        out = model.attribute(prompt, text, method=method, show_progress=False)[0]
    seconds = time.perf_counter() - started
    peak = _rss_kb("VmHWM")
    steps = out.target_attributions.shape[1]

    class Square(TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            for t in result if isinstance(result, tuple | list) else (result,):
                if isinstance(t, torch.Tensor) and t.is_floating_point() and t.ndim >= 2:
                    if min(t.shape[-1], t.shape[-2]) >= length:
                        Square.largest = max(Square.largest, t.numel() * t.element_size())
            return result

    with context(), Square():
        model.attribute(prompt, text, method=method, show_progress=False)
    return {
        "method": method,
        "attention": attention,
        "prompt": length,
        "steps": steps,
        "seconds": seconds,
        "own_mb": (peak - before) / 1024,
        "peak_mb": peak / 1024,
        "largest_square_mb": Square.largest / 2**20,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", default="1024", help="prompt lengths, comma-separated (default 1024)")
    parser.add_argument("--methods", default="attnlrp,cp_lrp,saliency", help="methods, comma-separated")
    parser.add_argument("--forced", type=int, default=4, help="forced target tokens after the prompt (default 4)")
    parser.add_argument("--attention", default="fused,eager", help="LRP attention runs: fused, eager (default both)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one measurement, print JSON
    args = parser.parse_args(argv)
    if args.one:
        spec = json.loads(args.one)
        print(json.dumps(measure(**spec)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for tokens in (int(t) for t in args.tokens.split(",")):
            path = _build_model(tokens, Path(tmp))
            for method in args.methods.split(","):
                runs = args.attention.split(",") if method in ("attnlrp", "cp_lrp") else ["fused"]
                for attention in runs:
                    spec = {"model_path": str(path), "method": method, "attention": attention}
                    spec |= {"tokens": tokens, "forced": args.forced}
                    done = subprocess.run(
                        [sys.executable, __file__, "--one", json.dumps(spec)],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| method | attention | prompt | steps | time (s) | own peak RSS (MB) | largest LxL tensor (MB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['attention']} | {r['prompt']} | {r['steps']} | {r['seconds']:.2f} | "
            f"{r['own_mb']:.0f} | {r['largest_square_mb']:.1f} |"
        )


if __name__ == "__main__":
    main()

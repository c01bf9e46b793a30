#!/usr/bin/env python
"""Time and peak memory of the engine against the step-by-step reference (inseq 0.7's computation), side by side.

Methods: ``saliency``, ``input_x_gradient``, ``integrated_gradients`` (reference: Captum on each prefix, like
:mod:`inseq.testing.reference`) and ``occlusion`` (reference: one forward per prefix and occluded token, from
``bench_perturbation.py``). By default the reference runs the examples of a batch together at each prefix, as inseq
0.7 does (``--reference-batching single``: one example at a time); with ``--reference-positions K`` it runs on ``K``
evenly spaced positions per example (the longest included, so its peak is kept) and its time is extrapolated by the
prefix-length cost model (marked ``*``).

Every measurement (one implementation, one method, one shape ``PxGxB``: prompt tokens x generated tokens x batch
size) runs in a fresh subprocess on this checkout's ``inseq``. The model is loaded and warmed up first; then the
resident set's high-water mark is reset (``/proc/self/clear_refs``; torch's CPU allocator is invisible to
``tracemalloc``) and only the attribution runs, so ``peak`` is the attribution's own peak with the model loaded and
``own`` is that peak minus the resident set before it (on CUDA ``max_memory_allocated`` is compared too). Ratios are
engine / reference, measured in the same run. Targets are forced random single-token words.

The model is the GPT-2-small-shaped random model written by ``scripts/build_benchmark_model.py`` to
``benchmarks/models/gpt2-small-random/``; with ``--small`` (or when that folder is absent) a smaller random GPT-2
(4 layers, 256 hidden) with the tiny test tokenizer is built into ``benchmarks/models/gpt2-bench-small/``. Engine
memory budgets can be changed for a run with ``--budgets backward_tokens=4096,...``
(:func:`inseq.utils.budgets.memory_budgets`).

``attnlrp`` and ``cp_lrp`` have no Captum reference: only the engine runs them. When ``saliency`` is measured in the
same run a second table gives each method's time and memory relative to saliency on the same inputs (integrated
gradients with ``n`` steps should cost about ``n`` saliencies and peak at about one).

Example:
    .. code-block:: bash

        OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_gradient.py --shapes 10x40x2,200x20x1 --reference-positions 3
        .venv/bin/python benchmarks/bench_gradient.py --small --shapes 5x10 --methods saliency,occlusion --n-steps 4
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
DEFAULT_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "occlusion", "attnlrp", "cp_lrp")
#: Methods without a step-by-step Captum reference: only the engine is timed, and compared with saliency.
NO_REFERENCE = frozenset({"attnlrp", "cp_lrp"})
DEFAULT_SHAPES = ((10, 40, 2), (200, 20, 1))


def parse_shapes(text: str) -> list[tuple[int, int, int]]:
    """Parse ``"10x40x2,200x20"`` into ``[(10, 40, 2), (200, 20, 1)]`` (prompt x generated tokens x batch size).

    Example:
        >>> parse_shapes("10x40x2,200x20")
        [(10, 40, 2), (200, 20, 1)]
    """
    shapes = []
    for item in text.split(","):
        parts = [int(v) for v in item.lower().split("x")]
        if len(parts) not in (2, 3):
            raise ValueError(f"shape {item!r} must be PxG or PxGxB (prompt, generated tokens, batch size)")
        shapes.append((parts[0], parts[1], parts[2] if len(parts) == 3 else 1))
    return shapes


def parse_budgets(text: str) -> dict[str, int | None]:
    """``name=value,...`` memory budgets (``none`` turns an optional one off) as keyword arguments.

    Raises:
        SystemExit: for an item that is not ``name=integer`` or ``name=none``.

    Example:
        >>> parse_budgets("backward_tokens=4096,release_mb=none")
        {'backward_tokens': 4096, 'release_mb': None}
        >>> parse_budgets("release_mb=lots")
        Traceback (most recent call last):
        ...
        SystemExit: --budgets: 'release_mb=lots' must be name=integer or name=none
    """
    budgets: dict[str, int | None] = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if not name or not (value.isdigit() or value.lower() == "none"):
            raise SystemExit(f"--budgets: {item!r} must be name=integer or name=none")
        budgets[name] = None if value.lower() == "none" else int(value)
    return budgets


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


def _status_mb(key: str) -> float:
    """A memory figure of this process (``VmRSS``, ``VmHWM``...) in MB, from ``/proc/self/status``."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    """Reset the peak resident set size (``VmHWM``) of this process; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _positions(prompt_len: int, length: int, keep: int | None) -> list[int]:
    """Attributed positions of an example, or ``keep`` evenly spaced ones of them (the last, longest one included)."""
    positions = list(range(prompt_len, length))
    if not keep or keep >= len(positions):
        return positions
    if keep == 1:
        return positions[-1:]
    step = (len(positions) - 1) / (keep - 1)
    return sorted({positions[round(i * step)] for i in range(keep)} | {positions[-1]})


#: Reference cost of one position as a function of its prefix length (up to a constant), to extrapolate timings.
COST = {"occlusion": lambda p: p * p}


def _reference_run(model: Any, method: str, prompt: str, full: str, kwargs: dict, keep: int | None) -> float:
    """One example through the step-by-step reference; returns the share of its positions that ran (1: all)."""
    ids = model.encode(full).input_ids[0].tolist()
    start = len(model.encode(prompt).input_ids[0])
    positions = _positions(start, len(ids), keep)
    cost = COST.get(method, lambda p: p)
    share = sum(cost(p) for p in positions) / sum(cost(p) for p in range(start, len(ids)))
    if method == "occlusion":
        from bench_perturbation import reference_occlusion

        reference_occlusion(model, ids, positions)
        return share
    from inseq.testing.reference import encode_example, reference_attribute

    example = encode_example(model, prompt, full)
    for p in positions:
        reference_attribute(model, method, example, attr_pos_start=p, attr_pos_end=p + 1, **kwargs)
    return share


def _joint_reference(model: Any, method: str, texts: list[tuple[str, str]], kwargs: dict, keep: int | None) -> float:
    """The batch through Captum one prefix at a time, all examples together, as inseq 0.7 runs a batch.

    The examples must have equal token lengths (the benchmark's texts do), so no padding is involved. Returns the
    share of the positions' cost that ran (1: all positions).
    """
    import torch
    from captum.attr import IntegratedGradients, Saliency

    ids = torch.tensor([model.encode(full).input_ids[0].tolist() for _, full in texts])
    start = len(model.encode(texts[0][0]).input_ids[0])
    positions = _positions(start, ids.shape[1], keep)
    cost = COST.get(method, lambda p: p)
    share = sum(cost(p) for p in positions) / sum(cost(p) for p in range(start, ids.shape[1]))
    if method == "occlusion":
        from bench_perturbation import reference_occlusion

        reference_occlusion(model, ids.tolist(), positions)
        return share
    with torch.no_grad():
        emb, base = model.embed_ids(ids), model.embed_ids(model.baseline_ids(ids))
    for p in positions:
        target = ids[:, p]

        def forward(x: torch.Tensor, target: torch.Tensor = target) -> torch.Tensor:
            mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
            probs = model.model(inputs_embeds=x, attention_mask=mask, use_cache=False).logits[:, -1].softmax(-1)
            return probs.gather(1, target.repeat(x.shape[0] // len(target)).unsqueeze(1))[:, 0]

        x = emb[:, :p].clone().requires_grad_()
        if method == "saliency":
            Saliency(forward).attribute(x, abs=True)
        else:
            ig = IntegratedGradients(forward, multiply_by_inputs=True)
            ig.attribute(x, baselines=base[:, :p], n_steps=kwargs["n_steps"], return_convergence_delta=True)
    return share


def worker(
    impl: str,
    method: str,
    shape: tuple[int, int, int],
    model_path: Path,
    threads: int,
    n_steps: int,
    keep: int | None = None,
    budgets: dict[str, int] | None = None,
    joint: bool = True,
) -> dict:
    """One measurement (run in its own process): load, warm up, then time one attribution and its peak memory.

    The peak is the resident set's high-water mark (``VmHWM``) reset just before the attribution, so it is the
    attribution's own peak (model weights included), not the loading's; on CUDA ``max_memory_allocated`` is
    recorded too. The engine runs on the whole batch at once; the reference runs Captum one prefix at a time, on the
    batch together as inseq 0.7 does (``joint``) or one example after the other, on all positions or (``keep``) on
    evenly spaced ones including the longest, its time then extrapolated.
    """
    import warnings

    import torch

    import inseq
    from inseq.utils.budgets import memory_budgets

    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = inseq.load_model(str(model_path), method)
    kwargs = {"n_steps": n_steps} if method == "integrated_gradients" else {}

    def run(texts: list[tuple[str, str]], keep: int | None = None) -> float:
        if impl == "engine":
            prompts, fulls = [t[0] for t in texts], [t[1] for t in texts]
            with memory_budgets(**(budgets or {})):
                model.attribute(prompts, fulls, method=method, show_progress=False, **kwargs)
            return 1.0
        if joint and len({len(model.encode(full).input_ids[0]) for _, full in texts}) == 1:
            return _joint_reference(model, method, texts, kwargs, keep)
        shares = [_reference_run(model, method, prompt, full, kwargs, keep) for prompt, full in texts]
        return sum(shares) / len(shares)

    prompt_len, gen_len, batch = shape
    run([random_texts(model.tokenizer, 2, 2, seed=1)])
    texts = [random_texts(model.tokenizer, prompt_len, gen_len, seed=10 + i) for i in range(batch)]
    cuda = torch.cuda.is_available() and str(model.device).startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = _status_mb("VmRSS")
    exact_peak = _reset_peak()
    start = time.perf_counter()
    share = run(texts, keep)
    if cuda:
        torch.cuda.synchronize()
    elapsed = (time.perf_counter() - start) / share
    peak = _status_mb("VmHWM") if exact_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"time_s": elapsed, "peak_rss_mb": peak, "base_rss_mb": base, "exact_peak": exact_peak}
    result["extrapolated"] = share < 1
    result["threads"] = torch.get_num_threads()
    result["inseq"] = str(Path(inseq.__file__).parent)
    if cuda:
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def measure(
    impl: str,
    method: str,
    shape: tuple[int, int, int],
    model_path: Path,
    threads: int,
    n_steps: int,
    keep: int = 0,
    budgets: str = "",
    joint: bool = True,
) -> dict:
    """Run :func:`worker` in a fresh subprocess and return its JSON result."""
    cmd = [sys.executable, __file__, "--worker", impl, "--methods", method, "--shapes", "x".join(map(str, shape))]
    cmd += ["--model", str(model_path), "--threads", str(threads), "--n-steps", str(n_steps)]
    cmd += ["--reference-positions", str(keep), "--budgets", budgets]
    cmd += ["--reference-batching", "joint" if joint else "single"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    # this checkout's inseq (not an installed one) and the benchmark modules
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT.parent), str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} {method} {shape} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _row(method: str, shape: tuple[int, int, int], eng: dict, ref: dict) -> str:
    """One table line: times, peaks and the engine/reference ratios (time, peak RSS, attribution's own memory)."""
    own_e, own_r = eng["peak_rss_mb"] - eng["base_rss_mb"], ref["peak_rss_mb"] - ref["base_rss_mb"]
    mark = "*" if ref.get("extrapolated") else " "
    line = f"{method:<22}{'x'.join(map(str, shape)):>9}{eng['time_s']:>9.2f}{ref['time_s']:>8.2f}{mark}"
    line += f"{eng['time_s'] / ref['time_s']:>8.2f}{eng['peak_rss_mb']:>9.0f}{ref['peak_rss_mb']:>9.0f}"
    line += f"{eng['peak_rss_mb'] / ref['peak_rss_mb']:>8.2f}{own_e:>8.0f}{own_r:>8.0f}"
    line += f"{own_e / max(own_r, 1e-9):>8.2f}"
    if "peak_cuda_mb" in eng and "peak_cuda_mb" in ref:
        line += f"{eng['peak_cuda_mb'] / ref['peak_cuda_mb']:>8.2f}"
    return line


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
        print(
            f"{row['method']:<22}{'x'.join(map(str, row['shape'])):>9}{eng['time_s'] / sal['time_s']:>16.2f}x"
            f"{eng['peak_rss_mb'] / sal['peak_rss_mb']:>20.2f}x{own:>18.2f}x",
            flush=True,
        )


def _parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated method ids")
    parser.add_argument("--shapes", default=",".join("x".join(map(str, s)) for s in DEFAULT_SHAPES), help="PxGxB")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (and OMP_NUM_THREADS) per measurement")
    parser.add_argument("--n-steps", type=int, default=10, help="integrated gradients steps")
    parser.add_argument("--small", action="store_true", help="use a smaller random GPT-2 (built if needed)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (overrides --small)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument(
        "--reference-positions", type=int, default=0, help="run the reference on K positions per example, extrapolate"
    )
    parser.add_argument(
        "--budgets", default="", help="engine memory budgets, e.g. backward_tokens=4096,perturbed_rows=256"
    )
    parser.add_argument("--impls", default="engine,reference", help="implementations to run")
    parser.add_argument(
        "--reference-batching",
        choices=("joint", "single"),
        default="joint",
        help="reference: the batch together (inseq 0.7) or one example at a time",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def _resolve_model(args: argparse.Namespace) -> Path:
    """``--model``, else the GPT-2-small-shaped model when built (or ``--small``'s model)."""
    if args.model is not None:
        return args.model
    if args.small or not (FULL_MODEL / "config.json").exists():
        if not args.small:
            print(f"{FULL_MODEL} not found (run scripts/build_benchmark_model.py): using --small", file=sys.stderr)
        return build_small_model()
    return FULL_MODEL


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: measure every (method, shape) for both implementations and print a table."""
    args = _parser().parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    shapes = parse_shapes(args.shapes)
    if args.worker:
        keep = args.reference_positions or None
        budgets = parse_budgets(args.budgets)
        joint = args.reference_batching == "joint"
        result = worker(
            args.worker, methods[0], shapes[0], args.model, args.threads, args.n_steps, keep, budgets, joint
        )
        print(json.dumps(result))
        return
    model_path = _resolve_model(args)
    print(f"model: {model_path}  threads: {args.threads}  ig n_steps: {args.n_steps}")
    print(
        "ratios are engine / reference (below 1: the engine is faster or lighter); MB = resident set, own = peak - base"
    )
    header = f"{'method':<22}{'shape':>9}{'eng s':>9}{'ref s':>9}{'time':>8}{'eng MB':>9}{'ref MB':>9}{'peak':>8}"
    header += f"{'eng own':>8}{'ref own':>8}{'own':>8}"
    print(f"inseq under test: {Path(__file__).resolve().parent.parent / 'inseq'} (checked in every worker's output)")
    print(header)
    print("-" * len(header))
    rows = []
    for method in methods:
        for shape in shapes:
            common = (method, shape, model_path, args.threads, args.n_steps, args.reference_positions, args.budgets)
            common += (args.reference_batching == "joint",)
            eng = measure("engine", *common) if "engine" in args.impls else None
            with_ref = "reference" in args.impls and method not in NO_REFERENCE
            ref = measure("reference", *common) if with_ref else None
            rows.append({"method": method, "shape": list(shape), "engine": eng, "reference": ref})
            if eng is None or ref is None:
                print(f"{method:<22}{'x'.join(map(str, shape)):>9}  {json.dumps(eng or ref)}", flush=True)
                continue
            print(_row(method, shape, eng, ref), flush=True)
    print_versus_saliency(rows)
    if args.reference_positions:
        print(f"* reference timed on {args.reference_positions} positions per example and extrapolated (cost model)")
    if args.json:
        args.json.write_text(json.dumps({"model": str(model_path), "threads": args.threads, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

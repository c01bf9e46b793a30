#!/usr/bin/env python
"""GPU check: fp32 vs bf16 vs fp16 attributions of a random ~1B-parameter Llama-shaped model, time and peak memory,
inseq 0.7.1 side by side, and a 2-way ``device_map`` when two GPUs are present. Run by ``benchmarks/gpu_check.sh``.

Sub-commands (each ``run`` is a fresh process, so that its peak GPU memory is its own):

* ``build --out DIR``: a random Llama model (22 layers, hidden 2048, GQA 32/8 heads: ~1.0B parameters with the
  small offline tokenizer of :mod:`inseq.testing`), saved as ``DIR/weights.safetensors`` (fp32) with its config
  numbers, tokenizer and inputs. Nothing is downloaded.
* ``run --model DIR --dtype bf16 --method saliency``: load it in that dtype, attribute the inputs (forced targets,
  so every dtype attributes the same tokens), print one JSON line (time, peak GPU memory, NaNs) and save the scores.
  Uses only the API inseq 0.7.1 shares with this version, so it also runs under a venv with ``inseq==0.7.1``.
* ``compare A.npz B.npz``: differences of two score files (max / mean absolute error relative to the scale of A,
  Pearson correlation, agreement of the most attributed token at each step).
* ``all --out DIR``: build, run every dtype and method, compare, and print the report (``--inseq071 PYTHON`` adds
  inseq 0.7.1; ``--tiny`` uses a 2-layer model: a CPU smoke test of the script itself).

Example:
    .. code-block:: bash

        python benchmarks/gpu_check.py all --out /tmp/gpu_check --device cuda
        python benchmarks/gpu_check.py all --out /tmp/gpu_check_smoke --device cpu --tiny
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DTYPES = ("fp32", "bf16", "fp16")
METHODS = {"saliency": {}, "integrated_gradients": {"n_steps": 16, "internal_batch_size": 64}}
BIG = {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32}
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
WORDS = "the cat sat on a mat while my friend read one more book about the dog and a bird".split()


def _torch_dtype(name: str) -> Any:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


# ---------------------------------------------------------------- build
def build(out: Path, tiny: bool, n_inputs: int, seed: int) -> None:
    """Random Llama weights (fp32 safetensors), its config numbers, the offline tokenizer and the inputs."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from inseq.testing import get_tiny_model_path

    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(get_tiny_model_path("llama"))
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    shape = TINY if tiny else BIG
    numbers = {
        **shape,
        "num_key_value_heads": shape["num_attention_heads"] // 4,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "special_tokens": {
            "bos_token": tokenizer.bos_token,
            "eos_token": tokenizer.eos_token,
            "unk_token": tokenizer.unk_token,
            "pad_token": tokenizer.pad_token,
        },
    }
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in numbers.items() if k != "special_tokens"}))
    n_params = sum(p.numel() for p in model.parameters())
    save_file(
        {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}, out / "weights.safetensors"
    )
    numbers["n_parameters"] = n_params
    (out / "model.json").write_text(json.dumps(numbers, indent=2))
    inputs, generated = [], []
    for i in range(n_inputs):
        prompt = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(16 + i % 5))
        continuation = " ".join(WORDS[(3 * i + k) % len(WORDS)] for k in range(10))
        inputs.append(prompt)
        generated.append(f"{prompt} {continuation}")
    (out / "inputs.json").write_text(json.dumps({"input_texts": inputs, "generated_texts": generated}, indent=2))
    print(json.dumps({"built": str(out), "n_parameters": n_params, "device": device}))


# ---------------------------------------------------------------- run (inseq 0.7.1 compatible)
def _load(model_dir: Path, dtype: str, device: str, device_map: str | None) -> tuple[Any, Any]:
    import torch
    from safetensors.torch import load_file
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    numbers = json.loads((model_dir / "model.json").read_text())
    config = LlamaConfig(**{k: v for k, v in numbers.items() if k not in ("special_tokens", "n_parameters")})
    with torch.device(device if torch.cuda.is_available() or device == "cpu" else "cpu"):
        model = LlamaForCausalLM(config)  # built on the device (fast), then the saved weights copied in
    model.load_state_dict(load_file(model_dir / "weights.safetensors"))
    model = model.to(_torch_dtype(dtype)).eval()
    if device_map == "split2":
        from accelerate import dispatch_model

        n = config.num_hidden_layers
        mapping = {"model.embed_tokens": 0, "model.rotary_emb": 0, "model.norm": 1, "lm_head": 1}
        mapping.update({f"model.layers.{i}": 0 if i < n // 2 else 1 for i in range(n)})
        model = dispatch_model(model, mapping)
    else:
        model = model.to(device)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"), **numbers["special_tokens"])
    return model, tokenizer


def _scores(out: Any) -> list[Any]:
    """Per sequence: target attributions as float32 arrays, the hidden dimension reduced by its L2 norm."""
    import torch

    scores = []
    for seq in out.sequence_attributions:
        t = seq.target_attributions
        t = t.float()
        if t.dim() == 3:
            t = torch.linalg.vector_norm(t.nan_to_num(), dim=-1).where(~t.isnan().all(-1), float("nan"))
        scores.append(t.cpu().numpy())
    return scores


def run(model_dir: Path, dtype: str, method: str, device: str, save: Path, device_map: str | None) -> dict:
    """Attribute the inputs with one dtype and method; returns the JSON record (also printed)."""
    import numpy as np
    import torch

    import inseq

    cuda = device.startswith("cuda") and torch.cuda.is_available()
    model, tokenizer = _load(model_dir, dtype, device, device_map)
    attr_model = inseq.load_model(model, method, tokenizer=tokenizer, device=None if device_map else device)
    data = json.loads((model_dir / "inputs.json").read_text())
    kwargs = dict(METHODS[method])
    attr_model.attribute(
        data["input_texts"][:1], data["generated_texts"][:1], show_progress=False, **kwargs
    )  # warm-up
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = attr_model.attribute(
        data["input_texts"],
        data["generated_texts"],
        batch_size=len(data["input_texts"]),
        show_progress=False,
        **kwargs,
    )
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    scores = _scores(out)
    np.savez(save, *scores)
    record = {
        "inseq": getattr(inseq, "__version__", "?"),
        "dtype": dtype,
        "method": method,
        "device_map": device_map,
        "seconds": round(seconds, 3),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
        "inf": int(sum(np.isinf(s).sum() for s in scores)),
        "nan": int(sum(np.isnan(s).sum() for s in scores)),  # includes the positions not attributed (future tokens)
        "scores": str(save),
    }
    print("RESULT " + json.dumps(record), flush=True)
    return record


# ---------------------------------------------------------------- compare
def compare(a_path: Path, b_path: Path) -> dict:
    """Differences of score file ``b`` from the reference ``a``."""
    import numpy as np

    a_file, b_file = np.load(a_path), np.load(b_path)
    a_all, b_all, top_same, top_n = [], [], 0, 0
    for key in a_file.files:
        a, b = a_file[key], b_file[key]
        if a.shape != b.shape:
            return {"error": f"shapes differ for sequence {key}: {a.shape} vs {b.shape}"}
        both = np.isfinite(a) & np.isfinite(b)
        a_all.append(a[both])
        b_all.append(b[both])
        for col in range(a.shape[1]):  # each generated step: the most attributed position
            ca, cb = a[:, col], b[:, col]
            ok = np.isfinite(ca) & np.isfinite(cb)
            if ok.sum() > 1:
                top_same += int(np.argmax(np.where(ok, ca, -np.inf)) == np.argmax(np.where(ok, cb, -np.inf)))
                top_n += 1
    a_flat, b_flat = np.concatenate(a_all), np.concatenate(b_all)
    scale = float(np.abs(a_flat).max()) or 1.0
    return {
        "max_abs_err_rel": float(np.abs(a_flat - b_flat).max() / scale),
        "mean_abs_err_rel": float(np.abs(a_flat - b_flat).mean() / scale),
        "pearson": float(np.corrcoef(a_flat, b_flat)[0, 1]) if a_flat.size > 1 else float("nan"),
        "top1_agreement": top_same / top_n if top_n else float("nan"),
        "finite_in_a_not_b": int(sum((np.isfinite(a_file[k]) & ~np.isfinite(b_file[k])).sum() for k in a_file.files)),
    }


# ---------------------------------------------------------------- all
def _worker(python: str, args: list[str], timeout: float) -> dict | None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]),
    }
    if python != sys.executable:  # another venv (inseq 0.7.1): its own inseq, not this checkout
        env.pop("PYTHONPATH")
    try:
        proc = subprocess.run([python, __file__, *args], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        print(f"  timed out after {timeout:.0f}s: {' '.join(args)}")
        return None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print(f"  failed ({python} {' '.join(args)}):\n{proc.stderr[-1500:]}")
        return None
    return json.loads(lines[-1][len("RESULT ") :])


def run_all(out: Path, device: str, tiny: bool, inseq071: str | None, budget_s: float) -> None:
    """Build, run every dtype / method (and 0.7.1, and the 2-GPU split), compare, write ``out/report.json``."""
    started = time.perf_counter()
    model_dir = out / "model"
    if not (model_dir / "weights.safetensors").exists():
        subprocess.run(
            [sys.executable, __file__, "build", "--out", str(model_dir)] + (["--tiny"] if tiny else []), check=True
        )
    numbers = json.loads((model_dir / "model.json").read_text())
    print(
        f"model: random Llama, {numbers['n_parameters'] / 1e9:.3f}B parameters, {numbers['num_hidden_layers']} layers"
    )
    records, comparisons = [], []

    def left() -> float:
        return budget_s - (time.perf_counter() - started)

    def one(python: str, tag: str, dtype: str, method: str, device_map: str | None = None) -> dict | None:
        if left() < 30:
            print(f"  skipped {tag} {dtype} {method}: time budget spent")
            return None
        save = out / f"{tag}-{dtype}-{method}{'-' + device_map if device_map else ''}.npz"
        argv = [
            "run",
            "--model",
            str(model_dir),
            "--dtype",
            dtype,
            "--method",
            method,
            "--device",
            device,
            "--save",
            str(save),
        ]
        record = _worker(python, argv + (["--device_map", device_map] if device_map else []), timeout=max(left(), 30))
        if record is not None:
            record["tag"] = tag
            records.append(record)
            print(f"  {tag:<10} {dtype:<5} {method:<21} {record['seconds']:>8.2f}s  peak {record['peak_gpu_gib']} GiB")
        return record

    for method in METHODS:
        for dtype in DTYPES:
            one(sys.executable, "inseq-new", dtype, method)
        for dtype in ("bf16", "fp16"):
            a, b = out / f"inseq-new-fp32-{method}.npz", out / f"inseq-new-{dtype}-{method}.npz"
            if a.exists() and b.exists():
                comparisons.append({"what": f"{method}: {dtype} vs fp32", **compare(a, b)})
    if inseq071:
        for method in METHODS:
            for dtype in ("fp32", "bf16"):
                one(inseq071, "inseq-0.7.1", dtype, method)
            a, b = out / f"inseq-new-fp32-{method}.npz", out / f"inseq-0.7.1-fp32-{method}.npz"
            if a.exists() and b.exists():
                comparisons.append({"what": f"{method}: inseq 0.7.1 vs this version (fp32)", **compare(a, b)})
    else:
        print("  inseq 0.7.1: no venv given (--inseq071 PYTHON, see gpu_check.sh): not compared")
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 1:
        one(sys.executable, "inseq-new", "fp32", "saliency", device_map="split2")
        a, b = out / "inseq-new-fp32-saliency.npz", out / "inseq-new-fp32-saliency-split2.npz"
        if a.exists() and b.exists():
            comparisons.append({"what": "saliency fp32: 2-GPU device_map vs 1 GPU", **compare(a, b)})
    else:
        print(f"  2-way device_map: {torch.cuda.device_count()} GPU(s) visible, needs 2: not run")
    print(f"\n{'comparison':<48} {'max err':>9} {'mean err':>9} {'pearson':>8} {'top-1':>6} {'lost':>5}")
    for c in comparisons:
        if "error" in c:
            print(f"{c['what']:<48} {c['error']}")
            continue
        print(
            f"{c['what']:<48} {c['max_abs_err_rel']:>9.2e} {c['mean_abs_err_rel']:>9.2e} {c['pearson']:>8.5f} "
            f"{c['top1_agreement']:>6.3f} {c['finite_in_a_not_b']:>5}"
        )
    print(
        "(errors relative to the largest fp32 score; top-1: same most attributed token; lost: finite in fp32, NaN/inf)"
    )
    report = {"model": numbers, "device": device, "runs": records, "comparisons": comparisons}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"total {time.perf_counter() - started:.0f}s; report in {out / 'report.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--tiny", action="store_true")
    b.add_argument("--n_inputs", type=int, default=8)
    b.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("--model", type=Path, required=True)
    r.add_argument("--dtype", choices=DTYPES, required=True)
    r.add_argument("--method", choices=sorted(METHODS), required=True)
    r.add_argument("--device", default="cuda")
    r.add_argument("--save", type=Path, required=True)
    r.add_argument("--device_map", choices=["split2"], default=None)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    a = sub.add_parser("all")
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--device", default="cuda")
    a.add_argument("--tiny", action="store_true")
    a.add_argument("--inseq071", default=None, help="python of a venv with inseq==0.7.1 (compared side by side)")
    a.add_argument("--budget_s", type=float, default=540, help="stop starting runs after this many seconds")
    args = parser.parse_args()
    if args.command == "build":
        build(args.out, args.tiny, args.n_inputs, args.seed)
    elif args.command == "run":
        run(args.model, args.dtype, args.method, args.device, args.save, args.device_map)
    elif args.command == "compare":
        print(json.dumps(compare(args.a, args.b), indent=2))
    else:
        run_all(args.out, args.device, args.tiny, args.inseq071, args.budget_s)


if __name__ == "__main__":
    main()

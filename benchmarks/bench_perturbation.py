#!/usr/bin/env python
"""Time the engine against a step-by-step reference for occlusion, LIME, attention and value zeroing.

The reference attributes every target position ``p`` from its prefix alone, the way inseq 0.7 did:

* occlusion: one forward of the prefix per token ``i < p`` with that token's embedding set to the UNK embedding;
* LIME: ``n_samples`` forwards of the prefix with random tokens masked (UNK), then a ridge fit per position;
* attention: one forward of the prefix with ``output_attentions``;
* value zeroing: one forward of the prefix per layer and per token, zeroing that token's value vectors in that layer.

Both sides run in the same process, single example, after a warm-up on a tiny input; only attribution is timed.
With ``--reference-positions K`` the reference runs on ``K`` evenly spaced positions only and its time is
extrapolated to all positions by the prefix-length cost model of each method (marked ``*`` in the table). The
``max |diff|`` column compares engine and reference scores on the positions the reference computed (LIME samples
differ by construction, so it is left out).

Example:
    .. code-block:: bash

        OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_perturbation.py --methods occlusion,attention
        .venv/bin/python benchmarks/bench_perturbation.py --small --n-generated 10 --reference-positions 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's inseq, not an installed one

from bench_gradient import FULL_MODEL, build_small_model, random_texts  # noqa: E402

DEFAULT_METHODS = ("occlusion", "lime", "attention", "value_zeroing")


def _prefix_forward(hf: Any, embeds: Any, **kwargs: Any) -> Any:
    import torch

    mask = torch.ones(embeds.shape[:2], dtype=torch.long)
    return hf(inputs_embeds=embeds, attention_mask=mask, use_cache=False, **kwargs)


def reference_occlusion(model: Any, ids: list[int] | list[list[int]], positions: list[int]) -> dict[int, Any]:
    """``{p: (p,) |f(prefix) - f(prefix with token i -> UNK)|}`` for each position (``(batch, p)`` for a batch).

    ``ids`` is one example or a batch of examples of equal length, run together (as Captum in inseq 0.7 does).
    """
    import torch

    hf = model.model
    batch = isinstance(ids[0], list)
    full = torch.tensor(ids if batch else [ids])
    rows = torch.arange(full.shape[0])
    out = {}
    with torch.no_grad():
        emb = model.embed_ids(full)
        base = model.embed_ids(model.baseline_ids(full))
        for p in positions:
            tid = full[:, p]
            clean = _prefix_forward(hf, emb[:, :p]).logits[:, -1].softmax(-1)[rows, tid]
            scores = torch.zeros(full.shape[0], p)
            for i in range(p):
                changed = emb[:, :p].clone()
                changed[:, i] = base[:, i]
                scores[:, i] = (clean - _prefix_forward(hf, changed).logits[:, -1].softmax(-1)[rows, tid]).abs()
            out[p] = scores if batch else scores[0]
    return out


def reference_lime(model: Any, ids: list[int], positions: list[int], n_samples: int = 50, seed: int = 0) -> dict:
    """``{p: (p,) ridge coefficients}`` from ``n_samples`` masked forwards of each prefix."""
    import torch
    from sklearn.linear_model import Ridge

    hf = model.model
    gen = torch.Generator().manual_seed(seed)
    special = set(model.special_tokens_ids)
    out = {}
    with torch.no_grad():
        for p in positions:
            prefix = torch.tensor([ids[:p]])
            maskable = torch.tensor([t not in special for t in ids[:p]])
            features, values = [], []
            for _ in range(n_samples):
                masked = (torch.rand(p, generator=gen) < 0.3) & maskable
                pert = torch.where(masked, model.unk_token_id, prefix)
                prob = _prefix_forward(hf, model.embed_ids(pert)).logits[0, -1].softmax(-1)[ids[p]]
                features.append((~masked).float())
                values.append(float(prob))
            x = torch.stack(features).numpy()
            ridge = Ridge(alpha=1.0).fit(x, values, sample_weight=x.sum(1))
            out[p] = torch.from_numpy(ridge.coef_)
    return out


def reference_attention(model: Any, ids: list[int], positions: list[int]) -> dict[int, Any]:
    """``{p: (p, layers, heads)}`` attention of the last prefix query, one forward per prefix."""
    import torch

    from inseq.models.structure import eager_attention

    hf = model.model
    out = {}
    with torch.no_grad(), eager_attention(hf):
        for p in positions:
            attn = _prefix_forward(hf, model.embed_ids(torch.tensor([ids[:p]])), output_attentions=True).attentions
            out[p] = torch.stack([a[0, :, -1, :] for a in attn]).permute(2, 0, 1)
    return out


def reference_value_zeroing(model: Any, ids: list[int], positions: list[int]) -> dict[int, Any]:
    """``{p: (p, layers)}``: per layer and token, a forward of the prefix with the token's values zeroed there.

    GPT-2 only (values are the last third of ``attn.c_attn``'s output). Score: ``1 - cos`` between clean and
    corrupted outputs of that layer at the last prefix position, values below 1e-5 set to 0, normalised per layer.
    """
    import torch

    hf = model.model
    blocks = hf.transformer.h
    hidden = hf.config.n_embd
    state: dict[str, Any] = {"layer": -1, "token": -1}

    def zero_value(index: int):
        def hook(module, args, output):
            if state["layer"] != index:
                return output
            output = output.clone()
            output[:, state["token"], 2 * hidden :] = 0
            return output

        return hook

    def capture(index: int):
        def hook(module, args, output):
            state[f"out{index}"] = (output[0] if isinstance(output, tuple) else output)[0, -1]

        return hook

    handles = [b.attn.c_attn.register_forward_hook(zero_value(i)) for i, b in enumerate(blocks)]
    handles += [b.register_forward_hook(capture(i)) for i, b in enumerate(blocks)]
    out = {}
    try:
        with torch.no_grad():
            for p in positions:
                emb = model.embed_ids(torch.tensor([ids[:p]]))
                state["layer"] = -1
                _prefix_forward(hf, emb)
                clean = [state[f"out{i}"] for i in range(len(blocks))]
                scores = torch.zeros(p, len(blocks))
                for layer in range(len(blocks)):
                    for token in range(p):
                        state["layer"], state["token"] = layer, token
                        _prefix_forward(hf, emb)
                        sim = torch.nn.functional.cosine_similarity(state[f"out{layer}"], clean[layer], 0)
                        scores[token, layer] = 1 - sim
                    state["layer"] = -1
                scores = torch.where(scores < 1e-5, torch.zeros_like(scores), scores)
                out[p] = scores / scores.sum(0, keepdim=True).clamp_min(1e-30)
    finally:
        for handle in handles:
            handle.remove()
    return out


REFERENCES = {
    "occlusion": reference_occlusion,
    "lime": reference_lime,
    "attention": reference_attention,
    "value_zeroing": reference_value_zeroing,
}
#: Cost of one reference position as a function of its prefix length ``p`` (up to a constant), to extrapolate.
COST = {"occlusion": lambda p: p * p, "lime": lambda p: p, "attention": lambda p: p, "value_zeroing": lambda p: p * p}


def _engine_scores(out: Any, method: str, p: int) -> Any:
    seq = out[0]
    col = p - seq.attr_pos_start
    scores = seq.target_attributions[:p, col]
    return scores


def run_method(model_path: Path, method: str, prompt: str, full: str, ref_positions: int | None) -> dict:
    """Time engine and reference on one example; returns times, extrapolation flag and max difference."""
    import warnings

    import torch

    import inseq

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = inseq.load_model(str(model_path), method)
    warm_prompt, warm_full = random_texts(model.tokenizer, 2, 2, seed=1)
    model.attribute([warm_prompt], [warm_full], show_progress=False)
    REFERENCES[method](model, model.encode(warm_full).input_ids[0].tolist(), [2])
    ids = model.encode(full).input_ids[0].tolist()
    start_pos = len(model.encode(prompt).input_ids[0])
    all_positions = list(range(start_pos, len(ids)))
    start = time.perf_counter()
    out = model.attribute([prompt], [full], show_progress=False)
    engine_s = time.perf_counter() - start
    positions = all_positions
    if ref_positions and ref_positions < len(all_positions):
        idx = torch.linspace(0, len(all_positions) - 1, ref_positions).round().long().tolist()
        positions = [all_positions[i] for i in sorted(set(idx))]
    start = time.perf_counter()
    ref = REFERENCES[method](model, ids, positions)
    ref_s = time.perf_counter() - start
    extrapolated = positions != all_positions
    if extrapolated:
        cost = COST[method]
        ref_s *= sum(cost(p) for p in all_positions) / sum(cost(p) for p in positions)
    diff = float("nan")
    if method != "lime":
        diff = max(float((_engine_scores(out, method, p) - ref[p]).abs().max()) for p in positions)
    return {"engine_s": engine_s, "reference_s": ref_s, "extrapolated": extrapolated, "max_diff": diff}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: print one table row per method."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated method ids")
    parser.add_argument("--n-generated", type=int, default=50, help="generated (attributed) tokens")
    parser.add_argument("--n-prompt", type=int, default=20, help="prompt tokens")
    parser.add_argument("--small", action="store_true", help="use a smaller random GPT-2 (built if needed)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's setting)")
    parser.add_argument(
        "--reference-positions", type=int, default=None, help="time the reference on K positions and extrapolate"
    )
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in REFERENCES]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}: valid choices are {sorted(REFERENCES)}")
    if args.small or not (FULL_MODEL / "config.json").exists():
        model_path = build_small_model()
    else:
        model_path = FULL_MODEL
    from transformers import AutoTokenizer

    prompt, full = random_texts(AutoTokenizer.from_pretrained(model_path), args.n_prompt, args.n_generated)
    print(
        f"model: {model_path}  prompt: {args.n_prompt}  generated: {args.n_generated}  "
        f"threads: {torch.get_num_threads()}  OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    header = f"{'method':<15}{'engine s':>10}{'reference s':>14}{'speedup':>9}{'max |diff|':>12}"
    print(header)
    print("-" * len(header))
    for method in methods:
        res = run_method(model_path, method, prompt, full, args.reference_positions)
        mark = "*" if res["extrapolated"] else " "
        print(
            f"{method:<15}{res['engine_s']:>10.2f}{res['reference_s']:>13.2f}{mark}"
            f"{res['reference_s'] / res['engine_s']:>8.1f}x{res['max_diff']:>12.2e}",
            flush=True,
        )
    if args.reference_positions:
        print(f"* reference timed on {args.reference_positions} evenly spaced positions and extrapolated")


if __name__ == "__main__":
    main()

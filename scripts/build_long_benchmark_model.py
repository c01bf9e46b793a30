#!/usr/bin/env python
"""Build the Llama-shaped random model of the long-input benchmark offline, with the GPT-2 tokenizer (not run in CI).

The model is a ``LlamaForCausalLM`` with 8 layers, hidden size 256, 8 attention heads and 4 key-value heads
(grouped-query attention), an MLP of 688 (about 8/3 of the hidden size, as Llama's), rotary positions over
``max_position_embeddings=8192`` and random weights from a fixed seed, so timings and memory on prompts of up to
8,192 tokens are realistic while its outputs are meaningless. ``benchmarks/bench_long.py`` runs on it.

The tokenizer is the GPT-2 byte-level BPE already rebuilt by ``scripts/build_benchmark_model.py`` in
``benchmarks/models/gpt2-small-random/`` (run that script first, or pass any local tokenizer folder with
``--tokenizer``); it is copied with ``model_max_length=8192`` and the vocabulary size of the model is set to match
it (50,257 for GPT-2's). Nothing is downloaded.

The result (~125 MB) goes to ``benchmarks/models/llama-long-random/`` (gitignored): never commit it.

Example:
    .. code-block:: bash

        OMP_NUM_THREADS=1 .venv/bin/python scripts/build_long_benchmark_model.py
        OMP_NUM_THREADS=1 .venv/bin/python scripts/build_long_benchmark_model.py --tokenizer /path/to/tokenizer --seed 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent / "benchmarks" / "models"
DEFAULT_OUTPUT = MODELS / "llama-long-random"
DEFAULT_TOKENIZER = MODELS / "gpt2-small-random"
#: The shape of the benchmark model (``LlamaConfig`` arguments); ``vocab_size`` comes from the tokenizer.
SHAPE = {
    "hidden_size": 256,
    "intermediate_size": 688,
    "num_hidden_layers": 8,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "max_position_embeddings": 8192,
}


def build(output: Path, tokenizer_dir: Path, seed: int) -> None:
    """Load the tokenizer, build the random Llama-shaped model from ``seed`` and save both into ``output``.

    Args:
        output: Destination folder (created if needed).
        tokenizer_dir: Local folder of a Hugging Face tokenizer (GPT-2's by default).
        seed: Seed of the random weights.

    Raises:
        FileNotFoundError: If ``tokenizer_dir`` holds no tokenizer.
    """
    if not (tokenizer_dir / "tokenizer_config.json").exists():
        raise FileNotFoundError(
            f"no tokenizer in --tokenizer {str(tokenizer_dir)!r} (expected tokenizer_config.json): run "
            "scripts/build_benchmark_model.py first, or pass a local tokenizer folder"
        )
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    start = time.perf_counter()
    max_len = SHAPE["max_position_embeddings"]
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), model_max_length=max_len, local_files_only=True)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=bos, eos_token_id=tokenizer.eos_token_id, **SHAPE)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).eval()
    ids = tokenizer(" the quick brown fox", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    if logits.shape != (1, ids.shape[1], len(tokenizer)) or not torch.isfinite(logits).all():
        raise RuntimeError(f"unexpected logits of the built model: shape {tuple(logits.shape)}")
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"built {n_params / 1e6:.1f}M parameters, vocab {len(tokenizer)}, {max_len} positions, seed {seed}")
    print(f"done in {time.perf_counter() - start:.1f}s: {output}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="destination folder")
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER, help="local tokenizer folder")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random weights")
    args = parser.parse_args(argv)
    build(args.output, args.tokenizer, args.seed)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Build a GPT-2-small-shaped random model with the real GPT-2 tokenizer, for speed benchmarks (not run in CI).

The model has GPT-2 small's shape (12 layers, 768 hidden, 12 heads, 1024 positions, vocab 50257, ~124M parameters)
and random weights from a fixed seed, so timings are realistic but outputs are meaningless. The tokenizer is the
exact GPT-2 byte-level BPE, rebuilt from ``whisper/assets/gpt2.tiktoken`` in the ``openai-whisper`` source
distribution (MIT licensed, ~0.8 MB, fetched from PyPI with ``pip download``): the tiktoken file lists the 50,256
BPE tokens by rank; ``vocab.json`` maps their byte-level unicode forms to the ranks and ``merges.txt`` is recovered
by re-running BPE on each token with the lower-ranked merges only, which must leave exactly two parts.

The result (~500 MB) goes to ``benchmarks/models/gpt2-small-random/`` (gitignored): never commit it.

Example:
    .. code-block:: bash

        OMP_NUM_THREADS=1 .venv/bin/python scripts/build_benchmark_model.py
        OMP_NUM_THREADS=1 .venv/bin/python scripts/build_benchmark_model.py --tiktoken-file /path/to/gpt2.tiktoken
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

WHISPER_VERSION = "20250625"
TIKTOKEN_MEMBER = "whisper/assets/gpt2.tiktoken"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "benchmarks" / "models" / "gpt2-small-random"
EOT = "<|endoftext|>"


def fetch_gpt2_tiktoken(workdir: Path) -> bytes:
    """Download the ``openai-whisper`` sdist with pip and return the content of its ``gpt2.tiktoken`` file.

    Args:
        workdir: Folder receiving the downloaded tarball.

    Returns:
        The raw bytes of ``whisper/assets/gpt2.tiktoken``.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q"]
    subprocess.run([*cmd, f"openai-whisper=={WHISPER_VERSION}", "-d", str(workdir)], check=True)
    (sdist,) = workdir.glob("openai[-_]whisper-*.tar.gz")
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if member.name.endswith(TIKTOKEN_MEMBER):
                handle = tar.extractfile(member)
                assert handle is not None
                return handle.read()
    raise FileNotFoundError(f"{TIKTOKEN_MEMBER} not found in {sdist.name}")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable unicode characters.

    Example:
        >>> bytes_to_unicode()[ord(" ")]
        'Ġ'
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _split_by_lower_ranks(token: bytes, ranks: dict[bytes, int], max_rank: int) -> list[bytes]:
    """Run byte-level BPE on ``token`` with the merges of rank < ``max_rank`` and return the parts."""
    parts = [bytes([b]) for b in token]
    while True:
        best_idx, best_rank = -1, max_rank
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < best_rank:
                best_idx, best_rank = i, rank
        if best_idx < 0:
            return parts
        parts[best_idx : best_idx + 2] = [parts[best_idx] + parts[best_idx + 1]]


def tiktoken_to_vocab_and_merges(data: bytes) -> tuple[dict[str, int], list[str]]:
    """Convert tiktoken BPE ranks into GPT-2 ``vocab.json`` entries and ``merges.txt`` lines.

    Args:
        data: Content of a ``.tiktoken`` file (``base64-token rank`` per line).

    Returns:
        The vocabulary (including ``<|endoftext|>`` after the last rank) and the merges ordered by rank.

    Example:
        >>> vocab, merges = tiktoken_to_vocab_and_merges(b"YQ== 0\\nYg== 1\\nYWI= 2\\n")
        >>> vocab, merges
        ({'a': 0, 'b': 1, 'ab': 2, '<|endoftext|>': 3}, ['a b'])
    """
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line.strip():
            token_b64, rank = line.split()
            ranks[base64.b64decode(token_b64)] = int(rank)
    byte_encoder = bytes_to_unicode()

    def to_str(token: bytes) -> str:
        return "".join(byte_encoder[b] for b in token)

    vocab = {to_str(token): rank for token, rank in sorted(ranks.items(), key=lambda item: item[1])}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) == 1:
            continue
        parts = _split_by_lower_ranks(token, ranks, rank)
        if len(parts) != 2:
            raise ValueError(f"token {token!r} (rank {rank}) is not the merge of two lower-ranked tokens")
        merges.append(f"{to_str(parts[0])} {to_str(parts[1])}")
    vocab[EOT] = len(vocab)
    return vocab, merges


def build(output: Path, tiktoken_file: Path | None, seed: int) -> None:
    """Build the tokenizer and the random GPT-2-small model, and save both into ``output``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="inseq-gpt2-tokenizer-") as tmp:
        tmp_dir = Path(tmp)
        if tiktoken_file is None:
            data = fetch_gpt2_tiktoken(tmp_dir)
            print(
                f"fetched gpt2.tiktoken from openai-whisper=={WHISPER_VERSION} in {time.perf_counter() - start:.1f}s"
            )
        else:
            data = tiktoken_file.read_bytes()
        t0 = time.perf_counter()
        vocab, merges = tiktoken_to_vocab_and_merges(data)
        (tmp_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        (tmp_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        # from_pretrained reads vocab.json + merges.txt with both transformers 4 and 5.
        tokenizer = GPT2TokenizerFast.from_pretrained(tmp_dir, model_max_length=1024)
        print(f"rebuilt tokenizer ({len(vocab)} tokens, {len(merges)} merges) in {time.perf_counter() - t0:.1f}s")
    ids = tokenizer("Hello world")["input_ids"]
    if ids != [15496, 995] or tokenizer(" Hello world")["input_ids"] != [18435, 995]:
        raise RuntimeError(f"rebuilt tokenizer is not GPT-2's: 'Hello world' -> {ids}")
    if len(tokenizer) != 50257 or tokenizer.eos_token_id != 50256:
        raise RuntimeError(f"unexpected tokenizer size {len(tokenizer)} / eos id {tokenizer.eos_token_id}")

    t0 = time.perf_counter()
    config = GPT2Config(
        vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, bos_token_id=50256, eos_token_id=50256
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config).eval()
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"built and saved the model ({n_params / 1e6:.1f}M parameters) in {time.perf_counter() - t0:.1f}s")
    print(f"done in {time.perf_counter() - start:.1f}s: {output}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="destination folder")
    parser.add_argument("--tiktoken-file", type=Path, default=None, help="local gpt2.tiktoken (skips pip download)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random weights")
    args = parser.parse_args(argv)
    build(args.output, args.tiktoken_file, args.seed)


if __name__ == "__main__":
    main()

"""Hand-made attribution outputs for the view tests (no model needed)."""

from __future__ import annotations

import torch

from inseq.data.attribution import (
    CoarseFeatureAttributionSequenceOutput,
    GranularFeatureAttributionSequenceOutput,
    MultiDimensionalFeatureAttributionSequenceOutput,
)
from inseq.utils.typing import TokenWithId

NAN = float("nan")


def gen_tokens(n: int) -> list[str]:
    """``n`` distinct generated tokens, none a substring of another (``t000x``, ``t001x``...)."""
    return [f"t{i:03d}x" for i in range(n)]


def decoder_only(n: int, prompt=("The", "Ġcat", "Ġsat"), seed: int = 0, extra=()):
    """Decoder-only output: prompt + ``n`` generated tokens, causal NaN pattern, probability step score."""
    gen = torch.Generator().manual_seed(seed)
    tokens = [TokenWithId(t, i) for i, t in enumerate([*prompt, *gen_tokens(n)])]
    start = len(prompt)
    scores = torch.rand(start + n, n, *extra, generator=gen) * 2 - 1
    for step in range(n):
        scores[start + step :, step] = NAN
    cls = GranularFeatureAttributionSequenceOutput if extra else CoarseFeatureAttributionSequenceOutput
    return cls(
        source=tokens[:start],
        target=tokens,
        target_attributions=scores,
        step_scores={"probability": torch.rand(n, generator=gen)},
        attr_pos_start=start,
    )


def encoder_decoder(n: int, src_len: int = 4, seed: int = 0):
    """Encoder-decoder output with source and target attributions and two step scores."""
    gen = torch.Generator().manual_seed(seed)
    source = [TokenWithId(f"s{i}", i) for i in range(src_len)]
    target = [TokenWithId("<pad>", 0)] + [TokenWithId(t, i + 1) for i, t in enumerate(gen_tokens(n))]
    tgt = torch.rand(n + 1, n, generator=gen)
    for step in range(n):
        tgt[step + 1 :, step] = NAN
    return CoarseFeatureAttributionSequenceOutput(
        source=source,
        target=target,
        source_attributions=torch.rand(src_len, n, generator=gen),
        target_attributions=tgt,
        step_scores={"probability": torch.rand(n, generator=gen), "entropy": -torch.rand(n, generator=gen)},
        attr_pos_start=1,
    )


def attention_like(n: int = 3, layers: int = 2, heads: int = 4, seed: int = 0):
    """Encoder-decoder output with [src, steps, layers, heads] attributions (like the ``attention`` method)."""
    gen = torch.Generator().manual_seed(seed)
    source = [TokenWithId(f"s{i}", i) for i in range(3)]
    target = [TokenWithId("<pad>", 0)] + [TokenWithId(t, i + 1) for i, t in enumerate(gen_tokens(n))]
    return MultiDimensionalFeatureAttributionSequenceOutput(
        source=source,
        target=target,
        source_attributions=torch.rand(3, n, layers, heads, generator=gen),
        step_scores={"probability": torch.rand(n, generator=gen)},
        attr_pos_start=1,
        _num_dimensions=2,
    )

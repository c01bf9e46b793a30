"""Model randomization (Adebayo et al., 2018): re-attribute after re-initialising the model's layers, top down."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch

from .views import step_views

if TYPE_CHECKING:
    from ..data.attribution import FeatureAttributionOutput
    from ..models.attribution_model import AttributionModel
    from .metrics import StepView


def cascade_blocks(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated blocks of a transformer, from the output down (decoder blocks first, then encoder blocks).

    Example:
        >>> import torch
        >>> net = torch.nn.Module()
        >>> net.layers = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
        >>> [b is net.layers[2] for b in cascade_blocks(net)]
        [True, False, False]
    """
    lists = [
        (name, m)
        for name, m in module.named_modules()
        if isinstance(m, torch.nn.ModuleList) and len(m) > 0 and all(type(c) is type(m[0]) for c in m)
    ]
    lists = [(n, m) for n, m in lists if not any(o != n and n.startswith(o + ".") for o, _ in lists)]
    lists.sort(key=lambda item: "encoder" in item[0])
    return [block for _, m in lists for block in reversed(list(m))]


@contextmanager
def randomized(module: torch.nn.Module, blocks: list[torch.nn.Module]) -> Iterator[None]:
    """Restore every parameter of ``blocks`` on exit (they are re-initialised inside)."""
    saved = [(p, p.detach().clone()) for b in blocks for p in b.parameters()]
    try:
        yield
    finally:
        with torch.no_grad():
            for p, value in saved:
                p.copy_(value)


def reinitialise(block: torch.nn.Module, seed: int, std: float) -> None:
    """Random re-initialisation: matrices ~ N(0, std), biases 0, other vectors (norm weights) 1."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for name, p in block.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p) * std)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)


def reattribute(model: AttributionModel, out: FeatureAttributionOutput, fn_id: Any) -> FeatureAttributionOutput:
    """Attribute the output's sequences again with the same method and options (on the current model weights)."""
    info = out.info
    examples = [model.example_of(seq) for seq in out]
    new = model.attribute(  # token ids, used as they are: the same tokens, with no re-tokenisation
        [ex.input_ids for ex in examples],
        [ex.target_ids for ex in examples],
        method=info["attribution_method"],
        attr_pos_start=info.get("attr_pos_start"),
        attr_pos_end=info.get("attr_pos_end"),
        attribute_target=bool(info.get("attribute_target")),
        include_eos_baseline=bool(info.get("include_eos_baseline")),
        attributed_fn=fn_id,
        attributed_fn_args=dict(info.get("attributed_fn_args") or {}),
        attribution_args=dict(info.get("attribution_args") or {}),
        show_progress=False,
    )
    for i, (a, b) in enumerate(zip(out, new)):
        if [t.id for t in a.target] != [t.id for t in b.target] or [t.id for t in a.source] != [
            t.id for t in b.source
        ]:
            raise ValueError(
                f"Sequence {i} does not re-tokenise to the same tokens, so the randomization check cannot re-attribute "
                "it; evaluate the other metrics (metrics=[...] without 'randomization')."
            )
    return new


def randomized_scores(
    model: AttributionModel,
    out: FeatureAttributionOutput,
    fn_id: Any,
    stages: int | None,
    seed: int,
    absolute: bool,
    include_special_tokens: bool,
    offset: int = 0,
) -> dict[tuple[int, int], list[dict[tuple[str, int], float]]]:
    """For each ``(sequence, position)``: the token scores after each cascade stage (feature -> score)."""
    module = model.model
    blocks = cascade_blocks(module)
    if not blocks:
        raise ValueError(f"No repeated layers found in {type(module).__name__}: the randomization check needs them.")
    n = len(blocks) if stages is None else max(1, min(stages, len(blocks)))
    config = getattr(module, "config", None)
    std = float(getattr(config, "initializer_range", None) or getattr(config, "init_std", None) or 0.02)
    result: dict[tuple[int, int], list[dict[tuple[str, int], float]]] = {}
    with randomized(module, blocks[:n]):
        for stage in range(n):
            reinitialise(blocks[stage], seed + stage, std)
            new = reattribute(model, out, fn_id)
            for i, seq in enumerate(new):
                for view in step_views(model, seq, offset + i, absolute, include_special_tokens):
                    scores = dict(zip(view.features, view.scores.tolist()))
                    result.setdefault((view.seq, view.position), []).append(scores)
    return result


def randomization_value(view: StepView, scores: torch.Tensor, stages: list[dict[tuple[str, int], float]]) -> float:
    """Mean over cascade stages of the rank correlation between ``scores`` and the randomized-model scores."""
    from .metrics import spearman

    values = []
    for stage in stages:
        other = torch.tensor([stage.get(f, float("nan")) for f in view.features], dtype=torch.float64)
        ok = torch.isfinite(other)
        if int(ok.sum()) < 2:
            continue
        values.append(spearman(scores[ok], other[ok], both_constant=1.0))
    return sum(values) / len(values) if values else float("nan")

"""The gradient family: ``saliency`` and ``input_x_gradient`` on the path-integral kernel.

Both are the one-point path at the input of :mod:`inseq.attr.feat.gradient.kernel`: one forward per chunk of target
positions and one batched backward (``torch.autograd.grad(..., is_grads_batched=True)``) giving the gradient of every
position of the chunk. Their numbers equal Captum's ``Saliency`` (``abs=True``) and ``InputXGradient`` run on each
prefix separately.
"""

from __future__ import annotations

from typing import Any

import torch

from ...engine import AttributionContext
from ..base import FeatureAttribution, MethodResult
from .kernel import PathIntegral, PathOptions, PathPass


def _alloc(ctx: AttributionContext, tensor: torch.Tensor | None) -> torch.Tensor | None:
    """NaN-filled ``(batch, n_positions, len, hidden)`` grid for scores of the inputs in ``tensor``."""
    if tensor is None:
        return None
    b, length, hidden = tensor.shape
    return torch.full((b, ctx.n_positions, length, hidden), float("nan"))


class GradientAttribution(FeatureAttribution):
    """Base of the gradient methods: placing per-chunk scores on the grid."""

    output_kind = "granular"

    @staticmethod
    def _place(grid: torch.Tensor | None, ctx: AttributionContext, p0: int, p1: int, scores: torch.Tensor | None):
        """Write ``(k, batch, len, hidden)`` scores into the grid's columns for ``[p0, p1)``."""
        if grid is None or scores is None:
            return
        grid[:, ctx.grid_columns(p0, p1), : scores.shape[2]] = scores.transpose(0, 1).detach().float().cpu()


def _single_point(ctx: AttributionContext, max_chunk_size: int | None) -> tuple[PathIntegral, Any, Any]:
    """Run the one-point path at the input (unit weights); returns the kernel and the input embeddings."""
    kernel = PathIntegral(ctx, PathOptions(n_steps=1, max_chunk_size=max_chunk_size))
    src, tgt = ctx.input_embeds()
    one = torch.ones(1, 1, 1, 1)
    kernel.run(PathPass(1, tgt, src, target_weights=one if ctx.wants_target else None, source_weights=one))
    return kernel, src, tgt


class SaliencyAttribution(GradientAttribution):
    """Saliency (Simonyan et al., 2013): absolute gradient of the attributed function w.r.t. input embeddings.

    Equals Captum's ``Saliency(abs=True)`` run on each prefix; one forward per chunk of target positions and one
    batched backward give every position of the chunk.

    Args (of ``attribute()``):
        max_chunk_size: Upper bound on the target positions of one batched backward (default: the memory budgets
            decide, see :func:`inseq.utils.budgets.memory_budgets`).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "saliency")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?", max_chunk_size=4)  # doctest: +SKIP
    """

    method_name = "saliency"

    def compute(self, ctx: AttributionContext, *, max_chunk_size: int | None = None) -> MethodResult:
        kernel, _, _ = _single_point(ctx, max_chunk_size)
        source, target = kernel.result(post=torch.Tensor.abs_)
        return MethodResult(source=source, target=target)


class InputXGradientAttribution(GradientAttribution):
    """Input x gradient (Shrikumar et al., 2016): gradient times the input embedding.

    Equals Captum's ``InputXGradient`` run on each prefix, at saliency's cost.

    Args (of ``attribute()``):
        max_chunk_size: Upper bound on the target positions of one batched backward (default: the memory budgets).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "input_x_gradient")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?")  # doctest: +SKIP
    """

    method_name = "input_x_gradient"

    def compute(self, ctx: AttributionContext, *, max_chunk_size: int | None = None) -> MethodResult:
        kernel, src, tgt = _single_point(ctx, max_chunk_size)
        source, target = kernel.result(source_scale=src, target_scale=tgt)
        return MethodResult(source=source, target=target)

"""Integrated gradients (Sundararajan et al., 2017) on the path-integral kernel.

The straight line from the baseline (UNK embeddings) to the input, integrated with Captum's rules and multiplied by
``input - baseline``. Integrated gradients with ``n_steps`` points is ``n_steps`` saliency-sized passes (stacked in
one pass when the memory budgets allow), so it costs about ``n_steps`` saliencies. Numbers equal Captum's
``IntegratedGradients(multiply_by_inputs=True)`` run on each prefix separately.
"""

from __future__ import annotations

import torch

from ...engine import AttributionContext, attributed_fn_values
from ..base import MethodResult
from ..gradient.kernel import PathIntegral, PathOptions, PathPass, points_per_pass, step_rule
from ..gradient.methods import GradientAttribution


def straight_points(x: torch.Tensor, base: torch.Tensor, alphas: list[float]) -> torch.Tensor:
    """``(n * batch, len, hidden)`` points ``base + a (x - base)`` of the straight path, stacked along the rows."""
    a = torch.tensor(alphas, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
    return (base.unsqueeze(0) + a * (x - base).unsqueeze(0)).flatten(0, 1)


class IntegratedGradientsAttribution(GradientAttribution):
    """Integrated gradients (Sundararajan et al., 2017) from the baseline (UNK embeddings) to the input.

    Uses Captum's integration rules (``method="gausslegendre"`` by default) and multiplies by
    ``input - baseline``. With ``return_convergence_delta=True`` the completeness gap
    ``sum(attributions) - (f(input) - f(baseline))`` of each position is stored as the step score ``"deltas"``.

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "integrated_gradients")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?", n_steps=20)  # doctest: +SKIP
    """

    method_name = "integrated_gradients"
    use_baselines = True

    def compute(
        self,
        ctx: AttributionContext,
        *,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        max_chunk_size: int | None = None,
    ) -> MethodResult:
        """Integrate the gradient along the straight line from the baseline to the input.

        Args:
            ctx: The engine context.
            n_steps: Interpolation points.
            method: Captum integration rule (``"gausslegendre"``, ``"riemann_left"``, ``"riemann_right"``,
                ``"riemann_middle"``, ``"riemann_trapezoid"``).
            internal_batch_size: Rows (points x examples) of one forward pass (default: the memory budgets).
            return_convergence_delta: Store the completeness gap of each position as step score ``"deltas"``.
            max_chunk_size: Upper bound on the positions of one batched backward pass.
        """
        options = PathOptions(n_steps, internal_batch_size, max_chunk_size)
        step_sizes, alphas = step_rule(method, n_steps)
        src, tgt = ctx.input_embeds()
        src_base, tgt_base = ctx.baseline_embeds()
        kernel = PathIntegral(ctx, options)
        per_pass = points_per_pass(ctx, options, src.shape[1] if src is not None else 0)
        n_passes = -(-n_steps // per_pass)
        for start in range(0, n_steps, per_pass):
            end = min(n_steps, start + per_pass)
            weights = torch.tensor(step_sizes[start:end], dtype=torch.float32).view(-1, 1, 1, 1)
            # the target moves along the path only when it is attributed; otherwise it keeps its real value
            moving = ctx.wants_target
            s_tgt = straight_points(tgt, tgt_base, alphas[start:end]) if moving else tgt.repeat(end - start, 1, 1)
            s_src = straight_points(src, src_base, alphas[start:end]) if src is not None else None
            spec = PathPass(end - start, s_tgt, s_src, weights if moving else None, weights, None, 1 / n_passes)
            kernel.run(spec)
            del s_tgt, s_src
        source, target = kernel.result(
            source_scale=src - src_base if src is not None else None, target_scale=tgt - tgt_base
        )
        result = MethodResult(source=source, target=target)
        if return_convergence_delta:
            result.step_scores["deltas"] = completeness_gap(ctx, result, src_base, tgt_base)
        return result


def completeness_gap(ctx: AttributionContext, result: MethodResult, src_base, tgt_base) -> torch.Tensor:
    """Completeness gap of each grid position: ``sum(attributions) - (f(input) - f(baseline))``."""
    total = torch.zeros(tuple(ctx.active.shape))
    if result.source is not None:
        total += result.source.nan_to_num().sum((-1, -2))
    if result.target is not None:
        total += prefix_only(result.target, ctx).sum((-1, -2))
    f_in = attributed_fn_values(ctx)
    f_base = attributed_fn_values(ctx, target_embeds=tgt_base if ctx.wants_target else None, source_embeds=src_base)
    return total - (f_in - f_base)


def prefix_only(target: torch.Tensor, ctx: AttributionContext) -> torch.Tensor:
    """Zero the rows of each grid column that are not in the prefix of its position."""
    rows = torch.arange(target.shape[2]).view(1, 1, -1)
    keep = rows < ctx.positions.view(1, -1, 1)
    return (target * keep.unsqueeze(-1)).nan_to_num()

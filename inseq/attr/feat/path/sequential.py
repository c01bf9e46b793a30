"""Sequential integrated gradients (Enguehard, 2023) on the path-integral kernel.

Integrated gradients run once per input token, moving only that token's embedding from its baseline while every
other token keeps its input value. On the engine, the interpolated copies of one token serve every target position
at once: one forward per chunk of positions and one batched backward give the gradient of all of them with respect
to that token.
"""

from __future__ import annotations

import torch

from ...engine import AttributionContext, attributed_fn_values
from ..base import MethodResult
from ..gradient.kernel import PathIntegral, PathOptions, PathPass, points_per_pass, step_rule
from ..gradient.methods import GradientAttribution
from .integrated_gradients import prefix_only


def _one_token_points(x: torch.Tensor, base: torch.Tensor, index: int, alphas: list[float]) -> torch.Tensor:
    """``(n * batch, len, hidden)`` copies of ``x`` whose token ``index`` is at ``base + a (x - base)``, a in alphas."""
    a = torch.tensor(alphas, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    points = x.repeat(len(alphas), 1, 1)
    points[:, index] = (base[:, index] + a * (x[:, index] - base[:, index])).flatten(0, 1)
    return points


def _step_ranges(n_steps: int, per_pass: int) -> list[tuple[int, int]]:
    return [(s, min(n_steps, s + per_pass)) for s in range(0, n_steps, per_pass)]


class SequentialIntegratedGradientsAttribution(GradientAttribution):
    """Sequential integrated gradients (Enguehard, 2023): integrated gradients on one token at a time.

    The score of token ``i`` is ``(x_i - b_i) * sum_k w_k * grad_i f(x with x_i -> b_i + a_k (x_i - b_i))``: only
    token ``i`` moves from its baseline (UNK embedding) while the other tokens keep their input values, with Captum's
    integration rule ``method`` (alphas ``a_k``, weights ``w_k``). The cost is that of integrated gradients times the
    number of tokens, but a single interpolated forward per chunk serves every target position after ``i``. With
    ``return_convergence_delta=True`` the step score ``"deltas"`` holds, for each position, the sum over tokens of
    the per-token completeness gaps ``sum(attr_i) - (f(x) - f(x with token i set to its baseline))``.

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "sequential_integrated_gradients")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?", n_steps=20)  # doctest: +SKIP
    """

    method_name = "sequential_integrated_gradients"
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
        """Run integrated gradients on every source token and every token of the target prefixes.

        Args:
            ctx: The engine context.
            n_steps: Interpolation steps per token.
            method: Captum approximation method (``"gausslegendre"``, ``"riemann_left"``, ``"riemann_right"``,
                ``"riemann_middle"``, ``"riemann_trapezoid"``).
            internal_batch_size: Rows (steps x examples) of one forward pass (default: the memory budgets).
            return_convergence_delta: Store the summed per-token completeness gaps as step score ``"deltas"``.
            max_chunk_size: Upper bound on the positions of one batched backward pass.
        """
        options = PathOptions(n_steps, internal_batch_size, max_chunk_size)
        step_sizes, alphas = step_rule(method, n_steps)
        src, tgt = ctx.input_embeds()
        src_base, tgt_base = ctx.baseline_embeds()
        kernel = PathIntegral(ctx, options)
        passes = _step_ranges(n_steps, points_per_pass(ctx, options))
        n_src = src.shape[1] if src is not None else 0
        n_tgt = min(tgt.shape[1], int(ctx.positions[-1])) if ctx.wants_target else 0
        share = 1.0 / (len(passes) * max(1, n_src + n_tgt))
        for start, end in passes:
            n, a = end - start, alphas[start:end]
            w = torch.tensor(step_sizes[start:end], dtype=torch.float32).view(-1, 1, 1, 1)
            for i in range(n_src):  # the source token moves, the target keeps its input value
                points = _one_token_points(src, src_base, i, a)
                kernel.run(PathPass(n, tgt.repeat(n, 1, 1), points, None, w, slice(i, i + 1), share))
            for i in range(n_tgt):  # the target token moves, the source is the clean one
                points = _one_token_points(tgt, tgt_base, i, a)
                kernel.run(PathPass(n, points, None, w, None, slice(i, i + 1), share))
        source, target = kernel.result(
            source_scale=src - src_base if src is not None else None, target_scale=tgt - tgt_base
        )
        result = MethodResult(source=source, target=target)
        if return_convergence_delta:
            result.step_scores["deltas"] = self._deltas(ctx, result, (src, tgt, src_base, tgt_base), n_src, n_tgt)
        return result

    @staticmethod
    def _deltas(ctx: AttributionContext, result: MethodResult, embeds: tuple, n_src: int, n_tgt: int) -> torch.Tensor:
        """Per position: ``sum_i [sum(attr_i) - (f(x) - f(x with token i set to its baseline))]``."""
        src, tgt, src_base, tgt_base = embeds
        f_in = attributed_fn_values(ctx)
        gap = torch.zeros(tuple(ctx.active.shape))
        if result.source is not None:
            gap += result.source.nan_to_num().sum((-1, -2))
        if result.target is not None:
            gap += prefix_only(result.target, ctx).sum((-1, -2))
        for i in range(n_src):
            moved = src.clone()
            moved[:, i] = src_base[:, i]
            gap -= f_in - attributed_fn_values(ctx, source_embeds=moved)
        for i in range(n_tgt):
            moved = tgt.clone()
            moved[:, i] = tgt_base[:, i]
            gap -= f_in - attributed_fn_values(ctx, target_embeds=moved)
        return gap

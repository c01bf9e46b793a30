"""Gradient-based attribution methods.

``saliency``, ``input_x_gradient`` and ``integrated_gradients`` run on the engine's fast path: one forward per chunk
of target positions and one batched backward (``torch.autograd.grad(..., is_grads_batched=True)``) giving the
gradient of every position of the chunk. Their numbers equal Captum's ``Saliency`` (``abs=True``), ``InputXGradient``
and ``IntegratedGradients`` (``multiply_by_inputs=True``) run on each prefix separately.

``deeplift``, ``gradient_shap`` and the ``layer_*`` methods run Captum itself on a batch holding one copy of the
inputs per target position of a chunk (each copy scored at its own position): exact Captum semantics for any of
its methods, with batched rather than sequential passes.
"""

from __future__ import annotations

from typing import Any

import captum.attr as captum_attr
import torch
from captum.attr._utils.approximation_methods import approximation_parameters

from ..engine import AttributionContext, attributed_fn_values
from .feature_attribution import FeatureAttribution, MethodResult


def _alloc(ctx: AttributionContext, tensor: torch.Tensor | None) -> torch.Tensor | None:
    """NaN-filled ``(batch, n_positions, len, hidden)`` grid for scores of the inputs in ``tensor``."""
    if tensor is None:
        return None
    b, length, hidden = tensor.shape
    return torch.full((b, ctx.n_positions, length, hidden), float("nan"))


def _batched_grads(
    values: torch.Tensor, inputs: list[torch.Tensor], retain_graph: bool
) -> tuple[torch.Tensor | None, ...]:
    """Gradients of each column of ``values`` (rows, k) w.r.t. ``inputs``: each result is ``(k, *input.shape)``."""
    k = values.shape[1]
    grad_outputs = torch.eye(k, dtype=values.dtype, device=values.device).unsqueeze(1).expand(k, *values.shape)
    return torch.autograd.grad(
        values, inputs, grad_outputs=grad_outputs, is_grads_batched=True, retain_graph=retain_graph, allow_unused=True
    )


class GradientAttribution(FeatureAttribution):
    """Shared machinery of the fast gradient methods: gradients of every position from batched backward passes."""

    output_kind = "granular"

    def _gradients(
        self,
        ctx: AttributionContext,
        src: torch.Tensor | None,
        tgt: torch.Tensor,
        repeat: int,
        combine: Any,
        max_chunk_size: int | None = None,
    ) -> None:
        """Run the chunked backward passes on inputs ``src``/``tgt`` (``repeat`` copies of the batch each).

        ``combine(p0, p1, src_grads, tgt_grads)`` receives ``(k, rows, len, hidden)`` gradients of each chunk.
        """
        batch = ctx.batch
        src = src.detach().requires_grad_(True) if src is not None else None
        want_tgt = ctx.wants_target
        tgt = tgt.detach().requires_grad_(want_tgt)
        enc = ctx.scorer.encode(src, repeat=repeat) if batch.is_encoder_decoder else None
        for p0, p1 in ctx.chunks(max_size=max_chunk_size):
            values = ctx.scorer.score(p0, p1, repeat=repeat, target_embeds=tgt, encoder_outputs=enc)
            inputs = [x for x in (src, tgt if want_tgt else None) if x is not None]
            grads = list(_batched_grads(values, inputs, retain_graph=enc is not None))
            src_grads = grads.pop(0) if src is not None else None
            tgt_grads = grads.pop(0) if want_tgt else None
            if tgt_grads is not None:
                tgt_grads = tgt_grads[:, :, : p1 - 1]
            combine(p0, p1, src_grads, tgt_grads)

    @staticmethod
    def _place(grid: torch.Tensor | None, ctx: AttributionContext, p0: int, p1: int, scores: torch.Tensor | None):
        """Write ``(k, batch, len, hidden)`` scores into the grid's columns for ``[p0, p1)``."""
        if grid is None or scores is None:
            return
        grid[:, ctx.grid_columns(p0, p1), : scores.shape[2]] = scores.transpose(0, 1).detach().float().cpu()


class SaliencyAttribution(GradientAttribution):
    """Saliency (Simonyan et al., 2013): absolute gradient of the attributed function w.r.t. input embeddings."""

    method_name = "saliency"

    def compute(self, ctx: AttributionContext, *, max_chunk_size: int | None = None) -> MethodResult:
        src, tgt = ctx.input_embeds()
        result = MethodResult(source=_alloc(ctx, src), target=_alloc(ctx, tgt) if ctx.wants_target else None)

        def combine(p0, p1, gs, gt):
            self._place(result.source, ctx, p0, p1, gs.abs() if gs is not None else None)
            self._place(result.target, ctx, p0, p1, gt.abs() if gt is not None else None)

        self._gradients(ctx, src, tgt, 1, combine, max_chunk_size)
        return result


class InputXGradientAttribution(GradientAttribution):
    """Input x gradient (Shrikumar et al., 2016): gradient times the input embedding."""

    method_name = "input_x_gradient"

    def compute(self, ctx: AttributionContext, *, max_chunk_size: int | None = None) -> MethodResult:
        src, tgt = ctx.input_embeds()
        result = MethodResult(source=_alloc(ctx, src), target=_alloc(ctx, tgt) if ctx.wants_target else None)

        def combine(p0, p1, gs, gt):
            if gs is not None:
                self._place(result.source, ctx, p0, p1, gs * src.unsqueeze(0))
            if gt is not None:
                self._place(result.target, ctx, p0, p1, gt * tgt[:, : p1 - 1].unsqueeze(0))

        self._gradients(ctx, src, tgt, 1, combine, max_chunk_size)
        return result


class IntegratedGradientsAttribution(GradientAttribution):
    """Integrated gradients (Sundararajan et al., 2017) from the baseline (UNK embeddings) to the input.

    Uses Captum's integration rules (``method="gausslegendre"`` by default) and multiplies by
    ``input - baseline``. With ``return_convergence_delta=True`` the completeness gap
    ``sum(attributions) - (f(input) - f(baseline))`` of each position is stored as the step score ``"deltas"``.
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
        if n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps}.")
        step_sizes_fn, alphas_fn = approximation_parameters(method)
        step_sizes, alphas = step_sizes_fn(n_steps), alphas_fn(n_steps)
        src, tgt = ctx.input_embeds()
        src_base, tgt_base = ctx.baseline_embeds()
        result = MethodResult(source=_alloc(ctx, src), target=_alloc(ctx, tgt) if ctx.wants_target else None)
        total_src = torch.zeros_like(result.source) if result.source is not None else None
        total_tgt = torch.zeros_like(result.target) if result.target is not None else None
        per_pass = max(1, (internal_batch_size or n_steps * ctx.batch.size) // ctx.batch.size)
        for start in range(0, n_steps, per_pass):
            a = torch.tensor(alphas[start : start + per_pass], dtype=tgt.dtype, device=tgt.device)
            w = torch.tensor(step_sizes[start : start + per_pass], dtype=torch.float32)
            n = len(a)

            def scaled(x, base, a=a, n=n):
                return (base.unsqueeze(0) + a.view(n, 1, 1, 1) * (x - base).unsqueeze(0)).flatten(0, 1)

            s_src = scaled(src, src_base) if src is not None else None

            def combine(p0, p1, gs, gt, w=w, n=n):
                for total, grads in ((total_src, gs), (total_tgt, gt)):
                    if total is None or grads is None:
                        continue
                    k, rows = grads.shape[:2]
                    summed = (grads.unflatten(1, (n, rows // n)).float().cpu() * w.view(1, n, 1, 1, 1)).sum(1)
                    total[:, ctx.grid_columns(p0, p1), : summed.shape[2]] += summed.transpose(0, 1)

            self._gradients(ctx, s_src, scaled(tgt, tgt_base), n, combine, max_chunk_size)
        if total_src is not None:
            result.source = total_src * (src - src_base).float().cpu().unsqueeze(1)
        if total_tgt is not None:
            result.target = total_tgt * (tgt - tgt_base).float().cpu().unsqueeze(1)
        if return_convergence_delta:
            result.step_scores["deltas"] = self._deltas(ctx, result, src_base, tgt_base)
        return result

    @staticmethod
    def _deltas(ctx: AttributionContext, result: MethodResult, src_base, tgt_base) -> torch.Tensor:
        """Completeness gap of each grid position: ``sum(attributions) - (f(input) - f(baseline))``."""
        total = torch.zeros(tuple(ctx.active.shape))
        if result.source is not None:
            total += result.source.nan_to_num().sum((-1, -2))
        if result.target is not None:
            total += _prefix_only(result.target, ctx).sum((-1, -2))
        f_in = attributed_fn_values(ctx)
        f_base = attributed_fn_values(ctx, target_embeds=tgt_base, source_embeds=src_base)
        return total - (f_in - f_base)


def _prefix_only(target: torch.Tensor, ctx: AttributionContext) -> torch.Tensor:
    """Zero the rows of each grid column that are not in the prefix of its position."""
    rows = torch.arange(target.shape[2]).view(1, 1, -1)
    keep = rows < ctx.positions.view(1, -1, 1)
    return (target * keep.unsqueeze(-1)).nan_to_num()

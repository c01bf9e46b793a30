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

import math
from types import SimpleNamespace
from typing import Any

import captum.attr as captum_attr
import torch
from captum.attr._utils.approximation_methods import approximation_parameters
from transformers.modeling_outputs import CausalLMOutput, Seq2SeqLMOutput

from ...utils.budgets import get_budgets
from ..engine import AttributionContext, attributed_fn_values
from ..step_functions import (
    StepFunctionArgs,
    StepFunctionDecoderOnlyArgs,
    StepFunctionEncoderDecoderArgs,
    is_builtin_step_function,
)
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
        progress_weight: float = 1.0,
    ) -> None:
        """Run the chunked backward passes on inputs ``src``/``tgt`` (``repeat`` copies of the batch each).

        ``combine(p0, p1, src_grads, tgt_grads)`` receives ``(k, rows, len, hidden)`` gradients of each chunk.
        """
        src = src.detach().requires_grad_(True) if src is not None else None
        want_tgt = ctx.wants_target
        tgt = tgt.detach().requires_grad_(want_tgt)
        enc = ctx.scorer.encode(src, repeat=repeat)
        for p0, p1 in ctx.chunks(rows=repeat, max_size=max_chunk_size, progress_weight=progress_weight):
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
        if internal_batch_size is None:
            tokens = ctx.batch.size * (
                ctx.batch.target_ids.shape[1] + (ctx.batch.source_ids.shape[1] if src is not None else 0)
            )
            per_pass = max(1, min(n_steps, get_budgets().forward_tokens // max(1, tokens)))
        else:
            per_pass = max(1, internal_batch_size // ctx.batch.size)
        n_passes = math.ceil(n_steps / per_pass)
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

            # the target moves along the path only when it is attributed; otherwise it keeps its real value
            s_tgt = scaled(tgt, tgt_base) if ctx.wants_target else tgt.repeat(n, 1, 1)
            self._gradients(ctx, s_src, s_tgt, n, combine, max_chunk_size, 1 / n_passes)
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
        f_base = attributed_fn_values(
            ctx, target_embeds=tgt_base if ctx.wants_target else None, source_embeds=src_base
        )
        return total - (f_in - f_base)


def _prefix_only(target: torch.Tensor, ctx: AttributionContext) -> torch.Tensor:
    """Zero the rows of each grid column that are not in the prefix of its position."""
    rows = torch.arange(target.shape[2]).view(1, 1, -1)
    keep = rows < ctx.positions.view(1, -1, 1)
    return (target * keep.unsqueeze(-1)).nan_to_num()


class CaptumAttribution(GradientAttribution):
    """Captum methods run on replicated inputs: one copy of the batch per target position of a chunk.

    Row ``j * batch + b`` of a chunk holds example ``b`` scored at position ``p0 + j``. Per-row positions, target
    ids and masks travel as Captum ``additional_forward_args``, which Captum expands along with the inputs, so any
    Captum method (including those that add noise samples or concatenate baselines) scores each row correctly.
    """

    captum_cls: Any = None
    uses_layer: bool = False
    default_chunk_size: int = 8

    def _make_captum(self, forward: Any) -> Any:
        if self.uses_layer:
            layer = self.init_kwargs.get("target_layer") or self.attribution_model.model.get_input_embeddings()
            if isinstance(layer, str):
                layer = self.attribution_model.model.get_submodule(layer)
            return self.captum_cls(forward, layer)
        return self.captum_cls(forward)

    def _run(self, ctx: AttributionContext, captum_kwargs: dict[str, Any], max_chunk_size: int | None) -> MethodResult:
        batch = ctx.batch
        src, tgt = ctx.input_embeds()
        src_base, tgt_base = ctx.baseline_embeds()
        want_tgt = ctx.wants_target
        result = MethodResult(source=_alloc(ctx, src), target=_alloc(ctx, tgt) if want_tgt else None)
        custom = not is_builtin_step_function(ctx.scorer.fn)  # called per step: one position per chunk
        for p0, p1 in ctx.chunks(max_size=1 if custom else max_chunk_size or self.default_chunk_size):
            k, length, n = p1 - p0, p1 - 1, batch.size
            rows = {
                "pos": torch.arange(p0, p1, device=tgt.device).repeat_interleave(n),
                "tids": batch.target_ids[:, p0:p1].T.reshape(-1),
                "tmask": batch.target_mask[:, :length].repeat(k, 1),
                "smask": batch.source_mask.repeat(k, 1) if batch.is_encoder_decoder else None,
            }
            if custom:  # Captum expands these with the inputs, as it expanded inseq 0.7's forward arguments
                rows.update(_custom_step_rows(ctx, length, k))
            if self.uses_layer:
                inputs = [batch.source_ids if batch.is_encoder_decoder else batch.target_ids[:, :length]]
                baselines = [batch.source_baseline_ids if batch.is_encoder_decoder else batch.target_baseline_ids]
                baselines[0] = baselines[0][:, : inputs[0].shape[1]]
            else:
                inputs, baselines = [], []
                if src is not None:
                    inputs.append(src)
                    baselines.append(src_base)
                if want_tgt:
                    inputs.append(tgt[:, :length])
                    baselines.append(tgt_base[:, :length])
            inputs = tuple(x.repeat(k, *([1] * (x.ndim - 1))) for x in inputs)
            baselines = tuple(x.repeat(k, *([1] * (x.ndim - 1))) for x in baselines)
            forward = self._forward_fn(ctx, p0, p1, src, tgt)
            method = self._make_captum(forward)
            extra = tuple(v for v in rows.values() if v is not None)
            kwargs = dict(captum_kwargs)
            if self.use_baselines:
                kwargs["baselines"] = baselines
            attrs = method.attribute(inputs, additional_forward_args=extra, **kwargs)
            if captum_kwargs.get("return_convergence_delta"):
                attrs, delta = attrs
                _place_deltas(result, ctx, p0, p1, delta)
            attrs = list(attrs) if isinstance(attrs, tuple | list) else [attrs]
            attrs = [a.reshape(k, n, *a.shape[1:]) for a in attrs]
            if self.uses_layer:
                target_grid = result.source if batch.is_encoder_decoder else result.target
                self._place(target_grid, ctx, p0, p1, attrs[0])
                continue
            if src is not None:
                self._place(result.source, ctx, p0, p1, attrs.pop(0))
            if want_tgt:
                self._place(result.target, ctx, p0, p1, attrs.pop(0))
        return result

    def _forward_fn(self, ctx: AttributionContext, p0: int, p1: int, src: Any, tgt: Any) -> Any:
        batch, model, scorer = ctx.batch, ctx.model, ctx.scorer
        length = p1 - 1
        want_tgt, enc_dec = ctx.wants_target, batch.is_encoder_decoder
        n = batch.size

        def forward(*args: torch.Tensor) -> torch.Tensor:
            args = list(args)
            if self.uses_layer:
                first = args.pop(0)
                if enc_dec:
                    s_ids, s_emb = first, None
                    rows = first.shape[0]
                    # embed the target without calling the (hooked) embedding module
                    weight = model.model.get_input_embeddings().weight
                    t_ids_rep = batch.target_ids[:, :length].repeat(rows // n, 1)
                    t_emb = torch.nn.functional.embedding(t_ids_rep, weight) * model.embed_scale
                    t_ids = None
                else:
                    s_ids, s_emb, t_emb, t_ids = None, None, None, first
            else:
                s_ids = None
                s_emb = args.pop(0) if enc_dec else None
                t_emb = args.pop(0) if want_tgt else None
                t_ids = None
            pos, tids, tmask = args[0], args[1], args[2]
            smask = args[3] if enc_dec else None
            rows = pos.shape[0]
            if t_emb is None and t_ids is None:
                reps = rows // n
                t_emb = tgt[:, :length].repeat(reps, 1, 1)
            enc = model.encode_source(embeds=s_emb, ids=s_ids, mask=smask) if enc_dec else None
            logits = model.forward_logits(
                target_embeds=t_emb,
                target_ids=t_ids,
                target_mask=tmask,
                encoder_outputs=enc,
                source_mask=smask,
                logits_from=p0 - 1,
            )
            picked = logits[torch.arange(rows, device=logits.device), pos - p0]
            embeds = (s_emb, None if self.uses_layer else t_emb)
            rest = args[4 if enc_dec else 3 :]
            args_, fn_kwargs = _captum_step_args(ctx, picked, tids, tmask, smask, embeds, rest)
            contrast = scorer.contrast
            if contrast is not None:
                cols = pos - ctx.grid_start
                ex = torch.arange(rows, device=pos.device) % n
                args_.contrast_target_ids = contrast.target_ids[ex, cols]
                if contrast.logits is not None and contrast.force_inputs:
                    args_.contrast_logits = contrast.logits[ex, cols]
            return scorer.fn(args_, **fn_kwargs)

        return forward


def _custom_step_rows(ctx: AttributionContext, length: int, k: int) -> dict[str, torch.Tensor]:
    """Forward arguments of a custom step function: prefix ids, source ids and its per-example tensor kwargs."""
    batch = ctx.batch
    rows = {"decoder_input_ids": batch.target_ids[:, :length].repeat(k, 1)}
    if batch.is_encoder_decoder:
        rows["encoder_input_ids"] = batch.source_ids.repeat(k, 1)
    for key, value in ctx.scorer.fn_kwargs.items():
        if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == batch.size:
            rows[f"kwarg:{key}"] = value.to(batch.target_ids.device).repeat(k, *([1] * (value.ndim - 1)))
    return rows


def _captum_step_args(
    ctx: AttributionContext,
    logits: torch.Tensor,
    target_ids: torch.Tensor,
    target_mask: torch.Tensor,
    source_mask: torch.Tensor | None,
    embeds: tuple[torch.Tensor | None, torch.Tensor | None],
    rest: tuple[torch.Tensor, ...],
) -> tuple[StepFunctionArgs, dict[str, Any]]:
    """Step-function arguments of the rows Captum passed: built-ins get the logits and target ids, custom functions
    inseq 0.7's per-step arguments (``rest`` holds the tensors of :func:`_custom_step_rows`)."""
    batch, scorer = ctx.batch, ctx.scorer
    if is_builtin_step_function(scorer.fn):
        output = SimpleNamespace(logits=logits.unsqueeze(1))
        args = StepFunctionArgs(ctx.model, output, target_ids, is_attributed_fn=True)
        return args, scorer.fn_kwargs
    rest = list(rest)
    decoder_ids = rest.pop(0)
    encoder_ids = rest.pop(0) if batch.is_encoder_decoder else None
    names = [key for key, value in scorer.fn_kwargs.items() if isinstance(value, torch.Tensor) and value.ndim > 0]
    names = [key for key in names if scorer.fn_kwargs[key].shape[0] == batch.size]
    fn_kwargs = {**scorer.fn_kwargs, **dict(zip(names, rest))}
    common = {
        "attribution_model": ctx.model,
        "target_ids": target_ids,
        "decoder_input_ids": decoder_ids,
        "decoder_attention_mask": target_mask,
        "decoder_input_embeds": embeds[1],
        "is_attributed_fn": True,
    }
    if not batch.is_encoder_decoder:
        return StepFunctionDecoderOnlyArgs(
            forward_output=CausalLMOutput(logits=logits.unsqueeze(1)), **common
        ), fn_kwargs
    args = StepFunctionEncoderDecoderArgs(
        forward_output=Seq2SeqLMOutput(logits=logits.unsqueeze(1)),
        encoder_input_ids=encoder_ids,
        encoder_attention_mask=source_mask,
        encoder_input_embeds=embeds[0],
        **common,
    )
    return args, fn_kwargs


def _place_deltas(result: MethodResult, ctx: AttributionContext, p0: int, p1: int, delta: torch.Tensor) -> None:
    """Store Captum's convergence deltas of a chunk as the step score ``"deltas"`` (mean over noise samples)."""
    k, n = p1 - p0, ctx.batch.size
    per_row = delta.detach().float().cpu().reshape(k * n, -1).mean(-1)
    grid = result.step_scores.setdefault("deltas", torch.full(tuple(ctx.active.shape), float("nan")))
    grid[:, ctx.grid_columns(p0, p1)] = per_row.view(k, n).T


class DeepLiftAttribution(CaptumAttribution):
    """DeepLIFT (Shrikumar et al., 2017) through Captum, with UNK-embedding baselines."""

    method_name = "deeplift"
    captum_cls = captum_attr.DeepLift
    use_baselines = True

    def _make_captum(self, forward: Any) -> Any:
        return _ForwardModule.wrap(forward, lambda module: captum_attr.DeepLift(module, multiply_by_inputs=True))

    def compute(
        self,
        ctx: AttributionContext,
        *,
        return_convergence_delta: bool = False,
        max_chunk_size: int | None = None,
        **kwargs: Any,
    ) -> MethodResult:
        return self._run(ctx, {"return_convergence_delta": return_convergence_delta}, max_chunk_size)


class GradientShapAttribution(CaptumAttribution):
    """Gradient SHAP (Lundberg and Lee, 2017) through Captum, with UNK-embedding baselines."""

    method_name = "gradient_shap"
    captum_cls = captum_attr.GradientShap
    use_baselines = True

    def compute(
        self,
        ctx: AttributionContext,
        *,
        n_samples: int = 5,
        stdevs: float = 0.0,
        return_convergence_delta: bool = False,
        max_chunk_size: int | None = None,
    ) -> MethodResult:
        kwargs = {"n_samples": n_samples, "stdevs": stdevs, "return_convergence_delta": return_convergence_delta}
        return self._run(ctx, kwargs, max_chunk_size)


class LayerIntegratedGradientsAttribution(CaptumAttribution):
    """Integrated gradients on a layer's output (default: the input embedding layer), through Captum."""

    method_name = "layer_integrated_gradients"
    captum_cls = captum_attr.LayerIntegratedGradients
    use_baselines = True
    uses_layer = True
    supports_attribute_target = False

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
        kwargs = {
            "n_steps": n_steps,
            "method": method,
            "internal_batch_size": internal_batch_size,
            "return_convergence_delta": return_convergence_delta,
        }
        return self._run(ctx, kwargs, max_chunk_size)


class LayerGradientXActivationAttribution(CaptumAttribution):
    """Gradient times a layer's activation (default: the input embedding layer), through Captum."""

    method_name = "layer_gradient_x_activation"
    captum_cls = captum_attr.LayerGradientXActivation
    uses_layer = True
    supports_attribute_target = False

    def compute(self, ctx: AttributionContext, *, max_chunk_size: int | None = None) -> MethodResult:
        return self._run(ctx, {}, max_chunk_size)


class LayerDeepLiftAttribution(CaptumAttribution):
    """DeepLIFT on a layer's output (default: the input embedding layer), through Captum."""

    method_name = "layer_deeplift"
    use_baselines = True
    uses_layer = True
    supports_attribute_target = False

    def _make_captum(self, forward: Any) -> Any:
        layer = self.init_kwargs.get("target_layer") or self.attribution_model.model.get_input_embeddings()
        if isinstance(layer, str):
            layer = self.attribution_model.model.get_submodule(layer)
        return _ForwardModule.wrap(forward, lambda module: captum_attr.LayerDeepLift(module, layer))

    def compute(
        self, ctx: AttributionContext, *, return_convergence_delta: bool = False, max_chunk_size: int | None = None
    ) -> MethodResult:
        return self._run(ctx, {"return_convergence_delta": return_convergence_delta}, max_chunk_size)


class _ForwardModule(torch.nn.Module):
    """Wraps a forward function as a module (Captum's DeepLift needs an ``nn.Module``)."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args)

    @classmethod
    def wrap(cls, fn: Any, build: Any) -> Any:
        return build(cls(fn))

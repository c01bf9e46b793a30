"""The Captum bridge: ``deeplift``, ``gradient_shap`` and the ``layer_*`` methods run Captum itself.

Each runs on a batch holding one copy of the inputs per target position of a chunk (each copy scored at its own
position): exact Captum semantics for any of its methods, with batched rather than sequential passes.
"""

from __future__ import annotations

from typing import Any

import torch

from ...engine import AttributionContext
from ...step_args import custom_step_rows, make_step_args, per_example_kwargs
from ...step_functions import StepFunctionArgs, is_builtin_step_function
from ..base import MethodResult
from ..gradient.methods import GradientAttribution, _alloc


class CaptumAttribution(GradientAttribution):
    """Captum methods run on replicated inputs: one copy of the batch per target position of a chunk.

    Row ``j * batch + b`` of a chunk holds example ``b`` scored at position ``p0 + j``. Per-row positions, target
    ids and masks travel as Captum ``additional_forward_args``, which Captum expands along with the inputs, so any
    Captum method (including those that add noise samples or concatenate baselines) scores each row correctly.
    """

    #: Name of the Captum class in ``captum.attr`` (imported on first use: ``import inseq`` stays light).
    captum_cls: str = ""
    uses_layer: bool = False
    default_chunk_size: int = 8

    def _layer(self, ctx: AttributionContext) -> torch.nn.Module:
        """The attributed layer: ``target_layer`` (a module or its dotted name), else the input embeddings."""
        layer = self.init_kwargs.get("target_layer") or ctx.model.get_input_embeddings()
        return ctx.model.get_submodule(layer) if isinstance(layer, str) else layer

    def _make_captum(self, ctx: AttributionContext, forward: Any) -> Any:
        import captum.attr

        cls = getattr(captum.attr, self.captum_cls)
        if self.uses_layer:
            return cls(forward, self._layer(ctx))
        return cls(forward)

    def _chunk_inputs(self, ctx: AttributionContext, p0: int, p1: int, embeds: tuple) -> tuple[tuple, tuple]:
        """Captum inputs and baselines of the chunk ``[p0, p1)``: one copy of the batch per position."""
        batch, length, k = ctx.batch, p1 - 1, p1 - p0
        src, tgt, src_base, tgt_base = embeds
        if self.uses_layer:  # the layer sees the source ids (encoder-decoder) or the target prefix ids
            with_src = batch.source_ids is not None
            ids = batch.source_ids if with_src else batch.target_ids[:, :length]
            base = batch.source_baseline_ids if with_src else batch.target_baseline_ids
            pairs = [(ids, base[:, : ids.shape[1]])]
        else:
            pairs = [(src, src_base)] if src is not None else []
            if ctx.wants_target:
                pairs.append((tgt[:, :length], tgt_base[:, :length]))
        inputs = tuple(x.repeat(k, *([1] * (x.ndim - 1))) for x, _ in pairs)
        return inputs, tuple(b.repeat(k, *([1] * (b.ndim - 1))) for _, b in pairs)

    def _row_args(self, ctx: AttributionContext, p0: int, p1: int) -> tuple[torch.Tensor | None, ...]:
        """Per-row forward arguments (Captum ``additional_forward_args``, expanded with the inputs): positions,
        target ids, target and source masks, and, for custom step functions, inseq 0.7's per-row tensors."""
        batch, k = ctx.batch, p1 - p0
        pos = torch.arange(p0, p1, device=batch.target_ids.device).repeat_interleave(batch.size)
        rows = [pos, batch.target_ids[:, p0:p1].T.reshape(-1), batch.target_mask[:, : p1 - 1].repeat(k, 1)]
        rows.append(batch.source_mask_rows(k))
        if not is_builtin_step_function(ctx.scorer.fn):  # Captum expands these with the inputs, as in inseq 0.7
            rows += custom_step_rows(batch, ctx.scorer.fn_kwargs, p1 - 1, k)
        return tuple(rows)

    def _run(self, ctx: AttributionContext, captum_kwargs: dict[str, Any], max_chunk_size: int | None) -> MethodResult:
        batch = ctx.batch
        src, tgt = ctx.input_embeds()
        embeds = (src, tgt, *ctx.baseline_embeds())
        result = MethodResult(source=_alloc(ctx, src), target=_alloc(ctx, tgt) if ctx.wants_target else None)
        custom = not is_builtin_step_function(ctx.scorer.fn)  # called per step: one position per chunk
        for p0, p1 in ctx.chunks(max_size=1 if custom else max_chunk_size or self.default_chunk_size):
            inputs, baselines = self._chunk_inputs(ctx, p0, p1, embeds)
            method = self._make_captum(ctx, self._forward_fn(ctx, p0, p1, tgt))
            kwargs = dict(captum_kwargs)
            if self.use_baselines:
                kwargs["baselines"] = baselines
            attrs = method.attribute(inputs, additional_forward_args=self._row_args(ctx, p0, p1), **kwargs)
            if captum_kwargs.get("return_convergence_delta"):
                attrs, delta = attrs
                _place_deltas(result, ctx, p0, p1, delta)
            attrs = list(attrs) if isinstance(attrs, tuple | list) else [attrs]
            attrs = [a.reshape(p1 - p0, batch.size, *a.shape[1:]) for a in attrs]
            if self.uses_layer:
                grid = result.target if batch.source_ids is None else result.source
                self._place(grid, ctx, p0, p1, attrs[0])
                continue
            if src is not None:
                self._place(result.source, ctx, p0, p1, attrs.pop(0))
            if ctx.wants_target:
                self._place(result.target, ctx, p0, p1, attrs.pop(0))
        return result

    def _split_args(self, ctx: AttributionContext, length: int, args: list[torch.Tensor]) -> tuple:
        """``(source ids, source embeds, target embeds, target ids)`` of a Captum forward's inputs (None: absent)."""
        batch, model = ctx.batch, ctx.model
        with_src = batch.source_ids is not None
        if not self.uses_layer:
            s_emb = args.pop(0) if with_src else None
            return None, s_emb, args.pop(0) if ctx.wants_target else None, None
        first = args.pop(0)
        if not with_src:
            return None, None, None, first
        # embed the target without calling the (hooked) embedding module
        t_ids = batch.target_ids[:, :length].repeat(first.shape[0] // batch.size, 1)
        t_emb = torch.nn.functional.embedding(t_ids, model.vocabulary_embeddings) * model.embed_scale
        return first, None, t_emb, None

    def _forward_fn(self, ctx: AttributionContext, p0: int, p1: int, tgt: torch.Tensor) -> Any:
        scorer, n, length = ctx.scorer, ctx.batch.size, p1 - 1

        def forward(*args: torch.Tensor) -> torch.Tensor:
            args = list(args)
            s_ids, s_emb, t_emb, t_ids = self._split_args(ctx, length, args)
            pos, tids, tmask, smask = args[:4]
            rows = pos.shape[0]
            if t_emb is None and t_ids is None:
                t_emb = tgt[:, :length].repeat(rows // n, 1, 1)
            path = scorer.forward_path
            enc = path.encode(embeds=s_emb, ids=s_ids, mask=smask)
            logits = path.forward(
                target_embeds=t_emb,
                target_ids=t_ids,
                target_mask=tmask,
                encoder_outputs=enc,
                source_mask=smask,
                logits_at=(torch.arange(rows, device=pos.device), pos - 1),
            )
            embeds = (s_emb, None if self.uses_layer else t_emb)
            step_args, fn_kwargs = _captum_step_args(ctx, logits, tids, tmask, smask, embeds, args[4:])
            contrast = scorer.contrast
            if contrast is not None:
                cols, ex = pos - ctx.grid_start, torch.arange(rows, device=pos.device) % n
                step_args.contrast_target_ids = contrast.target_ids[ex, cols]
                if contrast.logits is not None and contrast.force_inputs:
                    step_args.contrast_logits = contrast.logits[ex, cols]
            return scorer.fn(step_args, **fn_kwargs)

        return forward


def _captum_step_args(
    ctx: AttributionContext,
    logits: torch.Tensor,
    target_ids: torch.Tensor,
    target_mask: torch.Tensor,
    source_mask: torch.Tensor | None,
    embeds: tuple[torch.Tensor | None, torch.Tensor | None],
    rest: list[torch.Tensor | None],
) -> tuple[StepFunctionArgs, dict[str, Any]]:
    """Step-function arguments of the rows Captum passed: built-ins get the logits and target ids, custom functions
    inseq 0.7's per-step arguments (``rest`` holds the tensors of :func:`custom_step_rows`)."""
    scorer = ctx.scorer
    if is_builtin_step_function(scorer.fn):
        return make_step_args(ctx.model, logits, target_ids, is_attributed_fn=True), scorer.fn_kwargs
    decoder_ids, encoder_ids, *tensors = rest
    fn_kwargs = {**scorer.fn_kwargs, **dict(zip(per_example_kwargs(scorer.fn_kwargs, ctx.batch.size), tensors))}
    args = make_step_args(
        ctx.model,
        logits,
        target_ids,
        decoder_input_ids=decoder_ids,
        decoder_attention_mask=target_mask,
        decoder_input_embeds=embeds[1],
        encoder_input_ids=encoder_ids,
        encoder_attention_mask=source_mask,
        encoder_input_embeds=embeds[0],
        is_attributed_fn=True,
        per_step=True,
        embed_missing=False,
    )
    return args, fn_kwargs


def _place_deltas(result: MethodResult, ctx: AttributionContext, p0: int, p1: int, delta: torch.Tensor) -> None:
    """Store Captum's convergence deltas of a chunk as the step score ``"deltas"`` (mean over noise samples)."""
    k, n = p1 - p0, ctx.batch.size
    per_row = delta.detach().float().cpu().reshape(k * n, -1).mean(-1)
    grid = result.step_scores.setdefault("deltas", torch.full(tuple(ctx.active.shape), float("nan")))
    grid[:, ctx.grid_columns(p0, p1)] = per_row.view(k, n).T


class DeepLiftAttribution(CaptumAttribution):
    """DeepLIFT (Shrikumar et al., 2017) through Captum, with UNK-embedding baselines.

    Args (of ``attribute()``):
        return_convergence_delta: Store Captum's convergence deltas as the step score ``"deltas"``.
        max_chunk_size: Target positions whose copies share one Captum call (default 8).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "deeplift")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?", return_convergence_delta=True)  # doctest: +SKIP
    """

    method_name = "deeplift"
    captum_cls = "DeepLift"
    use_baselines = True

    def _make_captum(self, ctx: AttributionContext, forward: Any) -> Any:
        import captum.attr

        return _ForwardModule.wrap(forward, lambda module: captum.attr.DeepLift(module, multiply_by_inputs=True))

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
    """Gradient SHAP (Lundberg and Lee, 2017) through Captum, with UNK-embedding baselines.

    Args (of ``attribute()``):
        n_samples: Random points between the baseline and the input, per input (Captum's ``n_samples``).
        stdevs: Standard deviation of the Gaussian noise added to each sample.
        return_convergence_delta: Store Captum's convergence deltas (mean over samples) as step score ``"deltas"``.
        max_chunk_size: Target positions whose copies share one Captum call (default 8).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "gradient_shap")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?", n_samples=10)  # doctest: +SKIP
    """

    method_name = "gradient_shap"
    captum_cls = "GradientShap"
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
    """Integrated gradients on a layer's output (default: the input embedding layer), through Captum.

    Load option: ``target_layer`` (a module of the model or its dotted name), e.g.
    ``inseq.load_model(name, "layer_integrated_gradients", target_layer="transformer.h.0")``. Attributes the source
    (encoder-decoder) or the target prefix (decoder-only); ``attribute_target=True`` is not supported.

    Args (of ``attribute()``):
        n_steps: Interpolation points.
        method: Captum integration rule (``"gausslegendre"``, ``"riemann_*"``).
        internal_batch_size: Rows of one Captum forward (default: all points at once).
        return_convergence_delta: Store Captum's convergence deltas as the step score ``"deltas"``.
        max_chunk_size: Target positions whose copies share one Captum call (default 8).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "layer_integrated_gradients")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?", n_steps=20)  # doctest: +SKIP
    """

    method_name = "layer_integrated_gradients"
    captum_cls = "LayerIntegratedGradients"
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
    """Gradient times a layer's activation (default: the input embedding layer), through Captum.

    Load option: ``target_layer`` (a module or its dotted name); ``attribute_target=True`` is not supported.

    Args (of ``attribute()``):
        max_chunk_size: Target positions whose copies share one Captum call (default 8).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "layer_gradient_x_activation")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?")  # doctest: +SKIP
    """

    method_name = "layer_gradient_x_activation"
    captum_cls = "LayerGradientXActivation"
    uses_layer = True
    supports_attribute_target = False

    def compute(self, ctx: AttributionContext, *, max_chunk_size: int | None = None) -> MethodResult:
        return self._run(ctx, {}, max_chunk_size)


class LayerDeepLiftAttribution(CaptumAttribution):
    """DeepLIFT on a layer's output (default: the input embedding layer), through Captum.

    Load option: ``target_layer`` (a module or its dotted name); ``attribute_target=True`` is not supported.

    Args (of ``attribute()``):
        return_convergence_delta: Store Captum's convergence deltas as the step score ``"deltas"``.
        max_chunk_size: Target positions whose copies share one Captum call (default 8).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "layer_deeplift")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?")  # doctest: +SKIP
    """

    method_name = "layer_deeplift"
    use_baselines = True
    uses_layer = True
    supports_attribute_target = False

    def _make_captum(self, ctx: AttributionContext, forward: Any) -> Any:
        import captum.attr

        layer = self._layer(ctx)
        return _ForwardModule.wrap(forward, lambda module: captum.attr.LayerDeepLift(module, layer))

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

"""Path methods beyond straight-line integrated gradients: sequential IG and discretized IG.

``sequential_integrated_gradients`` (Enguehard, 2023) runs integrated gradients once per input token, moving only
that token's embedding from its baseline while every other token keeps its input value. On the engine, the
interpolated copies of one token serve every target position at once: one forward per chunk of positions and one
batched backward give the gradient of all of them with respect to that token.

``discretized_integrated_gradients`` (Sanyal and Ren, 2021) integrates the gradient along monotonic paths that hop
through (projections of) real word embeddings, found in a kNN graph over the vocabulary (see
:mod:`inseq.attr.feat.ops.monotonic_path`). All tokens move together along their own paths, like integrated
gradients, so the engine's batched passes are reused as they are.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from captum.attr._utils.approximation_methods import approximation_parameters
from transformers.modeling_outputs import BaseModelOutput

from ...utils.budgets import get_budgets
from ..engine import AttributionContext, attributed_fn_values
from .feature_attribution import MethodResult
from .gradient_attribution import GradientAttribution, IntegratedGradientsAttribution, _alloc, _batched_grads
from .ops.monotonic_path import MODES, STRATEGIES, build_monotonic_path, load_or_build_knn_graph, path_weights


def _steps_per_pass(ctx: AttributionContext, n_steps: int, internal_batch_size: int | None, with_src: bool) -> int:
    """Interpolation steps stacked in one forward: ``internal_batch_size`` rows, or a fixed token budget."""
    if internal_batch_size is not None:
        if internal_batch_size < 1:
            raise ValueError(f"internal_batch_size must be a positive integer, got {internal_batch_size}.")
        return max(1, internal_batch_size // ctx.batch.size)
    batch = ctx.batch
    tokens = batch.size * (batch.target_ids.shape[1] + (batch.source_ids.shape[1] if with_src else 0))
    return max(1, min(n_steps, get_budgets().forward_tokens // max(1, tokens)))


def _with_token(embeds: torch.Tensor, index: int, token: torch.Tensor, copies: int) -> torch.Tensor:
    """``copies`` stacked copies of ``embeds`` (batch, len, hidden) whose token ``index`` is ``token`` (rows, 1, h)."""
    rep = embeds.repeat(copies, 1, 1)
    return torch.cat([rep[:, :index], token, rep[:, index + 1 :]], dim=1)


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
            internal_batch_size: Rows (steps x examples) of one forward pass (default: a fixed token budget).
            return_convergence_delta: Store the summed per-token completeness gaps as step score ``"deltas"``.
            max_chunk_size: Upper bound on the positions of one batched backward pass.
        """
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}.")
        step_sizes_fn, alphas_fn = approximation_parameters(method)
        step_sizes, alphas = step_sizes_fn(n_steps), alphas_fn(n_steps)
        batch = ctx.batch
        src, tgt = ctx.input_embeds()
        src_base, tgt_base = ctx.baseline_embeds()
        per_pass = _steps_per_pass(ctx, n_steps, internal_batch_size, False)
        passes = [(s, min(n_steps, s + per_pass)) for s in range(0, n_steps, per_pass)]
        n_src = src.shape[1] if src is not None else 0
        n_tgt = min(tgt.shape[1], int(ctx.positions[-1])) if ctx.wants_target else 0
        weight = 1.0 / (len(passes) * max(1, n_src + n_tgt))
        total_src = torch.zeros(batch.size, ctx.n_positions, n_src, src.shape[-1]) if src is not None else None
        total_tgt = torch.zeros(batch.size, ctx.n_positions, tgt.shape[1], tgt.shape[-1]) if n_tgt else None
        clean_enc = ctx.scorer.encode(source_ids=batch.source_ids) if src is not None else None
        for start, end in passes:
            n = end - start
            a = torch.tensor(alphas[start:end], dtype=tgt.dtype, device=tgt.device).view(n, 1, 1, 1)
            w = torch.tensor(step_sizes[start:end], dtype=torch.float32).view(1, n, 1, 1)

            def accumulate(total, column, p0, p1, grads, n=n, w=w):
                # grads: (k, n * batch, 1, hidden) -> weighted sum over the steps: (batch, k, hidden)
                summed = (grads[:, :, 0].unflatten(1, (n, batch.size)).float().cpu() * w).sum(1)
                total[:, ctx.grid_columns(p0, p1), column] += summed.transpose(0, 1)

            for i in range(n_src):
                token = (src_base[:, i] + a[..., 0, :] * (src[:, i] - src_base[:, i])).flatten(0, 1).unsqueeze(1)
                token = token.detach().requires_grad_(True)
                enc = ctx.scorer.encode(_with_token(src, i, token, n), repeat=n)
                tgt_rep = tgt.repeat(n, 1, 1)
                for p0, p1 in ctx.chunks(rows=n, max_size=max_chunk_size, progress_weight=weight):
                    values = ctx.scorer.score(p0, p1, repeat=n, target_embeds=tgt_rep, encoder_outputs=enc)
                    (grads,) = _batched_grads(values, [token], retain_graph=True)
                    if grads is not None:
                        accumulate(total_src, i, p0, p1, grads)
            enc_rep = None
            if clean_enc is not None:
                enc_rep = BaseModelOutput(last_hidden_state=clean_enc.last_hidden_state.repeat(n, 1, 1))
            for i in range(n_tgt):
                token = (tgt_base[:, i] + a[..., 0, :] * (tgt[:, i] - tgt_base[:, i])).flatten(0, 1).unsqueeze(1)
                token = token.detach().requires_grad_(True)
                moved = _with_token(tgt, i, token, n)
                for p0, p1 in ctx.chunks(rows=n, max_size=max_chunk_size, progress_weight=weight):
                    if p1 - 1 <= i:  # no position of the chunk has token i in its prefix
                        continue
                    values = ctx.scorer.score(p0, p1, repeat=n, target_embeds=moved, encoder_outputs=enc_rep)
                    (grads,) = _batched_grads(values, [token], retain_graph=False)
                    if grads is not None:
                        accumulate(total_tgt, i, p0, p1, grads)
        result = MethodResult(source=_alloc(ctx, src), target=_alloc(ctx, tgt) if ctx.wants_target else None)
        if total_src is not None:
            result.source = total_src * (src - src_base).float().cpu().unsqueeze(1)
        if total_tgt is not None and result.target is not None:
            result.target = total_tgt * (tgt - tgt_base).float().cpu().unsqueeze(1)
        if return_convergence_delta:
            result.step_scores["deltas"] = self._deltas(ctx, result, src, tgt, src_base, tgt_base, n_src, n_tgt)
        return result

    @staticmethod
    def _deltas(ctx, result, src, tgt, src_base, tgt_base, n_src: int, n_tgt: int) -> torch.Tensor:
        """Per position: ``sum_i [sum(attr_i) - (f(x) - f(x with token i set to its baseline))]``."""
        f_in = attributed_fn_values(ctx)
        gap = torch.zeros(tuple(ctx.active.shape))
        if result.source is not None:
            gap += result.source.nan_to_num().sum((-1, -2))
        if result.target is not None:
            rows = torch.arange(result.target.shape[2]).view(1, 1, -1) < ctx.positions.view(1, -1, 1)
            gap += (result.target * rows.unsqueeze(-1)).nan_to_num().sum((-1, -2))
        for i in range(n_src):
            moved = src.clone()
            moved[:, i] = src_base[:, i]
            gap -= f_in - attributed_fn_values(ctx, source_embeds=moved)
        for i in range(n_tgt):
            moved = tgt.clone()
            moved[:, i] = tgt_base[:, i]
            gap -= f_in - attributed_fn_values(ctx, target_embeds=moved)
        return gap


class DiscretizedIntegratedGradientsAttribution(GradientAttribution):
    """Discretized integrated gradients (Sanyal and Ren, 2021): gradients along monotonic word-embedding paths.

    Each token's path runs from its baseline (UNK embedding) to its input embedding through monotonized anchors
    chosen in a kNN graph over the vocabulary embeddings (``method="greedy"`` or ``"maxcount"``); all tokens move
    along their paths together, one path point per interpolation step. The score is the path integral of the
    gradient, ``sum_k grad f(path_k) * weight_k`` with trapezoidal weights built from the steps between points, so
    the scores are *not* multiplied by ``input - baseline`` afterwards (inseq's ``multiply_by_inputs=False``).

    Load kwargs: ``n_neighbors=50`` and ``mode="distance"`` (``"connectivity"``) of the kNN graph. The graph is
    cached as ``.npz`` (no pickle) under ``$INSEQ_ARTIFACTS_CACHE/dig_knn`` (default
    ``~/.cache/inseq/artifacts/dig_knn``), keyed by model name, vocabulary size, ``n_neighbors``, ``mode`` and a
    digest of the embedding matrix; it is built with scikit-learn on first use and works offline afterwards.

    Differences from the original implementation (documented approximations): the path has exactly ``n_steps``
    points (``n_steps - 1`` hops, no extra linear up-sampling between anchors); words already on the path are not
    chosen again, and when a word has no unused neighbour left the hop is a straight step toward the baseline.

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "discretized_integrated_gradients", n_neighbors=20)  # doctest: +SKIP
        >>> out = model.attribute("Hello", "Hello world", attribution_args={"method": "maxcount"})  # doctest: +SKIP
    """

    method_name = "discretized_integrated_gradients"
    use_baselines = True

    def __init__(
        self, attribution_model: Any = None, n_neighbors: int = 50, mode: str = "distance", **kwargs: Any
    ) -> None:
        super().__init__(attribution_model, n_neighbors=n_neighbors, mode=mode, **kwargs)
        if not isinstance(n_neighbors, int) or n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {n_neighbors!r}.")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        self.n_neighbors = n_neighbors
        self.mode = mode
        self._graph: Any = None
        self._vocab: np.ndarray | None = None
        self.cache_path: Any = None

    def _ensure_graph(self, ctx: AttributionContext) -> None:
        if self._graph is not None:
            return
        model = ctx.model
        with torch.no_grad():
            n_vocab = model.model.get_input_embeddings().weight.shape[0]
            ids = torch.arange(n_vocab, device=model.device)
            self._vocab = model.embed_ids(ids).float().cpu().numpy()
        self._graph, self.cache_path = load_or_build_knn_graph(
            self._vocab, str(model.model_name), self.n_neighbors, self.mode
        )

    def _paths(
        self, ids: torch.Tensor, base_ids: torch.Tensor, n_points: int, strategy: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n_points, batch, len, hidden)`` paths of every token and their trapezoidal weights."""
        assert self._vocab is not None
        cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        b, length = ids.shape
        hidden = self._vocab.shape[1]
        paths = np.zeros((n_points, b, length, hidden), dtype=np.float32)
        weights = np.zeros_like(paths)
        for r, (row, base_row) in enumerate(zip(ids.tolist(), base_ids.tolist())):
            for c, (word, base) in enumerate(zip(row, base_row)):
                key = (word, base)
                if key not in cache:
                    if word == base:
                        path = np.repeat(self._vocab[word][None].astype(np.float64), n_points, 0)
                    else:
                        path = build_monotonic_path(
                            word, self._vocab, self._vocab[base], self._graph, n_points, strategy
                        )
                    cache[key] = (path.astype(np.float32), path_weights(path).astype(np.float32))
                paths[:, r, c], weights[:, r, c] = cache[key]
        return torch.from_numpy(paths), torch.from_numpy(weights)

    def compute(
        self,
        ctx: AttributionContext,
        *,
        n_steps: int = 50,
        method: str = "greedy",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        max_chunk_size: int | None = None,
    ) -> MethodResult:
        """Integrate the gradients along the monotonic paths of every token.

        Args:
            ctx: The engine context.
            n_steps: Points of each path (gradient evaluations), at least 2.
            method: Anchor search strategy: ``"greedy"`` or ``"maxcount"``.
            internal_batch_size: Rows (path points x examples) of one forward pass (default: a token budget).
            return_convergence_delta: Store ``sum(attributions) - (f(input) - f(baseline))`` as step score
                ``"deltas"``.
            max_chunk_size: Upper bound on the positions of one batched backward pass.
        """
        if method not in STRATEGIES:
            raise ValueError(
                f"method must be one of {STRATEGIES} for discretized integrated gradients, got {method!r}."
            )
        if not isinstance(n_steps, int) or n_steps < 2:
            raise ValueError(f"n_steps must be an integer >= 2 for discretized integrated gradients, got {n_steps!r}.")
        self._ensure_graph(ctx)
        batch = ctx.batch
        src, tgt = ctx.input_embeds()
        src_base, tgt_base = ctx.baseline_embeds()
        device, dtype = tgt.device, tgt.dtype
        src_path = src_w = tgt_path = tgt_w = None
        if src is not None:
            src_path, src_w = self._paths(batch.source_ids.cpu(), batch.source_baseline_ids.cpu(), n_steps, method)
        if ctx.wants_target:
            tgt_path, tgt_w = self._paths(batch.target_ids.cpu(), batch.target_baseline_ids.cpu(), n_steps, method)
        result = MethodResult(source=_alloc(ctx, src), target=_alloc(ctx, tgt) if ctx.wants_target else None)
        total_src = torch.zeros_like(result.source) if result.source is not None else None
        total_tgt = torch.zeros_like(result.target) if result.target is not None else None
        per_pass = _steps_per_pass(ctx, n_steps, internal_batch_size, src is not None)
        n_passes = math.ceil(n_steps / per_pass)
        for start in range(0, n_steps, per_pass):
            end = min(n_steps, start + per_pass)
            n = end - start

            def combine(p0, p1, gs, gt, start=start, end=end, n=n):
                for total, grads, w in ((total_src, gs, src_w), (total_tgt, gt, tgt_w)):
                    if total is None or grads is None or w is None:
                        continue
                    k, rows, length = grads.shape[:3]
                    weighted = grads.unflatten(1, (n, rows // n)).float().cpu() * w[start:end, :, :length].unsqueeze(0)
                    total[:, ctx.grid_columns(p0, p1), :length] += weighted.sum(1).transpose(0, 1)

            s_src = src_path[start:end].flatten(0, 1).to(device, dtype) if src_path is not None else None
            s_tgt = (
                tgt_path[start:end].flatten(0, 1).to(device, dtype) if tgt_path is not None else tgt.repeat(n, 1, 1)
            )
            self._gradients(ctx, s_src, s_tgt, n, combine, max_chunk_size, 1 / n_passes)
        result.source, result.target = total_src, total_tgt
        if return_convergence_delta:
            result.step_scores["deltas"] = IntegratedGradientsAttribution._deltas(ctx, result, src_base, tgt_base)
        return result

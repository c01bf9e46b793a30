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

from typing import Any

import numpy as np
import torch

from ..engine import AttributionContext, attributed_fn_values
from .feature_attribution import MethodResult
from .gradient_attribution import GradientAttribution, completeness_gap, prefix_only
from .ops.monotonic_path import MODES, STRATEGIES, build_monotonic_path, load_or_build_knn_graph, path_weights
from .path_integral import PathIntegral, PathOptions, PathPass, points_per_pass, step_rule


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
            ids = torch.arange(model.vocabulary_embeddings.shape[0], device=model.device)
            self._vocab = model.embed_ids(ids).float().cpu().numpy()
        self._graph, self.cache_path = load_or_build_knn_graph(
            self._vocab, str(model.info.get("model_name")), self.n_neighbors, self.mode
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
        options = PathOptions(n_steps, internal_batch_size, max_chunk_size, min_steps=2)
        if method not in STRATEGIES:
            raise ValueError(
                f"method must be one of {STRATEGIES} for discretized integrated gradients, got {method!r}."
            )
        self._ensure_graph(ctx)
        batch = ctx.batch
        src, tgt = ctx.input_embeds()
        src_base, tgt_base = ctx.baseline_embeds()
        src_path = src_w = tgt_path = tgt_w = None
        if src is not None:
            src_path, src_w = self._paths(batch.source_ids.cpu(), batch.source_baseline_ids.cpu(), n_steps, method)
        if ctx.wants_target:
            tgt_path, tgt_w = self._paths(batch.target_ids.cpu(), batch.target_baseline_ids.cpu(), n_steps, method)
        kernel = PathIntegral(ctx, options)
        passes = _step_ranges(n_steps, points_per_pass(ctx, options, src.shape[1] if src is not None else 0))
        for start, end in passes:
            n = end - start
            s_src = src_path[start:end].flatten(0, 1).to(tgt.device, tgt.dtype) if src_path is not None else None
            s_tgt = tgt_path[start:end].flatten(0, 1).to(tgt.device, tgt.dtype) if tgt_path is not None else None
            w_src = src_w[start:end].to(tgt.device) if src_w is not None else None
            w_tgt = tgt_w[start:end].to(tgt.device) if tgt_w is not None else None
            s_tgt = s_tgt if s_tgt is not None else tgt.repeat(n, 1, 1)
            kernel.run(PathPass(n, s_tgt, s_src, w_tgt, w_src, None, 1 / len(passes)))
        source, target = kernel.result()
        result = MethodResult(source=source, target=target)
        if return_convergence_delta:
            result.step_scores["deltas"] = completeness_gap(ctx, result, src_base, tgt_base)
        return result

"""Discretized integrated gradients (Sanyal and Ren, 2021) on the path-integral kernel.

The gradient is integrated along monotonic paths that hop through (projections of) real word embeddings, found in a
kNN graph over the vocabulary (see :mod:`inseq.attr.feat.path.monotonic_path`). All tokens move together along
their own paths, like integrated gradients, so the engine's batched passes are reused as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...engine import AttributionContext
from ..base import MethodResult
from ..gradient.kernel import PathIntegral, PathOptions, PathPass, points_per_pass
from ..gradient.methods import GradientAttribution
from .integrated_gradients import completeness_gap
from .monotonic_path import MODES, STRATEGIES, build_monotonic_path, load_or_build_knn_graph, path_weights
from .sequential import _step_ranges


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
            ids = torch.arange(model.vocabulary_embeddings.shape[0], device=ctx.batch.target_ids.device)
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

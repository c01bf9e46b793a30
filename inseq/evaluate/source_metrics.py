"""Faithfulness metrics of source attributions (which sources of a context a response used), with random controls.

* ``lds`` (linear datamodeling score, ContextCite's): the Spearman correlation, over held-out random ablations,
  between what the scores predict (``mask @ scores``) and the response's actual logit-probability. Higher is better.
* ``topk_drop``: how much the response's log-probability drops when the ``k`` best-scored sources are removed
  (``k = 1`` and ``3``). Higher is better.

Each is computed for the method's scores and for random scores (or random sources), averaged over seeds: the
``random`` column. The metrics see the model only through ``lookup(masks)``, which returns the response token
log-probabilities under each keep-mask (:mod:`inseq.sources` runs it on the engine's scorer).

Example:
    >>> lookup = lambda masks: np.log(0.1 + 0.8 * masks[:, :1].astype(float))  # only source 0 matters
    >>> result = get_source_metric("topk_drop").compute(np.array([2.0, 0.0, 0.1]), None, lookup, SourceMetricOptions())
    >>> {name: round(value, 3) for name, (value, control) in result.items()}  # removing source 0: log(0.9 / 0.1)
    {'topk_drop@1': 2.197, 'topk_drop@3': 2.197}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..utils.registry import Registry

#: ``lookup(masks)``: ``(n_masks, n_response_tokens)`` response token log-probabilities under each keep-mask.
MaskLookup = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SourceMetricOptions:
    """Options of the source metrics.

    Attributes:
        n_test: Held-out random ablations of ``lds``.
        keep_prob: Probability that a held-out ablation keeps each source.
        seed: Seed of the held-out ablations and of the random controls.
        random_seeds: Seeds of the random controls (0: no control, ``random`` is NaN).
        ks: Numbers of sources removed by ``topk_drop``.
    """

    n_test: int = 32
    keep_prob: float = 0.5
    seed: int = 10_000
    random_seeds: int = 3
    ks: tuple[int, ...] = (1, 3)


class SourceMetric:
    """A faithfulness metric of source scores. Subclasses set ``id`` and implement :meth:`compute`."""

    id: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True

    def compute(
        self, scores: np.ndarray, bias: float | None, lookup: MaskLookup, opts: SourceMetricOptions
    ) -> dict[str, tuple[float, float]]:
        """``{record name: (value, random control)}`` for the scores."""
        raise NotImplementedError


SOURCE_METRICS: Registry[SourceMetric] = Registry("source faithfulness metric")


def _register(cls: type[SourceMetric]) -> type[SourceMetric]:
    SOURCE_METRICS.register(cls.id, cls())
    return cls


def _logit_probability(logprobs: np.ndarray) -> np.ndarray:
    logp = logprobs.astype(np.float64).sum(-1)
    return logp - np.log(-np.expm1(np.minimum(logp, -1e-12)))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from .metrics import spearman

    return float(spearman(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)))


@_register
class LinearDatamodelingScore(SourceMetric):
    """LDS (Cohen-Wang et al., 2024): Spearman correlation, over ``n_test`` held-out random ablations, between the
    logit-probability the scores predict (``mask @ scores``) and the one the model gives; random control: the same
    correlation for random scores."""

    id = "lds"

    def compute(self, scores, bias, lookup, opts):
        n = len(scores)
        masks = np.zeros((opts.n_test, n), dtype=bool)
        for i in range(opts.n_test):
            rng = np.random.RandomState(opts.seed + i)
            masks[i] = rng.choice([False, True], size=n, p=[1 - opts.keep_prob, opts.keep_prob])
        actual = _logit_probability(lookup(masks))
        value = _spearman(masks @ scores, actual)
        controls = [
            _spearman(masks @ np.random.RandomState(opts.seed + 1000 + s).standard_normal(n), actual)
            for s in range(opts.random_seeds)
        ]
        return {"lds": (value, _mean(controls))}


@_register
class TopKDrop(SourceMetric):
    """Top-k drop: the drop of the response's log-probability when the ``k`` best-scored sources are removed
    (``k`` in ``ks``); random control: the drop when ``k`` random sources are removed."""

    id = "topk_drop"

    def compute(self, scores, bias, lookup, opts):
        n = len(scores)
        order = np.argsort(-scores, kind="stable")
        rows = [np.ones(n, dtype=bool)]
        plan = []
        for k in opts.ks:
            k = min(k, n)
            top = np.ones(n, dtype=bool)
            top[order[:k]] = False
            randoms = []
            for s in range(opts.random_seeds):
                mask = np.ones(n, dtype=bool)
                mask[np.random.RandomState(opts.seed + 2000 + s).permutation(n)[:k]] = False
                randoms.append(mask)
            plan.append((k, len(rows), len(randoms)))
            rows += [top, *randoms]
        logp = lookup(np.stack(rows)).astype(np.float64).sum(-1)
        out = {}
        for k, first, n_random in plan:
            drops = logp[0] - logp[first : first + 1 + n_random]
            out[f"topk_drop@{k}"] = (float(drops[0]), _mean(drops[1:].tolist()))
        return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def list_source_metrics() -> list[str]:
    """Identifiers of the source attribution metrics (``SourceAttributionOutput.evaluate``).

    Example:
        >>> list_source_metrics()
        ['lds', 'topk_drop']
    """
    return SOURCE_METRICS.keys()


def get_source_metric(metric_id: str) -> SourceMetric:
    """The source metric ``metric_id`` (ValueError listing the valid ids otherwise)."""
    if metric_id not in SOURCE_METRICS:
        raise ValueError(
            f"Unknown source attribution metric {metric_id!r}. Available: {', '.join(list_source_metrics())}."
        )
    return SOURCE_METRICS.get(metric_id)

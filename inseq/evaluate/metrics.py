"""Faithfulness metrics: what each one perturbs and how it turns the model's probabilities into one number per step.

Every metric sees one generation step at a time (a :class:`StepView`: the attributed position and the scores of the
input tokens it may perturb) and a lookup ``f(perturbation)`` returning the attributed function (by default the
probability of the generated token) at that step under a perturbation of the inputs. Metrics are run twice by the
evaluator: a dry run that only records the perturbations they ask for (all of them are then scored in batched
forwards), then the real run. A metric must therefore ask for the same perturbations whatever values it gets back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..utils.registry import Registry
from .perturbations import Feature, Perturbation, content_seed

#: Removal fractions of ERASER's AOPC (DeYoung et al., 2020): the top 1%, 5%, 10%, 20% and 50% of the tokens.
DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)

Lookup = Callable[[Perturbation], float]


@dataclass
class StepView:
    """One attributed generation step of one sequence.

    Attributes:
        seq: Index of the sequence in the evaluated output.
        step: Index of the step among the attributed ones (column of the attribution tensors).
        position: Target position of the generated token.
        features: The input tokens that may be perturbed (special tokens excluded).
        scores: ``(len(features),)`` attribution scores of those tokens.
        content: Token ids of the sequence, used to derive seeds that do not depend on batch composition.
    """

    seq: int
    step: int
    position: int
    features: list[Feature]
    scores: torch.Tensor
    content: tuple[int, ...] = ()

    @property
    def n(self) -> int:
        """Number of perturbable tokens."""
        return len(self.features)

    def ranking(self, scores: torch.Tensor) -> list[Feature]:
        """Features from the highest to the lowest score (ties broken by position), cached per scores tensor."""
        cache = self.__dict__.setdefault("_rankings", {})
        key = id(scores)
        if key not in cache or cache[key][0] is not scores:
            values = scores.tolist()
            order = sorted(range(len(values)), key=lambda i: -values[i])
            cache[key] = (scores, [self.features[i] for i in order])
        return cache[key][1]

    def top(self, scores: torch.Tensor, k: int) -> frozenset[Feature]:
        """The ``k`` features with the highest ``scores`` (ties broken by position)."""
        return frozenset(self.ranking(scores)[:k])

    def removed(self, features: frozenset[Feature] = frozenset()) -> Perturbation:
        """Perturbation removing ``features``."""
        return Perturbation(self.seq, frozenset(features))

    def seed(self, *parts: Any) -> int:
        """A seed from the sequence content, the position and ``parts``."""
        if "_content_key" not in self.__dict__:
            self.__dict__["_content_key"] = content_seed(0, self.content, self.position)
        return content_seed(self.__dict__["_content_key"], *parts)


@dataclass
class MetricOptions:
    """Options shared by the metrics (see :func:`inseq.evaluate.evaluate`)."""

    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    curve_steps: int = 10
    soft_samples: int = 4


class FaithfulnessMetric:
    """A faithfulness metric computed per generation step. Subclasses set ``id`` and implement :meth:`compute`.

    ``higher_is_better`` tells in which direction a faithful attribution moves the metric compared with the random
    control.
    """

    id: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    needs_reattribution: ClassVar[bool] = False

    def compute(self, view: StepView, scores: torch.Tensor, f: Lookup, opts: MetricOptions) -> float:
        """The metric at one step for ``scores`` (the method's, or random ones for the control)."""
        raise NotImplementedError


METRICS: Registry[FaithfulnessMetric] = Registry("faithfulness metric")


def _register(cls: type[FaithfulnessMetric]) -> type[FaithfulnessMetric]:
    METRICS.register(cls.id, cls())
    return cls


def _ks(n: int, fractions: tuple[float, ...]) -> list[int]:
    return [min(n, max(1, math.ceil(q * n - 1e-9))) for q in fractions]


def _curve_ks(n: int, steps: int) -> list[int]:
    if n <= steps:
        return list(range(n + 1))
    return sorted({round(i * n / steps) for i in range(steps + 1)})


def _area(ks: list[int], values: list[float], n: int) -> float:
    """Trapezoidal area under ``values`` over the removed fraction ``k / n`` in ``[0, 1]``."""
    xs = [k / n for k in ks]
    return sum((xs[i + 1] - xs[i]) * (values[i] + values[i + 1]) / 2 for i in range(len(xs) - 1))


@_register
class Comprehensiveness(FaithfulnessMetric):
    """Comprehensiveness (ERASER, DeYoung et al. 2020), as AOPC: the mean drop of the attributed function (by
    default the probability of the generated token) when the top-k% most important input tokens are removed, over
    the removal fractions ``fractions`` (default 1, 5, 10, 20, 50%; at least one token). Higher is better.

    Removal replaces the tokens with the baseline token (``removal="baseline"``, the UNK token also used by the
    attribution baselines) or deletes them (``removal="delete"``). Special tokens are never removed.
    """

    id = "comprehensiveness"

    def compute(self, view: StepView, scores: torch.Tensor, f: Lookup, opts: MetricOptions) -> float:
        base = f(view.removed())
        drops = [base - f(view.removed(view.top(scores, k))) for k in _ks(view.n, opts.fractions)]
        return sum(drops) / len(drops)


@_register
class Sufficiency(FaithfulnessMetric):
    """Sufficiency (ERASER, DeYoung et al. 2020), as AOPC: the mean drop of the attributed function when *only* the
    top-k% most important tokens are kept (all other perturbable tokens removed), over the removal fractions
    ``fractions``. Lower is better (the important tokens alone suffice).
    """

    id = "sufficiency"
    higher_is_better = False

    def compute(self, view: StepView, scores: torch.Tensor, f: Lookup, opts: MetricOptions) -> float:
        base, everything = f(view.removed()), frozenset(view.features)
        drops = [base - f(view.removed(everything - view.top(scores, k))) for k in _ks(view.n, opts.fractions)]
        return sum(drops) / len(drops)


def _normalised(scores: torch.Tensor) -> torch.Tensor:
    lo, hi = scores.min(), scores.max()
    if float(hi - lo) <= 0:
        return torch.full_like(scores, 0.5)
    return (scores - lo) / (hi - lo)


def _soft_drop(view: StepView, keep: torch.Tensor, f: Lookup, samples: int, tag: str) -> float:
    base = f(view.removed())
    soft = tuple((feat, float(p)) for feat, p in zip(view.features, keep.tolist()))
    key = tuple(round(p, 6) for _, p in soft)
    values = [f(Perturbation(view.seq, soft=soft, sample=view.seed(tag, key, s))) for s in range(samples)]
    return base - sum(values) / len(values)


@_register
class SoftComprehensiveness(FaithfulnessMetric):
    """Soft comprehensiveness (Zhao and Aletras 2023, as used by ReAGent): the drop of the attributed function when
    each embedding element of token ``i`` is kept with probability ``1 - a_i`` (``a``: scores min-max normalised to
    [0, 1]), averaged over ``soft_samples`` Bernoulli masks. Unlike hard removal it uses the score magnitudes, not
    only the ranking. Higher is better.
    """

    id = "soft_comprehensiveness"

    def compute(self, view: StepView, scores: torch.Tensor, f: Lookup, opts: MetricOptions) -> float:
        return _soft_drop(view, 1 - _normalised(scores), f, opts.soft_samples, self.id)


@_register
class SoftSufficiency(FaithfulnessMetric):
    """Soft sufficiency (Zhao and Aletras 2023): the drop of the attributed function when each embedding element of
    token ``i`` is kept with probability ``a_i`` (scores min-max normalised to [0, 1]), averaged over
    ``soft_samples`` masks. Lower is better.
    """

    id = "soft_sufficiency"
    higher_is_better = False

    def compute(self, view: StepView, scores: torch.Tensor, f: Lookup, opts: MetricOptions) -> float:
        return _soft_drop(view, _normalised(scores), f, opts.soft_samples, self.id)


@_register
class DeletionAUC(FaithfulnessMetric):
    """Deletion curve area: the attributed function (probability of the generated token) as the most important
    tokens are removed first, integrated over the removed fraction in [0, 1] (``curve_steps + 1`` points, every
    token count on short inputs). Lower is better (the probability falls fast).
    """

    id = "deletion_auc"
    higher_is_better = False

    def compute(self, view: StepView, scores: torch.Tensor, f: Lookup, opts: MetricOptions) -> float:
        ks = _curve_ks(view.n, opts.curve_steps)
        return _area(ks, [f(view.removed(view.top(scores, k))) for k in ks], view.n)


@_register
class InsertionAUC(FaithfulnessMetric):
    """Insertion curve area: the attributed function as the most important tokens are put back first into inputs
    where every perturbable token is removed, integrated over the inserted fraction in [0, 1]. Higher is better.
    """

    id = "insertion_auc"

    def compute(self, view: StepView, scores: torch.Tensor, f: Lookup, opts: MetricOptions) -> float:
        ks = _curve_ks(view.n, opts.curve_steps)
        everything = frozenset(view.features)
        return _area(ks, [f(view.removed(everything - view.top(scores, k))) for k in ks], view.n)


def spearman(x: torch.Tensor, y: torch.Tensor, both_constant: float = float("nan")) -> float:
    """Spearman rank correlation (average ranks for ties); ``both_constant`` when neither varies, 0 when one does.

    Example:
        >>> import torch
        >>> spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 30.0, 20.0]))
        0.5
    """
    rx, ry = _ranks(x.double()), _ranks(y.double())
    dx, dy = rx - rx.mean(), ry - ry.mean()
    nx, ny = float(dx.norm()), float(dy.norm())
    if nx == 0 and ny == 0:
        return both_constant
    if nx == 0 or ny == 0:
        return 0.0
    return round(float((dx * dy).sum()) / (nx * ny), 12)


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """0-based ranks, ties sharing their average rank."""
    _, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    starts = counts.cumsum(0) - counts
    return (starts + (counts - 1) / 2).to(x.dtype)[inverse]


@_register
class LooCorrelation(FaithfulnessMetric):
    """Leave-one-out correlation: Spearman rank correlation between the scores and the drop of the attributed
    function when each token alone is removed. One forward per removed token gives the drop at every generation
    step. Higher is better (1: the scores rank tokens exactly as their leave-one-out effect).
    """

    id = "loo_correlation"

    def compute(self, view: StepView, scores: torch.Tensor, f: Lookup, opts: MetricOptions) -> float:
        base = f(view.removed())
        effects = torch.tensor([base - f(view.removed(frozenset([feat]))) for feat in view.features])
        return spearman(scores, effects) if view.n > 1 else float("nan")


@_register
class Randomization(FaithfulnessMetric):
    """Model randomization sanity check (Adebayo et al. 2018): Spearman rank correlation between the scores and the
    scores the same method gives once the model's layers are re-initialised, cascading from the top layer down
    (one value per cascade stage, averaged; embeddings are kept). A method that explains the model must change when
    the model does: lower is better. Two constant attributions count as unchanged (correlation 1). The random control
    is a seeded random ranking, which does not depend on the weights and so stays the same (1): a method beats it by
    changing at all, and a value near 0 means the scores share nothing with those of the trained model.
    """

    id = "randomization"
    higher_is_better = False
    needs_reattribution = True

    def compute(self, view: StepView, scores: torch.Tensor, f: Lookup, opts: MetricOptions) -> float:
        raise RuntimeError("randomization is computed by inseq.evaluate.randomization, not per perturbation.")


def list_faithfulness_metrics(level: str | None = None) -> list[str]:
    """List the identifiers of the faithfulness metrics.

    Args:
        level: ``"token"``: the metrics of token attributions (:func:`inseq.evaluate.evaluate`); ``"source"``: those
            of source attributions (``SourceAttributionOutput.evaluate``); None: both.

    Example:
        >>> from inseq.evaluate import list_faithfulness_metrics
        >>> "comprehensiveness" in list_faithfulness_metrics(), "lds" in list_faithfulness_metrics("source")
        (True, True)
    """
    from .source_metrics import list_source_metrics

    if level not in (None, "token", "source"):
        raise ValueError(f"level={level!r} is not valid; use 'token', 'source' or None.")
    token = METRICS.keys() if level in (None, "token") else []
    return token + (list_source_metrics() if level in (None, "source") else [])


def get_metric(metric_id: str) -> FaithfulnessMetric:
    """The registered metric ``metric_id`` (ValueError listing the valid ids otherwise)."""
    if metric_id not in METRICS:
        from .source_metrics import list_source_metrics

        if metric_id in list_source_metrics():
            raise ValueError(
                f"{metric_id!r} is a metric of source attributions: call it on the output of attribute_sources() "
                "(out.evaluate([...])), not on token attributions."
            )
        raise ValueError(
            f"Unknown faithfulness metric {metric_id!r}. Available metrics: "
            f"{', '.join(list_faithfulness_metrics('token'))}."
        )
    return METRICS.get(metric_id)


def describe_metric(metric_id: str) -> str:
    """The description of a metric (what ``inseq.explain(metric_id)`` prints).

    Example:
        >>> from inseq.evaluate import describe_metric
        >>> describe_metric("comprehensiveness").startswith("Comprehensiveness")
        True
    """
    import inspect

    from .source_metrics import SOURCE_METRICS

    metric = SOURCE_METRICS.get(metric_id) if metric_id in SOURCE_METRICS else get_metric(metric_id)
    return inspect.getdoc(metric) or metric_id

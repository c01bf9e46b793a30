"""inseq 0.7's ReAGent building blocks (``inseq.attr.feat.ops.reagent_core``), over this library's ReAGent.

In inseq 0.7, ReAGent was assembled from a token sampler, a token replacer, a stopping condition, an importance-score
evaluator and a rationalizer. Here :class:`~inseq.attr.feat.perturbation.reagent.ReagentAttribution` runs the whole
probing loop; these classes keep inseq 0.7's names and options: the replacer replaces tokens (usable on its own), and
the other parts carry their options up to :class:`AggregateRationalizer`, which attributes with ReAGent configured
from them.

Example:
    >>> sampler = UniformTokenSampler(vocab_size=10, special_ids=[0])
    >>> replaced, mask = UniformTokenReplacer(sampler, ratio=0.5)(torch.full((1, 8), 5))
    >>> bool((replaced[~mask] == 5).all()), bool((replaced != 0).all())
    (True, True)
    >>> stop = TopKStoppingConditionEvaluator(top_k=3, keep_top_n=5)
    >>> rationalizer = AggregateRationalizer(DeltaProbImportanceScoreEvaluator(UniformTokenReplacer(sampler), stop))
    >>> rationalizer.reagent_options()["stopping_condition_top_k"]
    3
"""

from __future__ import annotations

from typing import Any

import torch

from .token_sampler import POSTokenSampler, UniformTokenSampler

__all__ = [
    "AggregateRationalizer",
    "DeltaProbImportanceScoreEvaluator",
    "POSTokenSampler",
    "TopKStoppingConditionEvaluator",
    "UniformTokenReplacer",
]


class UniformTokenReplacer:
    """Replaces each token with probability ``ratio`` by a token drawn from ``token_sampler``.

    Args:
        token_sampler: A :class:`UniformTokenSampler` or :class:`POSTokenSampler`.
        ratio: Probability that a token is replaced, in ``(0, 1)``.
    """

    def __init__(self, token_sampler: UniformTokenSampler | POSTokenSampler, ratio: float = 0.3) -> None:
        if not 0 < ratio < 1:
            raise ValueError(f"ratio must be in (0, 1), got {ratio!r}.")
        self.token_sampler = token_sampler
        self.ratio = ratio

    @property
    def sampler_name(self) -> str:
        """``"pos"`` for a part-of-speech sampler, else ``"uniform"`` (ReAGent's ``token_sampler`` option)."""
        return "pos" if isinstance(self.token_sampler, POSTokenSampler) else "uniform"

    def __call__(
        self, input_ids: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(replaced_ids, mask)``: ``mask`` marks the replaced positions."""
        generator = generator or torch.Generator().manual_seed(0)
        mask = torch.rand(tuple(input_ids.shape), generator=generator) < self.ratio
        draws = self.token_sampler.sample(input_ids, generator)
        return torch.where(mask, draws, input_ids), mask


class TopKStoppingConditionEvaluator:
    """ReAGent's stopping condition: the target stays among the ``top_k`` predictions when only the ``keep_top_n``
    (or ``ceil(keep_ratio * n)``) most important tokens are kept (``invert_keep``: replaced).
    """

    def __init__(
        self, top_k: int = 3, keep_top_n: int = 5, keep_ratio: float | None = None, invert_keep: bool = False
    ) -> None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
        self.top_k, self.keep_top_n, self.keep_ratio, self.invert_keep = top_k, keep_top_n, keep_ratio, invert_keep

    def reagent_options(self) -> dict[str, Any]:
        """The options of ReAGent this condition sets."""
        return {
            "stopping_condition_top_k": self.top_k,
            "keep_top_n": self.keep_top_n,
            "keep_ratio": self.keep_ratio,
            "invert_keep": self.invert_keep,
        }


class DeltaProbImportanceScoreEvaluator:
    """ReAGent's importance estimate: the change of the target's probability when tokens are replaced, probed until
    the stopping condition holds or ``max_steps`` steps.
    """

    def __init__(
        self,
        token_replacer: UniformTokenReplacer,
        stopping_condition_evaluator: TopKStoppingConditionEvaluator,
        max_steps: int = 3000,
    ) -> None:
        self.token_replacer = token_replacer
        self.stopping_condition_evaluator = stopping_condition_evaluator
        self.max_steps = max_steps

    def reagent_options(self) -> dict[str, Any]:
        """The options of ReAGent this evaluator sets (its replacer's and stopping condition's included)."""
        return {
            "replacing_ratio": self.token_replacer.ratio,
            "token_sampler": self.token_replacer.sampler_name,
            "max_probe_steps": self.max_steps,
            **self.stopping_condition_evaluator.reagent_options(),
        }


class AggregateRationalizer:
    """Attributes with ReAGent configured from its parts: ``batch_size`` probes run together (``num_probes``)."""

    def __init__(self, importance_score_evaluator: DeltaProbImportanceScoreEvaluator, batch_size: int = 16) -> None:
        self.importance_score_evaluator = importance_score_evaluator
        self.batch_size = batch_size

    def reagent_options(self) -> dict[str, Any]:
        """All options of the configured ReAGent."""
        return {"num_probes": self.batch_size, **self.importance_score_evaluator.reagent_options()}

    def __call__(self, attribution_model: Any, input_texts: Any, generated_texts: Any = None, **kwargs: Any) -> Any:
        """``attribution_model.attribute(...)`` with this ReAGent (the model's default method is left unchanged)."""
        from .reagent import ReagentAttribution

        previous = attribution_model.attribution_method
        attribution_model.attribution_method = ReagentAttribution(attribution_model, **self.reagent_options())
        try:
            return attribution_model.attribute(input_texts, generated_texts, **kwargs)
        finally:
            attribution_model.attribution_method = previous

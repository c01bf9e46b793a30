"""How source scores are computed: ablations with a surrogate, leave-one-out, attention, or any token-level method.

* ``ablation`` (ContextCite): ``n_ablations`` random keep-masks, the response's logit-probability under each, a
  LASSO surrogate (:mod:`.surrogate`); a source's score is its weight.
* ``leave_one_out``: ``n_sources + 1`` forwards; a source's score is the drop of the logit-probability when it
  alone is removed.
* ``attention``: one pass of the ``attention`` method for the response rows only; a source's score is the attention
  from the response tokens to its tokens, averaged over layers and heads, summed over its tokens and the response.
* any token-level method id (``saliency``, ``attnlrp``, ...): the method's scores (summed over the embedding
  dimensions, averaged over layers and heads), summed over each source's tokens and over the response tokens.

Example:
    >>> leave_one_out_masks(3).sum(1).tolist()
    [3, 2, 2, 2]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.attribution import GranularFeatureAttributionSequenceOutput
from ..utils.errors import InvalidArgumentError
from .scoring import keep_masks, logit_probability
from .surrogate import fit_surrogate

if TYPE_CHECKING:
    from .output import SourceAttributionOutput
    from .scoring import SourceScorer

#: Methods of their own; any token-level attribution method id is accepted too.
SOURCE_METHODS = ("ablation", "leave_one_out", "attention")


def ablation_scores(
    scorer: SourceScorer, n_sources: int, n_ablations: int, keep_prob: float, seed: int, progress: Any = None
) -> dict[str, Any]:
    """ContextCite's ablation study: masks, response token log-probabilities, surrogate weights and bias."""
    masks = keep_masks(n_ablations, n_sources, keep_prob, seed)
    logprobs = scorer.token_logprobs(masks, progress)
    weights, bias = fit_surrogate(masks, logit_probability(logprobs), logprobs.shape[1])
    return {"scores": weights, "bias": bias, "masks": masks, "token_logprobs": logprobs}


def leave_one_out_masks(n_sources: int) -> np.ndarray:
    """The full context, then each source removed alone: ``(n_sources + 1, n_sources)``.

    Example:
        >>> leave_one_out_masks(2).tolist()
        [[True, True], [False, True], [True, False]]
    """
    return np.vstack([np.ones((1, n_sources), dtype=bool), ~np.eye(n_sources, dtype=bool)])


def leave_one_out_scores(scorer: SourceScorer, n_sources: int, progress: Any = None) -> dict[str, Any]:
    """Exact leave-one-out: the logit-probability drop when each source alone is removed."""
    masks = leave_one_out_masks(n_sources)
    logprobs = scorer.token_logprobs(masks, progress)
    target = logit_probability(logprobs)
    return {"scores": target[0] - target[1:], "masks": masks, "token_logprobs": logprobs}


def token_method_scores(
    model: Any, scorer: SourceScorer, token_sources: np.ndarray, method: str, method_args: dict[str, Any]
) -> dict[str, Any]:
    """Scores of a token-level method (``attention`` included) summed over each source's tokens.

    Args:
        model: The attribution model.
        scorer: The source scorer (its example gives the prompt and the response).
        token_sources: ``(n_prompt_tokens, n_sources)`` share of each prompt token in each source.
        method: A token-level attribution method id.
        method_args: Its keyword arguments (routed as ``attribute()`` routes them).
    """
    example = scorer.example
    out = model.attribute(
        [example.input_ids],
        [example.target_ids],
        method=method,
        attr_pos_start=example.prompt_length,
        show_progress=False,
        **method_args,
    )
    seq = out[0]
    scores = seq.source_attributions if seq.source_attributions is not None else seq.target_attributions
    if scores is None:
        raise InvalidArgumentError(f"method={method!r} gives no scores of the input tokens: it cannot score sources.")
    scores = scores.float()
    if isinstance(seq, GranularFeatureAttributionSequenceOutput):
        scores = scores.sum(-1)  # relevance of a token: the sum over its embedding dimensions
    while scores.ndim > 2:
        scores = scores.mean(-1)  # layers and heads
    per_token = scores[: token_sources.shape[0]].nan_to_num().numpy().T  # (n_response, n_prompt)
    token_scores = per_token.astype(np.float64) @ token_sources
    return {"scores": token_scores.sum(0), "token_scores": token_scores, "n_forwards": out.info.get("n_forwards")}


def rescore(out: SourceAttributionOutput, tokens: list[int]) -> np.ndarray:
    """Source scores for the response tokens ``tokens`` from the cached per-token values (no new forward)."""
    if out.token_scores is not None:
        return out.token_scores[tokens].sum(0)
    if out.masks is None or out.token_logprobs is None:
        raise InvalidArgumentError(f"The output of method {out.method!r} keeps no per-token values to rescore from.")
    target = logit_probability(out.token_logprobs[:, tokens])
    if out.method == "leave_one_out":
        return target[0] - target[1:]
    weights, _ = fit_surrogate(out.masks, target, len(tokens))
    return weights


def token_source_shares(token_spans: list[tuple[int, int]], source_spans: list[tuple[int, int]]) -> np.ndarray:
    """``(n_tokens, n_sources)``: 1 where a token belongs to a source (the source its characters overlap most).

    Example:
        >>> token_source_shares([(0, 4), (4, 9), (9, 10)], [(0, 4), (5, 9)]).tolist()
        [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """
    shares = np.zeros((len(token_spans), len(source_spans)))
    for t, (a, b) in enumerate(token_spans):
        overlaps = [max(0, min(b, e) - max(a, s)) for s, e in source_spans]
        if overlaps and max(overlaps) > 0:
            shares[t, int(np.argmax(overlaps))] = 1.0
    return shares

"""The response's token log-probabilities under ablated prompts, through the engine's one forward path.

Every ablated prompt becomes a row of :meth:`inseq.attr.scorer.Scorer.score_rows`, which runs the rows on the plan
of their shared prefixes (:mod:`inseq.attr.prefix_tree`): every prefix that two rows or more share (the template,
the chat header and the sources they keep first) runs once and its key-value cache serves the rows below it, which run
only their tokens after it, batched by width within the memory budgets; logits are computed only at the response
positions, with tanh-GELU activations on torch's fused kernel (:func:`inseq.models.fused.fused_activations`). Rows are
built by the model's adapter (:meth:`with_input`), so decoder-only and encoder-decoder models are handled alike.

Example:
    >>> masks = keep_masks(3, 4, 0.5, seed=0)
    >>> masks.shape, masks.dtype
    ((3, 4), dtype('bool'))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..attr.scorer import RowBudget, Scorer, ScoreRow
from ..attr.step_functions import probability_fn
from ..models.fused import fused_activations
from ..utils.budgets import get_budgets

if TYPE_CHECKING:
    from ..data.batch import Example
    from .prompt import PromptBuilder


def keep_masks(n_ablations: int, n_sources: int, keep_prob: float, seed: int) -> np.ndarray:
    """``(n_ablations, n_sources)`` random masks, True where a source is kept: mask ``i`` is drawn by
    ``numpy.random.RandomState(seed + i).choice([False, True], size=n_sources, p=[1 - keep_prob, keep_prob])``, as
    ContextCite draws its ablations (so the same seeds give the same masks).

    Example:
        >>> keep_masks(2, 3, 0.5, seed=0).tolist()
        [[True, True, True], [False, True, False]]
    """
    masks = np.zeros((n_ablations, n_sources), dtype=bool)
    for i in range(n_ablations):
        masks[i] = np.random.RandomState(seed + i).choice([False, True], size=n_sources, p=[1 - keep_prob, keep_prob])
    return masks


def logit_probability(token_logprobs: np.ndarray) -> np.ndarray:
    """The response's logit-probability ``log p - log(1 - p)`` per row, ``p`` the probability of all its tokens.

    Example:
        >>> round(float(logit_probability(np.log([[0.5, 0.5]]))[0]), 4)  # p = 0.25: log(0.25 / 0.75)
        -1.0986
    """
    logp = token_logprobs.astype(np.float64).sum(-1)
    return logp - np.log(-np.expm1(np.minimum(logp, -1e-12)))


@dataclass
class SourceScorer:
    """Scores the response after prompts keeping any subset of the sources.

    Attributes:
        model: The attribution model.
        builder: Builds the prompt text with some sources kept.
        example: The full prompt and its response (built by the model's adapter).
        add_special_tokens: Whether prompt texts are tokenized with the tokenizer's special tokens (plain text) or
            as they are (a chat-formatted prompt already holds them).
        batch_size: Rows of one forward (None: the ``evaluation_tokens`` / ``evaluation_logits`` budgets decide).
        n_forwards: Forwards run so far.
    """

    model: Any
    builder: PromptBuilder
    example: Example
    add_special_tokens: bool
    batch_size: int | None = None
    n_forwards: int = 0
    _cache: dict[bytes, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def response_ids(self) -> list[int]:
        """The response's token ids."""
        return self.example.target_ids[self.example.prompt_length :]

    def prompt_ids(self, keep: np.ndarray | None = None) -> list[int]:
        """Token ids of the prompt keeping the sources where ``keep`` is True."""
        text = self.builder.text(None if keep is None else keep.tolist())
        return self.model.encode([text], add_special_tokens=self.add_special_tokens).input_ids[0].tolist()

    def token_logprobs(self, masks: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """``(len(masks), n_response_tokens)`` log-probabilities of the response tokens after each ablated prompt."""
        keys = [m.tobytes() for m in masks]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if todo:
            by_key = {m.tobytes(): m for m in masks}
            examples = [self.model.with_input(self.example, self.prompt_ids(by_key[k])) for k in todo]
            rows = [_row(ex) for ex in examples]
            scorer = Scorer(self.model)
            with fused_activations(self.model.torch_module):
                values = scorer.score_rows(
                    rows, probability_fn, {"logprob": True}, self._budget(rows), share_prefixes=True, progress=progress
                )
            self.n_forwards += scorer.n_forwards
            for key, value in zip(todo, values):
                self._cache[key] = value.numpy()
        return np.stack([self._cache[k] for k in keys]).astype(np.float32)

    def _budget(self, rows: list[ScoreRow]) -> RowBudget:
        if self.batch_size is None:
            budgets = get_budgets()
            return RowBudget(budgets.evaluation_tokens, budgets.evaluation_logits)
        width = max(r.width for r in rows)
        return RowBudget(self.batch_size * width, self.batch_size * max(len(r.reads) for r in rows))


def _row(example: Example) -> ScoreRow:
    """The scorer row of an example: the logits at each response position are read for the next token."""
    ids = example.target_ids
    reads = [(j - 1, ids[j]) for j in range(example.prompt_length, len(ids))]
    return ScoreRow(ids, reads, example.source_ids)

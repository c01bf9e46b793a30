"""Small shared types used across the package (kept at this path: saved files name ``inseq.utils.typing``).

Besides :class:`TokenWithId`, the module holds inseq 0.7's type names: text inputs (``TextInput``,
``OneOrMoreTokenSequences``...), tensor aliases (``IdsTensor``, ``MultiLayerMultiUnitScoreTensor``..., all plain
``torch.Tensor``: the shapes are documented, not checked) and :class:`InseqAttribution`.

Example:
    >>> from inseq.utils.typing import IdsTensor, TextInput
    >>> IdsTensor is torch.Tensor
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class TokenWithId:
    """A token string together with its vocabulary id.

    The id ``-1`` marks tokens that do not exist in the vocabulary, such as merged spans (``"Hello world"``) or
    contrastive renderings (``"a → b"``).

    Example:
        >>> tok = TokenWithId("Ġworld", 995)
        >>> tok == "Ġworld", tok == 995, str(tok)
        (True, True, 'Ġworld')
    """

    token: str
    id: int

    def __str__(self) -> str:
        return self.token

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.token == other
        if isinstance(other, int):
            return self.id == other
        if isinstance(other, TokenWithId):
            return self.token == other.token and self.id == other.id
        return False

    def __hash__(self) -> int:
        return hash((self.token, self.id))


TextInput = str | Sequence[str]
TextSequences = Sequence[str]
OneOrMoreIdSequences = Sequence[Sequence[int]]
OneOrMoreTokenSequences = Sequence[Sequence[str]]
OneOrMoreTokenWithIdSequences = Sequence[Sequence[TokenWithId]]
OneOrMoreIndices = int | list[int] | tuple[int, int]
OneOrMoreIndicesDict = dict[int, OneOrMoreIndices]
IndexSpan = tuple[int, int] | Sequence[tuple[int, int]]
ModelIdentifier = str
ModelClass = Any
ScorePrecision = str

# Tensor aliases: the name says the shape ([batch, seq_len], [batch, seq_len, hidden], ...).
IdsTensor = torch.Tensor  #: [batch, seq_len] token ids
TargetIdsTensor = torch.Tensor  #: [batch] ids of the predicted tokens
ExpandedTargetIdsTensor = torch.Tensor  #: [batch, 1]
EmbeddingsTensor = torch.Tensor  #: [batch, seq_len, hidden]
MultiStepEmbeddingsTensor = torch.Tensor  #: [batch * n_steps, seq_len, hidden]
MultiLayerEmbeddingsTensor = torch.Tensor  #: [batch, n_layers, seq_len, hidden]
VocabularyEmbeddingsTensor = torch.Tensor  #: [vocab, hidden]
LogitsTensor = torch.Tensor  #: [batch, vocab]
ScoreTensor = torch.Tensor  #: [batch, seq_len, hidden]
MultiUnitScoreTensor = torch.Tensor  #: [batch, n_units, seq_len, seq_len]
MultiLayerScoreTensor = torch.Tensor  #: [batch, n_layers, seq_len, seq_len]
MultiLayerMultiUnitScoreTensor = torch.Tensor  #: [batch, n_layers, n_units, seq_len, seq_len]
MultipleScoresPerStepTensor = torch.Tensor  #: [batch, n_scores]
MultipleScoresPerSequenceTensor = torch.Tensor  #: [batch, seq_len, n_scores]
SingleScorePerStepTensor = torch.Tensor  #: [batch]
SingleScoresPerSequenceTensor = torch.Tensor  #: [batch, seq_len]
StepAttributionTensor = torch.Tensor  #: [batch, seq_len]
GranularStepAttributionTensor = torch.Tensor  #: [batch, seq_len, hidden]
TokenStepAttributionTensor = torch.Tensor  #: [batch, seq_len]
SequenceAttributionTensor = torch.Tensor  #: [attributed_len, n_steps]
GranularSequenceAttributionTensor = torch.Tensor  #: [attributed_len, n_steps, hidden]
TokenSequenceAttributionTensor = torch.Tensor  #: [attributed_len, n_steps]
AttributionForwardInputs = torch.Tensor  #: ids or embeddings
AttributionForwardInputsPair = tuple[AttributionForwardInputs, AttributionForwardInputs]
OneOrTwoAttributionForwardInputs = AttributionForwardInputs | AttributionForwardInputsPair
OneOrMoreAttributionSequences = Sequence[Any]


class InseqAttribution:
    """Base of inseq 0.7's custom attribution operators (Captum's ``Attribution`` protocol).

    An operator wraps the function it explains (``forward_func``, in inseq 0.7 the attribution model) and computes
    scores in :meth:`attribute`. This library's methods are :class:`~inseq.attr.feat.FeatureAttribution`
    subclasses implementing ``compute(ctx)``; an operator subclass is a plain object a custom method can call.

    Example:
        >>> class Doubler(InseqAttribution):
        ...     def attribute(self, inputs):
        ...         return self.forward_func(inputs) * 2
        >>> Doubler(lambda x: x + 1).attribute(torch.tensor([1.0]))
        tensor([4.])
    """

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        self.forward_func = forward_func

    def attribute(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the attribution scores (implemented by each operator)."""
        raise NotImplementedError(f"{type(self).__name__} must implement attribute().")

    def has_convergence_delta(self) -> bool:
        """Whether :meth:`attribute` can return a convergence delta (False unless a subclass says otherwise)."""
        return False

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether the scores are multiplied by the inputs (False unless a subclass says otherwise)."""
        return False

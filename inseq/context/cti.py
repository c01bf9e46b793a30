"""CTI (context-sensitive target identification): score every current output token by how much the context changes
the model's prediction of it.

The contextless sequence is attributed with the ``dummy`` method and the CTI metric as step score, with the
contextual sequence as contrastive side (``contrast_targets``, plus ``contrast_sources`` for encoder-decoder
models). The two sequences are right-aligned, so each current output token is compared with itself.

Example:
    >>> result = run_cti(model, contextless, contextual, "kl_divergence", special_ids=set())  # doctest: +SKIP
    >>> result.tokens, result.scores  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .args import ContextAttributionError
from .sequences import PecoreSequence
from .tokens import locate

if TYPE_CHECKING:
    from ..models import AttributionModel


@dataclass
class CTIResult:
    """CTI scores of the current output tokens.

    Attributes:
        positions: Target positions (in ``PecoreSequence.target.ids`` of the contextless side) of the scored tokens.
        tokens: Their token strings.
        scores: Their CTI scores.
        offset: Model target position of target id 0 (1 when the model prepends a decoder start token).
        output: The raw attribution output.
    """

    positions: list[int]
    tokens: list[str]
    scores: list[float]
    offset: int
    output: Any


def model_offset(seq: Any, ids: list[int]) -> int:
    """Where ``ids`` start within the target of an attributed sequence output.

    Raises:
        ContextAttributionError: The model tokenized the text differently from ``model.encode``.
    """
    model_ids = [t.id for t in seq.target]
    # contrastive outputs relabel the tokens that differ from their contrast as "contrast → original" (id -1)
    offset = locate([i if i != -1 else None for i in model_ids], ids, wildcard=None)
    if offset is None:
        raise ContextAttributionError(
            f"The attributed target ids {model_ids} do not contain the encoded text ids {ids}: the model tokenized "
            "the text differently from model.encode."
        )
    return offset


def run_cti(
    model: AttributionModel,
    contextless: PecoreSequence,
    contextual: PecoreSequence,
    metric: str,
    special_ids: set[int],
) -> CTIResult:
    """Score the current output tokens of ``contextless`` against ``contextual`` with the step function ``metric``.

    Special tokens (e.g. EOS, end-of-turn) are not scored unless they are kept by the caller.
    """
    out = model.attribute(
        contextless.input_text,
        contextless.target.text,
        method="dummy",
        step_scores=[metric],
        show_progress=False,
        **contextual.contrast_kwargs(),
    )
    seq = out[0]
    offset = model_offset(seq, contextless.target.ids)
    values = seq.step_scores[metric].tolist()
    start = seq.attr_pos_start
    positions = [
        p
        for p in contextless.output_current
        if contextless.target.ids[p] not in special_ids and 0 <= offset + p - start < len(values)
    ]
    return CTIResult(
        positions=positions,
        tokens=contextless.target.tokens(positions),
        scores=[float(values[offset + p - start]) for p in positions],
        offset=offset,
        output=out,
    )

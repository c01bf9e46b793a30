"""The tokenised, right-padded batch handed from the model adapters to the attribution engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..utils.typing import TokenWithId


@dataclass
class AttributionBatch:
    """Token ids of a batch of examples, right-padded, ready for teacher-forced passes.

    For decoder-only models the target is the whole sequence (prompt followed by the generation) and there is no
    source. For encoder-decoder models the target starts with the decoder start token.

    Attributes:
        target_ids: ``(batch, tgt_len)`` target-side ids.
        target_mask: ``(batch, tgt_len)`` 1 for real tokens, 0 for padding.
        target_baseline_ids: ``(batch, tgt_len)`` ids of the baseline (UNK, EOS kept unless asked otherwise).
        target_tokens: Target tokens of each example, padding removed.
        attr_start: First attributed target position of each example.
        attr_end: End (exclusive) of the attributed target positions of each example.
        source_ids: Encoder-decoder only: ``(batch, src_len)`` source ids.
        source_mask: Encoder-decoder only: source mask.
        source_baseline_ids: Encoder-decoder only: source baseline ids.
        source_tokens: Encoder-decoder: source tokens; decoder-only: prompt tokens.
        prompt_lengths: Decoder-only: number of prompt tokens of each example.
    """

    target_ids: torch.Tensor
    target_mask: torch.Tensor
    target_baseline_ids: torch.Tensor
    target_tokens: list[list[TokenWithId]]
    attr_start: list[int]
    attr_end: list[int]
    source_ids: torch.Tensor | None = None
    source_mask: torch.Tensor | None = None
    source_baseline_ids: torch.Tensor | None = None
    source_tokens: list[list[TokenWithId]] = field(default_factory=list)
    prompt_lengths: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Number of examples."""
        return self.target_ids.shape[0]

    @property
    def is_encoder_decoder(self) -> bool:
        """Whether the batch has a separate source."""
        return self.source_ids is not None

    @property
    def target_lengths(self) -> list[int]:
        """Unpadded target length of each example."""
        return self.target_mask.sum(-1).tolist()

    @property
    def source_lengths(self) -> list[int]:
        """Unpadded source length of each example (empty for decoder-only batches)."""
        return [] if self.source_mask is None else self.source_mask.sum(-1).tolist()

    @property
    def grid_start(self) -> int:
        """First target position attributed in any example."""
        return min(self.attr_start)

    @property
    def grid_end(self) -> int:
        """End (exclusive) of the target positions attributed in any example."""
        return max(self.attr_end)

    def active(self, positions: torch.Tensor) -> torch.Tensor:
        """``(batch, len(positions))`` boolean mask: is target position ``p`` attributed for example ``b``."""
        start = torch.tensor(self.attr_start).unsqueeze(1)
        end = torch.tensor(self.attr_end).unsqueeze(1)
        return (positions.unsqueeze(0) >= start) & (positions.unsqueeze(0) < end)

    def to(self, device: torch.device | str) -> AttributionBatch:
        """Move the tensors to ``device`` (in place) and return the batch."""
        for name in ("target_ids", "target_mask", "target_baseline_ids", "source_ids", "source_mask"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(device))
        if self.source_baseline_ids is not None:
            self.source_baseline_ids = self.source_baseline_ids.to(device)
        return self

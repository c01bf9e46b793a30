"""The types the model adapters hand to the attribution engine: tokenised examples and right-padded batches.

They live here, below both ``inseq.attr`` (which consumes them) and ``inseq.models`` (which builds them); inseq 0.7
code imports batch classes from ``inseq.data.batch`` too. What differs between decoder-only and encoder-decoder
batches is expressed by the two subclasses, so the engine never branches on the architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..utils.typing import TokenWithId
from .data_utils import TensorWrapper


@dataclass
class Example:
    """A tokenised example before batching.

    Attributes:
        source_ids: Encoder-decoder only: source ids.
        target_ids: Target ids (decoder-only: prompt + generation; encoder-decoder: decoder start + generation).
        prompt_length: Number of target tokens that are not attributed by default (prompt or decoder start).
        input_text: The input text as given.
        generated_text: The target text (given or generated).

    Example:
        >>> ex = Example(None, [5, 8, 9], prompt_length=2, input_text="Hello world", generated_text="Hello world!")
        >>> ex.target_ids[ex.prompt_length:]  # the ids to attribute
        [9]
    """

    source_ids: list[int] | None
    target_ids: list[int]
    prompt_length: int
    input_text: str
    generated_text: str

    @property
    def input_ids(self) -> list[int]:
        """The ids of the input: the source, or (decoder-only) the prompt that starts the target.

        Example:
            >>> Example(None, [5, 6, 7], 2, "a", "a b").input_ids
            [5, 6]
        """
        return self.source_ids if self.source_ids is not None else self.target_ids[: self.prompt_length]


@dataclass
class BatchEncoding(TensorWrapper):
    """Tokenised texts: ids, mask, tokens and baseline ids (UNK, EOS kept unless ``include_eos_baseline``).

    Example:
        >>> enc = BatchEncoding(torch.tensor([[5, 6]]), torch.tensor([[1, 1]]))
        >>> enc.num_sequences
        1
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    input_tokens: list[list[str]] | None = None
    baseline_ids: torch.Tensor | None = None

    @property
    def num_sequences(self) -> int:
        """Number of encoded texts."""
        return self.input_ids.shape[0]


@dataclass
class BatchEmbedding(TensorWrapper):
    """Embeddings of a batch and of its baseline (inseq 0.7 container).

    Example:
        >>> BatchEmbedding(torch.zeros(1, 2, 4)).input_embeds.shape
        torch.Size([1, 2, 4])
    """

    input_embeds: torch.Tensor | None = None
    baseline_embeds: torch.Tensor | None = None


@dataclass
class Batch(TensorWrapper):
    """An encoding with its embeddings, fields reachable directly (``batch.input_ids``; inseq 0.7 container).

    Example:
        >>> enc = BatchEncoding(torch.tensor([[5, 6]]), torch.tensor([[1, 1]]))
        >>> Batch(enc, BatchEmbedding()).input_ids.tolist()
        [[5, 6]]
    """

    encoding: BatchEncoding
    embedding: BatchEmbedding

    @property
    def input_ids(self) -> torch.Tensor:
        return self.encoding.input_ids

    @property
    def attention_mask(self) -> torch.Tensor:
        return self.encoding.attention_mask

    @property
    def input_tokens(self) -> list[list[str]] | None:
        return self.encoding.input_tokens

    @property
    def baseline_ids(self) -> torch.Tensor | None:
        return self.encoding.baseline_ids

    @property
    def input_embeds(self) -> torch.Tensor | None:
        return self.embedding.input_embeds

    @property
    def baseline_embeds(self) -> torch.Tensor | None:
        return self.embedding.baseline_embeds


@dataclass
class AttributionBatch(TensorWrapper):
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

    Example:
        >>> import dataclasses
        >>> from inseq.data import DecoderOnlyBatch, EncoderDecoderBatch
        >>> issubclass(DecoderOnlyBatch, AttributionBatch), issubclass(EncoderDecoderBatch, AttributionBatch)
        (True, True)
        >>> [f.name for f in dataclasses.fields(AttributionBatch)][:3]
        ['target_ids', 'target_mask', 'target_baseline_ids']
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

    #: Whether the batch has a separate source (set by the two subclasses).
    is_encoder_decoder = False

    def output_source_tokens(self, index: int) -> list[TokenWithId]:
        """Tokens shown as the ``source`` of example ``index``'s output (decoder-only: the unattributed prefix)."""
        return list(self.target_tokens[index][: self.attr_start[index]])

    def source_mask_rows(self, repeat: int = 1) -> torch.Tensor | None:
        """The source mask repeated ``repeat`` times along the rows, or None without a source."""
        return None if self.source_mask is None else self.source_mask.repeat(repeat, 1)

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


@dataclass
class DecoderOnlyBatch(AttributionBatch):
    """A decoder-only batch: the target is the prompt followed by the generation; there is no source.

    Example:
        >>> ids = torch.tensor([[3, 4, 5]])
        >>> batch = DecoderOnlyBatch(ids, torch.ones_like(ids), ids, [[]], [1], [3], prompt_lengths=[1])
        >>> batch.is_encoder_decoder, batch.source_mask_rows() is None
        (False, True)
    """

    is_encoder_decoder = False


@dataclass
class EncoderDecoderBatch(AttributionBatch):
    """An encoder-decoder batch: the source is encoded once; the target starts with the decoder start token.

    Example:
        >>> ids = torch.tensor([[3, 4]])
        >>> batch = EncoderDecoderBatch(ids, torch.ones_like(ids), ids, [[]], [1], [2], ids, torch.ones_like(ids), ids)
        >>> batch.is_encoder_decoder, batch.source_mask_rows(2).shape
        (True, torch.Size([2, 2]))
    """

    is_encoder_decoder = True

    def output_source_tokens(self, index: int) -> list[TokenWithId]:
        """The source tokens of example ``index``."""
        return list(self.source_tokens[index])

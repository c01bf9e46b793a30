"""The port: the typed contract of everything the attribution engine and its methods need from a model.

The engine and every method in ``inseq.attr`` talk to a model only through :class:`AttributionModelPort`;
``inseq.models`` implements it (decoder-only and encoder-decoder adapters), and ``inseq.attr`` never imports
``inseq.models``. The port carries tensors: texts, examples and batches are built by the façade
(:meth:`inseq.models.AttributionModel.attribute`), which hands the engine one
:class:`~inseq.data.batch.DecoderOnlyBatch` or :class:`~inseq.data.batch.EncoderDecoderBatch` at a time. What
differs between the two architectures is decided behind the port and in those two batch classes: for example
:meth:`AttributionModelPort.encode_source` returns None on a decoder-only model.

Example:
    >>> import inseq
    >>> from inseq.attr.port import AttributionModelPort
    >>> model = inseq.load_model(inseq.testing.get_tiny_model_path("gpt2"), "saliency")  # doctest: +SKIP
    >>> isinstance(model, AttributionModelPort)  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from ..data.batch import AttributionBatch


@dataclass
class AttentionSite:
    """One attention module of one layer, with the projection producing its value vectors.

    Attributes:
        block: The whole layer (recomputed from its captured inputs by value zeroing).
        attention: The attention module inside ``block``.
        value: The module whose output holds the value vectors (possibly a fused QKV projection).
        value_columns: ``value_columns(width, heads)`` gives the boolean ``(width,)`` mask of the output columns of
            ``value`` holding the values of ``heads`` (None: all heads); raises ``ValueError`` for a bad head. For a
            fused QKV projection whose column layout depends on the model it also has ``fused = True``,
            ``layouts(width)`` (candidate layout name -> mask of every value column) and a settable ``layout``
            that the caller decides by behaviour (value zeroing); otherwise ``fused`` is False or absent.
    """

    block: torch.nn.Module
    attention: torch.nn.Module
    value: torch.nn.Module
    value_columns: Callable[[int, list[int] | None], torch.Tensor]


@dataclass
class AttentionMaps:
    """Attention weights of one clean forward, each ``(batch, query, key, layers, heads)`` or None.

    Attributes:
        decoder_self: Self-attention of the decoder (decoder-only: of the model).
        cross: Cross-attention (encoder-decoder only).
        encoder_self: Self-attention of the encoder (encoder-decoder only).
        rows: Query positions the ``query`` axis of ``decoder_self`` and ``cross`` holds (None: every position);
            ``encoder_self`` always holds every query.
    """

    decoder_self: torch.Tensor
    cross: torch.Tensor | None = None
    encoder_self: torch.Tensor | None = None
    rows: torch.Tensor | None = None


@dataclass
class ModelStructure:
    """The layer stacks and attention sites of a model, found by inspecting its module tree.

    Attributes:
        decoder_layers: The decoder's (decoder-only: the model's) layers, in order.
        encoder_layers: The encoder's layers (empty for decoder-only models).
        decoder_self: The self-attention site of each decoder layer.
        cross: The cross-attention site of each decoder layer (empty for decoder-only models).
        encoder_self: The self-attention site of each encoder layer (empty for decoder-only models).
    """

    decoder_layers: list[torch.nn.Module]
    encoder_layers: list[torch.nn.Module]
    decoder_self: list[AttentionSite]
    cross: list[AttentionSite]
    encoder_self: list[AttentionSite]


@runtime_checkable
class AttributionModelPort(Protocol):
    """What the engine needs from a model. ``inseq.models`` adapters implement it.

    Attributes:
        device: Device the model runs on.
        embed_scale: Factor between the embedding module's output and the first layer's input.
        unk_token_id: Id used for baselines and removed tokens.
        pad_token_id: Padding id.
        eos_token_id: End-of-sequence id.
        torch_module: The underlying ``torch.nn.Module`` (frozen while attributing; hooks go here).
        special_tokens_ids: Ids of the tokenizer's special tokens.
        info: Names and classes of the model and tokenizer, stored in outputs.

    Example:
        >>> model = inseq.load_model(tiny_gpt2_path, "saliency")  # doctest: +SKIP
        >>> isinstance(model, AttributionModelPort)  # the adapters implement the port  # doctest: +SKIP
        True
    """

    device: str
    embed_scale: float
    unk_token_id: int | None
    pad_token_id: int | None
    eos_token_id: int | None
    torch_module: torch.nn.Module

    @property
    def special_tokens_ids(self) -> list[int]: ...

    @property
    def info(self) -> dict[str, Any]: ...

    @property
    def vocabulary_embeddings(self) -> torch.Tensor:
        """The ``(vocab, hidden)`` input embedding matrix."""
        ...

    # ------------------------------------------------------------------ tokens
    def convert_ids_to_tokens(self, ids: Any, skip_special_tokens: bool = True, decode_tokens: bool = False) -> Any:
        """Token strings of ids."""
        ...

    # ------------------------------------------------------------------ forward passes
    def embed_ids(self, ids: torch.Tensor, as_targets: bool = False) -> torch.Tensor:
        """Input embeddings of ``ids`` exactly as the model's first layer sees them."""
        ...

    def encode_source(
        self, embeds: torch.Tensor | None = None, ids: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> Any:
        """Run the encoder once on source embeddings or ids; None for models without an encoder."""
        ...

    def forward_logits(
        self,
        target_embeds: torch.Tensor | None,
        target_ids: torch.Tensor | None,
        target_mask: torch.Tensor,
        encoder_outputs: Any = None,
        source_mask: torch.Tensor | None = None,
        logits_from: int = 0,
        logits_at: tuple[torch.Tensor, torch.Tensor] | None = None,
        past_key_values: Any = None,
        keep_cache: bool = False,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Teacher-forced logits: of target columns ``logits_from`` onwards ``(rows, len - logits_from, vocab)``, or
        only at the ``logits_at`` ``(row_index, column)`` pairs ``(pairs, vocab)``. ``past_key_values``: the
        key-value cache of the rows' prefixes; ``keep_cache``: also return this forward's cache;
        ``position_ids``: the inputs' positions (decoder-only; None: in order after the cache)."""
        ...

    # ------------------------------------------------------------------ internals
    def get_input_embeddings(self) -> torch.nn.Module:
        """The input embedding module (the default layer of ``layer_*`` methods)."""
        ...

    def get_submodule(self, name: str) -> torch.nn.Module:
        """A submodule of the model by dotted name."""
        ...

    def eager_attention(self) -> AbstractContextManager[None]:
        """Context manager running the model with eager attention (weights available), restored after."""
        ...

    def attention_maps(self, batch: AttributionBatch, length: int, rows: torch.Tensor | None = None) -> AttentionMaps:
        """Attention weights of a clean forward over the first ``length`` target tokens of ``batch``: for the decoder,
        of the query positions ``rows`` only where the model allows it (``AttentionMaps.rows`` says which it holds;
        no ``L x L`` map is then built), of every query otherwise."""
        ...

    def structure(self) -> ModelStructure:
        """Layer stacks and attention sites (value zeroing); raises naming the module when one cannot be found."""
        ...

    def clean_forward(self, batch: AttributionBatch, length: int) -> None:
        """A no-grad forward over the first ``length`` target tokens (hooks installed by the caller observe it)."""
        ...


def iter_port_members() -> Iterator[str]:
    """Names of the members the port declares (used by the tests to check an adapter implements all of them).

    Example:
        >>> "forward_logits" in set(iter_port_members())
        True
    """
    names = set(AttributionModelPort.__annotations__)
    names |= {n for n in vars(AttributionModelPort) if not n.startswith("_")}
    yield from sorted(names)

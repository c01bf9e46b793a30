"""The one builder of step-function arguments, vectorised rows and inseq 0.7's per-step form alike.

Built-in step functions are called once for many ``(sequence, position)`` rows with a plain
:class:`~inseq.attr.step_functions.StepFunctionArgs`; custom ones (inseq 0.7 code) once per generation step with
:class:`~inseq.attr.step_functions.StepFunctionDecoderOnlyArgs` or
:class:`~inseq.attr.step_functions.StepFunctionEncoderDecoderArgs`, the class following from whether encoder
inputs are given. Every caller (the engine's scorer, its per-step path, the Captum bridge, the row scorer of
evaluation and source attribution) builds its arguments here.

Example:
    >>> import torch
    >>> args = make_step_args(None, torch.zeros(2, 5), torch.tensor([1, 2]))
    >>> args.logits.shape, type(args).__name__
    (torch.Size([2, 5]), 'StepFunctionArgs')
    >>> ids = torch.tensor([[3, 4]])
    >>> legacy = make_step_args(None, torch.zeros(1, 5), torch.tensor([1]), decoder_input_ids=ids,
    ...     decoder_input_embeds=torch.zeros(1, 2, 4), per_step=True)
    >>> type(legacy).__name__, type(legacy.forward_output).__name__
    ('StepFunctionDecoderOnlyArgs', 'CausalLMOutput')
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import torch

from .step_functions import StepFunctionArgs, StepFunctionDecoderOnlyArgs, StepFunctionEncoderDecoderArgs

if TYPE_CHECKING:
    from ..data.batch import AttributionBatch
    from .port import AttributionModelPort


def make_step_args(
    port: AttributionModelPort | None,
    logits: torch.Tensor,
    target_ids: torch.Tensor,
    *,
    decoder_input_ids: torch.Tensor | None = None,
    decoder_attention_mask: torch.Tensor | None = None,
    decoder_input_embeds: torch.Tensor | None = None,
    encoder_input_ids: torch.Tensor | None = None,
    encoder_attention_mask: torch.Tensor | None = None,
    encoder_input_embeds: torch.Tensor | None = None,
    is_attributed_fn: bool = False,
    per_step: bool = False,
    embed_missing: bool = True,
) -> StepFunctionArgs:
    """Step-function arguments of ``rows`` predictions.

    Args:
        port: The model (the ``attribution_model`` step functions receive).
        logits: ``(rows, vocab)`` logits predicting ``target_ids``.
        target_ids: ``(rows,)`` predicted ids.
        decoder_input_ids: ``(rows, len)`` target-side inputs of each row.
        decoder_attention_mask: ``(rows, len)`` mask of each row's prefix.
        decoder_input_embeds: Target-side embeddings (``per_step``: embedded from the ids when not given).
        encoder_input_ids: Encoder-decoder only: ``(rows, src_len)`` source ids (None: decoder-only).
        encoder_attention_mask: Encoder-decoder only: source mask.
        encoder_input_embeds: Encoder-decoder only: source embeddings (``per_step``: embedded when not given).
        is_attributed_fn: Whether the function is the attribution target.
        per_step: inseq 0.7's typed per-step arguments, with a transformers model output as ``forward_output``.
        embed_missing: ``per_step``: embed the ids whose embeddings are not given (off where the embedding layer is
            hooked, e.g. by Captum's layer methods).
    """
    if not per_step:
        return StepFunctionArgs(
            attribution_model=port,
            forward_output=SimpleNamespace(logits=logits.unsqueeze(1)),
            target_ids=target_ids,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            decoder_input_embeds=decoder_input_embeds,
            encoder_input_ids=encoder_input_ids,
            encoder_attention_mask=encoder_attention_mask,
            encoder_input_embeds=encoder_input_embeds,
            is_attributed_fn=is_attributed_fn,
        )
    from transformers.modeling_outputs import CausalLMOutput, Seq2SeqLMOutput

    embed_missing = embed_missing and port is not None
    if decoder_input_embeds is None and decoder_input_ids is not None and embed_missing:
        decoder_input_embeds = port.embed_ids(decoder_input_ids, as_targets=True)
    common = {
        "attribution_model": port,
        "target_ids": target_ids,
        "decoder_input_ids": decoder_input_ids,
        "decoder_attention_mask": decoder_attention_mask,
        "decoder_input_embeds": decoder_input_embeds,
        "is_attributed_fn": is_attributed_fn,
    }
    if encoder_input_ids is None:
        return StepFunctionDecoderOnlyArgs(forward_output=CausalLMOutput(logits=logits.unsqueeze(1)), **common)
    if encoder_input_embeds is None and embed_missing:
        encoder_input_embeds = port.embed_ids(encoder_input_ids)
    return StepFunctionEncoderDecoderArgs(
        forward_output=Seq2SeqLMOutput(logits=logits.unsqueeze(1)),
        encoder_input_ids=encoder_input_ids,
        encoder_attention_mask=encoder_attention_mask,
        encoder_input_embeds=encoder_input_embeds,
        **common,
    )


def per_example_kwargs(fn_kwargs: dict[str, Any], batch_size: int) -> list[str]:
    """Names of the keyword arguments holding one row per example (tensors whose first dimension is the batch).

    Example:
        >>> per_example_kwargs({"ids": torch.zeros(2, 3), "n": 1, "w": torch.zeros(5)}, 2)
        ['ids']
    """
    return [
        key
        for key, value in fn_kwargs.items()
        if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == batch_size
    ]


def custom_step_rows(
    batch: AttributionBatch, fn_kwargs: dict[str, Any], length: int, k: int
) -> list[torch.Tensor | None]:
    """Per-row inputs of a custom step function for ``k`` copies of ``batch``: prefix ids, source ids (None without
    a source) and the per-example tensors of its keyword arguments, as inseq 0.7 expands them with the inputs.

    Example:
        >>> from inseq.data.batch import DecoderOnlyBatch
        >>> ids = torch.tensor([[3, 4, 5]])
        >>> batch = DecoderOnlyBatch(ids, torch.ones_like(ids), ids, [[]], [1], [3])
        >>> [None if r is None else tuple(r.shape) for r in custom_step_rows(batch, {}, 2, 4)]
        [(4, 2), None]
    """
    device = batch.target_ids.device
    rows = [
        batch.target_ids[:, :length].repeat(k, 1),
        batch.source_ids.repeat(k, 1) if batch.source_ids is not None else None,
    ]
    for key in per_example_kwargs(fn_kwargs, batch.size):
        value = fn_kwargs[key]
        rows.append(value.to(device).repeat(k, *([1] * (value.ndim - 1))))
    return rows

"""Attention weights of a few query rows, without any ``L x L`` map: an attention function for transformers.

Reading attention weights used to need eager attention over the whole sequence, which keeps one ``L x L`` map per
layer and head. Attributing target positions needs only the rows of the queries predicting them. The function
registered here under :data:`IMPLEMENTATION` (transformers' ``AttentionInterface``, with SDPA's mask format) runs
SDPA for the layer's output, as the model normally does, and computes ``softmax(q_rows k^T * scaling + mask)`` for
the recorded query rows only: GQA keys are repeated per query head, the causal mask (also when transformers skips
building it), padding, additive position biases (T5) and the layer's own scaling are applied as eager attention
does. Modules of the encoder get every row (their weights are returned whole).

Example:
    >>> rows = torch.tensor([4, 5])
    >>> with row_attention(model.model, rows, decoder=model.model):  # doctest: +SKIP
    ...     out = model.model(input_ids=ids, output_attentions=True, use_cache=False)
    >>> out.attentions[0].shape  # (batch, heads, 2, keys)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch

from .structure import distinct_configs, eager_attention

#: Name of the attention implementation registered with transformers.
IMPLEMENTATION = "inseq_rows"

#: Keyword arguments of attention functions this implementation reproduces; any other one that changes the scores
#: (e.g. ``softcap``, attention sinks) makes the row path refuse, and the caller falls back to eager attention.
_UNSUPPORTED = ("softcap", "s_aux", "sinks")


class RowAttentionUnsupported(RuntimeError):
    """The model calls its attention with something the row path does not reproduce (the caller goes eager)."""


@dataclass
class _Plan:
    rows: torch.Tensor | None
    decoder: set[int]
    length: int | None
    calls: int = 0  # attention calls the row function answered (checked against the weights the model returned)


_PLAN: ContextVar[_Plan | None] = ContextVar("inseq_row_attention", default=None)


def _row_weights(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
    is_causal: bool | None,
    position_bias: torch.Tensor | None,
    rows: torch.Tensor | None,
) -> torch.Tensor:
    """``(batch, heads, len(rows), keys)`` float32 softmax weights of the query ``rows`` (None: all rows)."""
    q_len = query.shape[2]
    picked = torch.arange(q_len, device=query.device) if rows is None else rows.to(query.device)
    q = query[:, :, picked]
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(q.float(), key.float().transpose(-1, -2)) * scale
    if position_bias is not None:
        bias = position_bias if position_bias.shape[-2] == 1 else position_bias[..., picked, :]
        scores = scores + bias.float()
    if mask is None:
        causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
        if causal and q_len > 1:
            keys = torch.arange(key.shape[2], device=query.device)
            scores = scores.masked_fill(keys.view(1, -1) > picked.view(-1, 1), float("-inf"))
    else:
        part = mask if mask.shape[-2] == 1 else mask[..., picked, :]
        if part.dtype == torch.bool:
            scores = scores.masked_fill(~part, float("-inf"))
        else:
            scores = scores + part.float()
    return torch.softmax(scores, dim=-1)


def row_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    position_bias: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The registered attention function: SDPA's output, and the weights of the planned rows.

    Example:
        >>> q = k = v = torch.randn(1, 2, 3, 4)
        >>> out, w = row_attention_forward(torch.nn.Module(), q, k, v, None)
        >>> out.shape, w is None  # no plan in force: no weights
        (torch.Size([1, 3, 2, 4]), True)
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bad = [name for name in _UNSUPPORTED if kwargs.get(name) is not None]
    if bad:
        raise RowAttentionUnsupported(f"{type(module).__name__} calls its attention with {bad}.")
    kwargs.pop("output_attentions", None)
    out, _ = sdpa_attention_forward(
        module,
        query,
        key,
        value,
        attention_mask,
        dropout=dropout,
        scaling=scaling,
        is_causal=is_causal,
        position_bias=position_bias,
        **kwargs,
    )
    plan = _PLAN.get()
    if plan is None:
        return out, None
    plan.calls += 1
    decoder_side = id(module) in plan.decoder and (plan.length is None or query.shape[2] == plan.length)
    rows = plan.rows if decoder_side else None
    with torch.no_grad():
        weights = _row_weights(module, query, key, attention_mask, scaling, is_causal, position_bias, rows)
    return out, weights


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if IMPLEMENTATION not in AttentionInterface._global_mapping:
        AttentionInterface.register(IMPLEMENTATION, row_attention_forward)
    if IMPLEMENTATION not in AttentionMaskInterface._global_mapping:
        AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)


def supports_row_attention(model: torch.nn.Module) -> bool:
    """Whether ``model`` has an attention implementation setting to switch (a transformers configuration).

    Whether it really dispatches through transformers' ``AttentionInterface`` is checked by behaviour when it runs
    (:func:`attention_forward`): many models that do, BART for one, do not declare it.

    Example:
        >>> supports_row_attention(torch.nn.Linear(2, 2))
        False
    """
    return bool(distinct_configs(model))


@contextmanager
def row_attention(
    model: torch.nn.Module, rows: torch.Tensor | None, decoder: torch.nn.Module, length: int | None = None
) -> Iterator[_Plan]:
    """Run ``model`` with the row attention function; modules of ``decoder`` return the weights of query ``rows``.

    Args:
        model: The transformers model.
        rows: Query indices whose weights the decoder's attention modules return (None: all rows).
        decoder: The module holding the attention modules ``rows`` applies to (the whole model for decoder-only).
        length: Query length of the decoder's forward: modules called with another one get all rows.

    Example:
        >>> with row_attention(model.model, torch.tensor([3]), model.model):  # doctest: +SKIP
        ...     out = model.model(input_ids=ids, output_attentions=True)
    """
    _register()
    configs = distinct_configs(model)
    previous = [(config, config._attn_implementation) for config in configs]
    plan = _Plan(rows, {id(m) for m in decoder.modules()}, length)
    token = _PLAN.set(plan)
    try:
        for config in configs:
            config._attn_implementation = IMPLEMENTATION
        yield plan
    finally:
        _PLAN.reset(token)
        for config, value in previous:
            config._attn_implementation = value


def attention_forward(
    model: torch.nn.Module,
    run: Any,
    rows: torch.Tensor | None,
    decoder: torch.nn.Module,
    length: int,
    fields: tuple[str, ...],
) -> tuple[Any, torch.Tensor | None]:
    """``run()`` (a forward with ``output_attentions=True``) with the row attention function, or with eager attention
    where the model cannot (no ``AttentionInterface`` support, an unsupported attention keyword, or an output among
    ``fields`` left empty or not all computed by the row function). Returns the output and the query rows its
    decoder weights hold (None: all rows).

    Example:
        >>> run = lambda: model.model(input_ids=ids, output_attentions=True, use_cache=False)  # doctest: +SKIP
        >>> out, rows = attention_forward(model.model, run, torch.tensor([3]), model.model, 4, ("attentions",))  # doctest: +SKIP
    """
    if supports_row_attention(model):
        try:
            with torch.no_grad(), row_attention(model, rows, decoder, length) as plan:
                out = run()
            values = [getattr(out, name, None) for name in fields]
            if all(_complete(v) for v in values) and plan.calls == sum(len(v) for v in values):
                return out, rows
        except RowAttentionUnsupported:
            pass
    with torch.no_grad(), eager_attention(model):
        return run(), None


def _complete(value: Any) -> bool:
    return value is not None and all(v is not None for v in value)

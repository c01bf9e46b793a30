"""A slow, step-by-step reference ("oracle") for the gradient attribution methods, independent of the engine.

Everything here follows the definitions literally, one example and one target position at a time, with no padding
and no batching across positions: for target position ``p`` the prefix is built (decoder-only: the tokens ``< p``;
encoder-decoder: the whole source plus the target tokens ``< p``), embedded with ``model.embed_ids``, and Captum's
``Saliency`` (``abs=True``), ``InputXGradient`` or ``IntegratedGradients`` (``multiply_by_inputs=True``, baselines =
embeddings of ``model.baseline_ids``) is run on a forward function returning the attributed function (by default the
probability of the token at ``p`` from the logits of the last prefix position). Only the model's own modules and its
``embed_ids``/``baseline_ids`` helpers are used, never the attribution engine.

The tests compare the engine with it (``tests/attr/test_engine_oracle.py``) and the benchmark times both
(``benchmarks/bench_gradient.py``).

Example:
    >>> import inseq
    >>> from inseq.testing import get_tiny_model_path
    >>> from inseq.testing.reference import encode_example, reference_attribute
    >>> model = inseq.load_model(str(get_tiny_model_path("gpt2")), "saliency")  # doctest: +SKIP
    >>> ex = encode_example(model, "a b", "a b c d")  # doctest: +SKIP
    >>> ref = reference_attribute(model, "saliency", ex)  # doctest: +SKIP
    >>> ref.target.shape  # doctest: +SKIP
    torch.Size([4, 2, 32])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency

__all__ = [
    "REFERENCE_METHODS",
    "ReferenceExample",
    "ReferenceResult",
    "encode_example",
    "prefix_logits",
    "reference_attribute",
]

#: Methods the reference implements.
REFERENCE_METHODS = ("saliency", "input_x_gradient", "integrated_gradients")

#: ``fn(logits, target_id) -> scalar per row``: the attributed function, from ``(rows, vocab)`` logits.
ScoreFn = Callable[[torch.Tensor, int], torch.Tensor]


def probability_score(logits: torch.Tensor, target_id: int) -> torch.Tensor:
    """Probability of ``target_id`` under ``(rows, vocab)`` logits: the default attributed function."""
    return logits.softmax(-1)[:, target_id]


@dataclass
class ReferenceExample:
    """One tokenised example, built from the tokenizer directly (not through the model adapter).

    Attributes:
        target_ids: Decoder-only: prompt + continuation; encoder-decoder: decoder start token + target.
        prompt_length: First target position attributed by default (decoder-only: prompt length; else 1).
        source_ids: Encoder-decoder only: source ids.
    """

    target_ids: list[int]
    prompt_length: int
    source_ids: list[int] | None = None

    @property
    def is_encoder_decoder(self) -> bool:
        """Whether the example has a separate source."""
        return self.source_ids is not None


@dataclass
class ReferenceResult:
    """Per-example reference scores, laid out like the engine's sequence outputs.

    Attributes:
        source: ``(src_len, n_pos, hidden)`` source scores, or None (decoder-only).
        target: ``(tgt_len, n_pos, hidden)`` target scores with NaN where a row is not in the prefix of the column's
            position, or None (encoder-decoder without ``attribute_target``).
        step_scores: ``name -> (n_pos,)``: ``probability`` and ``entropy`` of every position, plus ``deltas``
            (Captum's convergence delta) for integrated gradients.
        positions: The attributed target positions.
        example: The example.
    """

    source: torch.Tensor | None
    target: torch.Tensor | None
    step_scores: dict[str, torch.Tensor] = field(default_factory=dict)
    positions: list[int] = field(default_factory=list)
    example: ReferenceExample | None = None


def encode_example(model: Any, input_text: str, generated_text: str) -> ReferenceExample:
    """Tokenise an example with the model's tokenizer only.

    Decoder-only: ``generated_text`` (the full text, prompt included) is the target, the prompt's token count is the
    prompt length. Encoder-decoder: the source is ``input_text`` and the target is the decoder start token followed
    by the tokenised ``generated_text`` (``text_target``).
    """
    tok = model.tokenizer
    config = model.model.config
    if config.is_encoder_decoder:
        start = config.decoder_start_token_id
        if start is None:
            start = config.bos_token_id
        source = tok(input_text)["input_ids"]
        target = [int(start)] + tok(text_target=generated_text)["input_ids"]
        return ReferenceExample(target_ids=target, prompt_length=1, source_ids=source)
    prompt = tok(input_text)["input_ids"]
    full = tok(generated_text)["input_ids"]
    if full[: len(prompt)] != prompt:
        raise ValueError(f"{generated_text!r} does not continue {input_text!r} at token level.")
    return ReferenceExample(target_ids=full, prompt_length=len(prompt))


def _ids(values: list[int], device: Any) -> torch.Tensor:
    return torch.tensor([values], dtype=torch.long, device=device)


def _forward_logits(model: Any, target_embeds: torch.Tensor, source_embeds: torch.Tensor | None) -> torch.Tensor:
    """``(rows, vocab)`` logits of the last prefix position, no padding (all-ones masks)."""
    hf = model.model
    rows, length = target_embeds.shape[:2]
    mask = torch.ones(rows, length, dtype=torch.long, device=target_embeds.device)
    if source_embeds is None:
        out = hf(inputs_embeds=target_embeds, attention_mask=mask, use_cache=False)
    else:
        src_mask = torch.ones(rows, source_embeds.shape[1], dtype=torch.long, device=source_embeds.device)
        out = hf(
            inputs_embeds=source_embeds,
            attention_mask=src_mask,
            decoder_inputs_embeds=target_embeds,
            decoder_attention_mask=mask,
            use_cache=False,
        )
    return out.logits[:, -1, :]


def prefix_logits(model: Any, example: ReferenceExample, position: int) -> torch.Tensor:
    """``(vocab,)`` logits predicting target ``position`` from its prefix, from token ids (no gradient)."""
    device = model.model.device
    with torch.no_grad():
        ids = _ids(example.target_ids[:position], device)
        if example.source_ids is None:
            out = model.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
        else:
            src = _ids(example.source_ids, device)
            out = model.model(
                input_ids=src,
                attention_mask=torch.ones_like(src),
                decoder_input_ids=ids,
                decoder_attention_mask=torch.ones_like(ids),
                use_cache=False,
            )
    return out.logits[0, -1, :]


def _captum_method(name: str, forward: Callable[..., torch.Tensor]) -> Any:
    if name == "saliency":
        return Saliency(forward)
    if name == "input_x_gradient":
        return InputXGradient(forward)
    if name == "integrated_gradients":
        return IntegratedGradients(forward, multiply_by_inputs=True)
    raise ValueError(f"The reference implements {REFERENCE_METHODS}, not {name!r}.")


def reference_attribute(
    model: Any,
    method: str,
    example: ReferenceExample,
    *,
    attribute_target: bool = False,
    n_steps: int = 50,
    ig_method: str = "gausslegendre",
    include_eos_baseline: bool = False,
    attr_pos_start: int | None = None,
    attr_pos_end: int | None = None,
    score_fn: ScoreFn = probability_score,
    internal_batch_size: int | None = None,
) -> ReferenceResult:
    """Attribute every target position of one example with Captum, one position at a time.

    Args:
        model: An inseq model (its ``model``, ``embed_ids`` and ``baseline_ids`` are used).
        method: ``"saliency"``, ``"input_x_gradient"`` or ``"integrated_gradients"``.
        example: The tokenised example (see :func:`encode_example`).
        attribute_target: Encoder-decoder only: also attribute the target prefix (decoder-only always does).
        n_steps: Integrated gradients steps.
        ig_method: Integrated gradients approximation method.
        include_eos_baseline: Replace EOS by UNK in the baseline too.
        attr_pos_start: First attributed position (default: the prompt length); non-negative.
        attr_pos_end: End (exclusive) of the attributed positions (default: the target length); non-negative.
        score_fn: The attributed function, from last-position logits and the target id.
        internal_batch_size: Integrated gradients: interpolation steps per forward pass (Captum's option).

    Returns:
        The scores of every attributed position, with ``probability``/``entropy`` step scores.
    """
    device = model.model.device
    enc_dec = example.is_encoder_decoder
    with_target = attribute_target or not enc_dec
    tgt_ids = _ids(example.target_ids, device)
    with torch.no_grad():
        tgt_emb = model.embed_ids(tgt_ids, as_targets=True).detach()
        tgt_base = model.embed_ids(
            model.baseline_ids(tgt_ids, include_eos_baseline, as_targets=True), as_targets=True
        ).detach()
        src_emb = src_base = None
        if enc_dec:
            src_ids = _ids(example.source_ids or [], device)
            src_emb = model.embed_ids(src_ids).detach()
            src_base = model.embed_ids(model.baseline_ids(src_ids, include_eos_baseline)).detach()
    start = example.prompt_length if attr_pos_start is None else max(attr_pos_start, example.prompt_length)
    end = len(example.target_ids) if attr_pos_end is None else attr_pos_end
    positions = list(range(start, end))
    length, hidden = len(example.target_ids), tgt_emb.shape[-1]
    source = torch.full((src_emb.shape[1], len(positions), hidden), float("nan")) if src_emb is not None else None
    target = torch.full((length, len(positions), hidden), float("nan")) if with_target else None
    scores: dict[str, list[float]] = {"probability": [], "entropy": []}
    if method == "integrated_gradients":
        scores["deltas"] = []
    for col, pos in enumerate(positions):
        target_id = example.target_ids[pos]
        prefix, prefix_base = tgt_emb[:, :pos], tgt_base[:, :pos]

        def forward(*inputs: torch.Tensor, target_id: int = target_id, prefix: torch.Tensor = prefix) -> torch.Tensor:
            if enc_dec:
                src = inputs[0]
                tgt = inputs[1] if with_target else prefix.expand(src.shape[0], -1, -1)
            else:
                src, tgt = None, inputs[0]
            return score_fn(_forward_logits(model, tgt, src), target_id)

        inputs: list[torch.Tensor] = ([src_emb] if enc_dec else []) + ([prefix] if with_target else [])
        baselines: list[torch.Tensor] = ([src_base] if enc_dec else []) + ([prefix_base] if with_target else [])
        captum = _captum_method(method, forward)
        kwargs: dict[str, Any] = {}
        if method == "saliency":
            kwargs["abs"] = True
        elif method == "integrated_gradients":
            kwargs.update(baselines=tuple(baselines), n_steps=n_steps, method=ig_method, return_convergence_delta=True)
            if internal_batch_size is not None:
                kwargs["internal_batch_size"] = internal_batch_size
        attributions = captum.attribute(tuple(x.clone().requires_grad_() for x in inputs), **kwargs)
        if method == "integrated_gradients":
            attributions, delta = attributions
            scores["deltas"].append(float(delta.reshape(-1)[0]))
        attributions = list(attributions)
        if source is not None:
            source[:, col] = attributions.pop(0)[0].detach().float().cpu()
        if target is not None:
            target[:pos, col] = attributions.pop(0)[0].detach().float().cpu()
        logits = prefix_logits(model, example, pos).float()
        logprobs = logits.log_softmax(-1)
        scores["probability"].append(float(logprobs[target_id].exp()))
        scores["entropy"].append(float(-(logprobs.exp() * logprobs).sum()))
    return ReferenceResult(
        source=source,
        target=target,
        step_scores={k: torch.tensor(v) for k, v in scores.items()},
        positions=positions,
        example=example,
    )

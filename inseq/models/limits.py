"""Model limits checked before any forward pass: maximum positions and generation arguments.

Inputs longer than the model's position embeddings (or a generation that would run past them) get an
:class:`~inseq.utils.errors.InputTooLongError` naming both lengths, instead of an ``IndexError`` from deep inside
torch. Passing ``truncate_inputs=True`` to ``attribute()`` opts into truncation instead: decoder-only prompts lose
their first tokens (the end, which generation continues, is kept), encoder-decoder sources lose their last tokens;
a warning says how many tokens were dropped. Generation arguments are checked against the model's
``GenerationConfig`` (unknown keys, types and ranges of the common options).

Example:
    >>> check_generation_args(model, {"max_new_tokens": -1})  # doctest: +SKIP
    Traceback (most recent call last):
    InvalidArgumentError: generation_args['max_new_tokens'] must be an int >= 1, got -1.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from ..utils.checks import check_bool, check_int, check_number
from ..utils.errors import InputTooLongError, InvalidArgumentError

__all__ = [
    "check_generation_args",
    "check_target_length",
    "fit_length",
    "fit_prompts",
    "max_positions",
    "new_tokens_budget",
]

_POSITION_FIELDS = ("n_positions", "max_position_embeddings", "n_ctx", "max_sequence_length", "seq_length")
_INT_OPTIONS = {
    "max_new_tokens": 1,
    "max_length": 1,
    "min_new_tokens": 0,
    "min_length": 0,
    "num_beams": 1,
    "num_return_sequences": 1,
    "top_k": 0,
    "num_beam_groups": 1,
    "no_repeat_ngram_size": 0,
}
_POSITIVE_FLOATS = ("temperature", "repetition_penalty")
_UNIT_FLOATS = ("top_p", "typical_p", "min_p")
_BOOL_OPTIONS = ("do_sample", "early_stopping", "output_scores", "return_dict_in_generate", "use_cache")
#: Inputs the adapters pass to ``generate`` themselves.
_RESERVED = ("input_ids", "attention_mask", "inputs", "pad_token_id", "decoder_input_ids")


def max_positions(model: Any) -> int | None:
    """The maximum number of positions of the wrapped model (None when it has no absolute limit, e.g. T5).

    Example:
        >>> max_positions(model)  # doctest: +SKIP
        1024
    """
    config = model.model.config
    if getattr(config, "relative_attention_num_buckets", None) is not None:
        return None
    for name in _POSITION_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _known_generation_keys(model: Any) -> set[str]:
    keys = set(model.model.generation_config.to_dict())
    from transformers import GenerationConfig

    keys |= set(GenerationConfig().to_dict())
    keys |= set(inspect.signature(model.model.generate).parameters) - {"self", "kwargs", "inputs"}
    return keys


def check_generation_args(model: Any, generation_args: dict[str, Any]) -> None:
    """Check ``generation_args`` against the model's generation config before ``generate`` runs.

    Raises:
        InvalidArgumentError: an unknown or reserved key, or a value out of range.
        InvalidArgumentTypeError: a value of the wrong type.
    """
    reserved = sorted(k for k in generation_args if k in _RESERVED)
    if reserved:
        raise InvalidArgumentError(f"generation_args may not set {reserved}: inseq passes them to generate itself.")
    known = _known_generation_keys(model)
    unknown = sorted(k for k in generation_args if k not in known)
    if unknown:
        raise InvalidArgumentError(
            f"Unknown generation_args {unknown} for {type(model.model).__name__}.generate; valid keys are the "
            "fields of transformers.GenerationConfig (e.g. max_new_tokens, do_sample, num_beams, temperature)."
        )
    for key, minimum in _INT_OPTIONS.items():
        if key in generation_args:
            check_int(f"generation_args[{key!r}]", generation_args[key], minimum=minimum, allow_none=True)
    for key in _POSITIVE_FLOATS:
        if key in generation_args:
            check_number(f"generation_args[{key!r}]", generation_args[key], 0, allow_none=True, strict_minimum=True)
    for key in _UNIT_FLOATS:
        if key in generation_args:
            check_number(f"generation_args[{key!r}]", generation_args[key], 0, 1, allow_none=True)
    for key in _BOOL_OPTIONS:
        if generation_args.get(key) is not None:
            check_bool(f"generation_args[{key!r}]", generation_args[key])
    if generation_args.get("num_return_sequences", 1) not in (1, None):
        raise InvalidArgumentError(
            f"generation_args['num_return_sequences'] must be 1 (one attributed target per input), got "
            f"{generation_args['num_return_sequences']!r}; repeat the input instead."
        )


def new_tokens_budget(model: Any, generation_args: dict[str, Any], prompt_length: int) -> tuple[int, bool]:
    """Positions the generation needs and whether the user asked for them explicitly.

    Decoder-only: tokens added after a prompt of ``prompt_length`` tokens. Encoder-decoder: decoder positions (the
    start token included). Without ``max_new_tokens`` / ``max_length`` in ``generation_args`` the model's
    generation config gives the numbers (and they are only an upper bound: generation may stop at EOS).
    """
    keys = ("max_new_tokens", "max_length")
    explicit = any(generation_args.get(k) is not None for k in keys)
    config = model.model.generation_config
    source = generation_args if explicit else {k: getattr(config, k, None) for k in keys}
    if source.get("max_new_tokens") is not None:
        new = int(source["max_new_tokens"])
        return (new + 1 if model.is_encoder_decoder else new), explicit
    max_length = int(source.get("max_length") or 20)
    return (max_length if model.is_encoder_decoder else max(0, max_length - prompt_length)), explicit


def fit_length(
    ids: list[int], limit: int | None, reserve: int, what: str, truncate: bool, keep_end: bool
) -> list[int]:
    """Return ``ids`` if ``len(ids) + reserve`` fits in ``limit`` positions; else truncate (opt-in) or raise.

    Args:
        ids: token ids of one input.
        limit: the model's maximum positions (None: no limit).
        reserve: positions needed after the input (tokens to generate).
        what: how to name the input in messages, e.g. ``"input_texts[0]"``.
        truncate: drop tokens instead of raising.
        keep_end: drop tokens from the start (decoder-only prompts) rather than from the end.

    Raises:
        InputTooLongError: the input does not fit and ``truncate`` is False, or nothing would be left of it.

    Example:
        >>> fit_length([1, 2, 3], 4, 0, "input_texts[0]", False, True)
        [1, 2, 3]
    """
    if limit is None or len(ids) + reserve <= limit:
        return ids
    room = limit - reserve
    extra = f" plus {reserve} generated tokens" if reserve else ""
    if not truncate or room < 1:
        ways = ["pass truncate_inputs=True to attribute() to truncate it"] if room >= 1 and not truncate else []
        ways += ["lower max_new_tokens"] if reserve else []
        hint = (" " + " or ".join(ways) + ".") if ways else ""
        raise InputTooLongError(
            f"{what} has {len(ids)} tokens{extra}, {len(ids) + reserve} positions in all, but the model accepts at "
            f"most {limit} positions.{hint[:2].upper() + hint[2:] if hint else ''}"
        )
    warnings.warn(f"{what} was truncated from {len(ids)} to {room} tokens to fit {limit} positions.", stacklevel=4)
    return ids[-room:] if keep_end else ids[:room]


def fit_prompts(
    model: Any,
    prompts: list[list[int]],
    generation_args: dict[str, Any] | None,
    truncate: bool = False,
    name: str = "input_texts",
) -> list[list[int]]:
    """Check the generation arguments (when generating) and fit every prompt or source to the model's positions.

    Decoder-only prompts must leave room for the generated tokens and keep their end when truncated;
    encoder-decoder sources keep their start, and the decoder must fit the tokens to generate.
    """
    limit = max_positions(model)
    generating = generation_args is not None
    if generating:
        check_generation_args(model, generation_args)
    out = []
    for i, ids in enumerate(prompts):
        budget, explicit = new_tokens_budget(model, generation_args, len(ids)) if generating else (0, False)
        if model.is_encoder_decoder:
            if explicit and limit is not None and budget > limit:
                raise InputTooLongError(
                    f"Generating {budget - 1} tokens needs {budget} decoder positions, but the model accepts at most "
                    f"{limit}: lower max_new_tokens (or max_length)."
                )
            out.append(fit_length(ids, limit, 0, f"{name}[{i}]", truncate, keep_end=False))
            continue
        if not explicit and limit is not None:  # defaults of the generation config never make a prompt refused
            budget = min(budget, max(limit - len(ids), 0))
        out.append(fit_length(ids, limit, budget, f"{name}[{i}]", truncate, keep_end=True))
    return out


def check_target_length(model: Any, ids: list[int], index: int) -> list[int]:
    """Refuse a forced target (``generated_texts[index]``) longer than the model's positions."""
    limit = max_positions(model)
    if limit is not None and len(ids) > limit:
        raise InputTooLongError(
            f"generated_texts[{index}] has {len(ids)} tokens, but the model accepts at most {limit} positions: "
            "shorten the target text."
        )
    return ids

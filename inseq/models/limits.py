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


def new_tokens_budget(model: Any, generation_args: dict[str, Any], prompt_length: int) -> int:
    """How many positions generation may add after a prompt of ``prompt_length`` tokens (an upper bound)."""
    if generation_args.get("max_new_tokens") is not None:
        return int(generation_args["max_new_tokens"])
    config = model.model.generation_config
    if getattr(config, "max_new_tokens", None) is not None and "max_length" not in generation_args:
        return int(config.max_new_tokens)
    max_length = generation_args.get("max_length") or getattr(config, "max_length", None) or 20
    return max(0, int(max_length) - (0 if model.is_encoder_decoder else prompt_length))


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
        hint = " Pass truncate_inputs=True to attribute() to truncate it" if room >= 1 else ""
        hint += ", or lower max_new_tokens." if reserve else "."
        raise InputTooLongError(
            f"{what} has {len(ids)} tokens{extra}, {len(ids) + reserve} positions in all, but the model accepts at "
            f"most {limit} positions.{hint if room >= 1 or reserve else ''}"
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
        budget = new_tokens_budget(model, generation_args, len(ids)) if generating else 0
        if model.is_encoder_decoder:
            if generating and limit is not None and budget + 1 > limit:
                raise InputTooLongError(
                    f"Generating {budget} tokens needs {budget + 1} decoder positions, but the model accepts at most "
                    f"{limit}: lower max_new_tokens (or max_length)."
                )
            out.append(fit_length(ids, limit, 0, f"{name}[{i}]", truncate, keep_end=False))
        else:
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

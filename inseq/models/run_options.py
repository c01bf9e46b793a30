"""What the library's run features (``inseq.context``, ``inseq.pipelines``) share about models and their options:
the choices offered for methods, step functions and aggregators, loading a model from run options, and generation
arguments for multilingual tokenizers.

Example:
    >>> from inseq.models.run_options import attribution_method_choices
    >>> "saliency" in attribution_method_choices()
    True
"""

from __future__ import annotations

from typing import Any

from ..attr import list_feature_attribution_methods, list_step_functions
from ..data import list_aggregation_functions, list_aggregators
from ..utils.errors import InseqError
from .attribution_model import AttributionModel
from .huggingface_model import get_default_device


def attribution_method_choices() -> list[str]:
    """Identifiers valid for an attribution method option."""
    return list_feature_attribution_methods()


def step_function_choices() -> list[str]:
    """Identifiers valid for a step function option."""
    return list_step_functions()


def aggregator_choices() -> list[str]:
    """Identifiers valid for an aggregator option (aggregators and aggregation functions)."""
    return list(list_aggregators()) + list(list_aggregation_functions())


def default_device() -> str:
    """The default device option."""
    return get_default_device()


def load_model_from_options(
    model_name_or_path: Any,
    attribution_method: str | None,
    device: str | None,
    model_kwargs: dict[str, Any] | None,
    tokenizer_kwargs: dict[str, Any] | None,
    error: type[InseqError] = InseqError,
) -> AttributionModel:
    """An already loaded model, or the model loaded from ``model_name_or_path`` with the given options.

    Raises:
        error: when no model is given.

    Example:
        >>> model = load_model_from_options("gpt2", "saliency", "cpu", {}, {})  # doctest: +SKIP
    """
    from . import load_model

    if isinstance(model_name_or_path, AttributionModel):
        return model_name_or_path
    if model_name_or_path is None or (isinstance(model_name_or_path, str) and not model_name_or_path.strip()):
        raise error("No model given: pass model_name_or_path (--model_name_or_path/-m).")
    return load_model(
        model_name_or_path,
        attribution_method,
        device=device,
        model_kwargs=dict(model_kwargs or {}),
        tokenizer_kwargs=dict(tokenizer_kwargs or {}),
    )


def generation_kwargs_with_language(
    model: AttributionModel, generation_kwargs: dict[str, Any] | None, tokenizer_kwargs: dict[str, Any] | None
) -> dict[str, Any]:
    """Generation kwargs with ``forced_bos_token_id`` set from a ``tgt_lang`` tokenizer kwarg (mBART, NLLB).

    Example:
        >>> generation_kwargs_with_language(model, {"max_new_tokens": 5}, {})  # doctest: +SKIP
        {'max_new_tokens': 5}
    """
    gen = dict(generation_kwargs or {})
    tgt_lang = (tokenizer_kwargs or {}).get("tgt_lang")
    if tgt_lang and "forced_bos_token_id" not in gen:
        tokenizer = model.tokenizer
        lang_ids = getattr(tokenizer, "lang_code_to_id", None)
        token_id = lang_ids.get(tgt_lang) if isinstance(lang_ids, dict) else None
        gen["forced_bos_token_id"] = token_id if token_id is not None else tokenizer.convert_tokens_to_ids(tgt_lang)
    return gen

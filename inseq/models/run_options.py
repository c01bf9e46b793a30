"""What the library's run features (``inseq.context``, ``inseq.pipelines``) share about models and their options:
the choices offered for methods, step functions and aggregators, loading a model from run options, and generation
arguments for multilingual tokenizers.

Example:
    >>> from inseq.models.run_options import attribution_method_choices
    >>> "saliency" in attribution_method_choices()
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..utils.errors import InseqError
from ..utils.options import cli_arg

if TYPE_CHECKING:
    from .attribution_model import AttributionModel

# The option dataclass below is importable without torch (the command line builds its parser from it): the choices
# and the default device are computed when asked for.


def attribution_method_choices() -> list[str]:
    """Identifiers valid for an attribution method option."""
    from ..attr import list_feature_attribution_methods

    return list_feature_attribution_methods()


def step_function_choices() -> list[str]:
    """Identifiers valid for a step function option."""
    from ..attr import list_step_functions

    return list_step_functions()


def aggregator_choices() -> list[str]:
    """Identifiers valid for an aggregator option (aggregators and aggregation functions)."""
    from ..data import list_aggregation_functions, list_aggregators

    return list(list_aggregators()) + list(list_aggregation_functions())


def default_device() -> str:
    """The default device option."""
    from ..utils.torch_utils import get_default_device

    return get_default_device()


def no_model_given(model_name_or_path: Any) -> bool:
    """Whether a model option is missing: None or a blank string.

    Example:
        >>> no_model_given("  "), no_model_given("gpt2")
        (True, False)
    """
    return model_name_or_path is None or (isinstance(model_name_or_path, str) and not model_name_or_path.strip())


def load_model_from_args(args: AttributeBaseArgs, error: type[InseqError] = InseqError) -> AttributionModel:
    """The model of run options: an already loaded one, or the one loaded from ``args.model_name_or_path``.

    Raises:
        error: when no model is given.

    Example:
        >>> model = load_model_from_args(AttributeBaseArgs(model_name_or_path="gpt2"))  # doctest: +SKIP
    """
    from . import load_model
    from .attribution_model import AttributionModel

    if isinstance(args.model_name_or_path, AttributionModel):
        return args.model_name_or_path
    if no_model_given(args.model_name_or_path):
        raise error("No model given: pass model_name_or_path (--model_name_or_path/-m).")
    return load_model(
        args.model_name_or_path,
        args.attribution_method,
        device=args.device,
        model_kwargs=dict(args.model_kwargs or {}),
        tokenizer_kwargs=dict(args.tokenizer_kwargs or {}),
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


@dataclass
class AttributeBaseArgs:
    """Model, attribution method and aggregation options shared by every run (CLI commands, PECoRe, datasets)."""

    model_name_or_path: Any = cli_arg(
        default=None,
        aliases=["-m"],
        required=True,
        help="Model id on the HuggingFace Hub or local model folder (in Python, also a loaded model).",
    )
    attribution_method: str | None = cli_arg(
        default="saliency",
        aliases=["-a"],
        choices=attribution_method_choices,
        help="Feature attribution method to use.",
    )
    device: str = cli_arg(
        default_factory=default_device,
        aliases=["--dev"],
        help="Device for the model (cpu, cuda, cuda:1...; default: cuda when available, else cpu).",
    )
    attributed_fn: str | None = cli_arg(
        default=None,
        aliases=["-fn"],
        choices=step_function_choices,
        help="Step function used as attribution target (default: probability).",
    )
    attribution_selectors: list[int] | None = cli_arg(
        default=None, help="Indices of the last attribution dimension to select, one per aggregator (select_idx)."
    )
    attribution_aggregators: list[str] | None = cli_arg(
        default=None,
        choices=aggregator_choices,
        help="Aggregators or aggregation functions applied to the attributions before saving, in order.",
    )
    normalize_attributions: bool = cli_arg(default=False, help="Normalize the attributions when aggregating.")
    rescale_attributions: bool = cli_arg(default=False, help="Rescale the attributions when aggregating.")
    model_kwargs: dict = cli_arg(default_factory=dict, help="JSON of keyword arguments for model loading.")
    tokenizer_kwargs: dict = cli_arg(
        default_factory=dict, help="JSON of keyword arguments for the tokenizer (tgt_lang sets forced_bos_token_id)."
    )
    generation_kwargs: dict = cli_arg(
        default_factory=dict, help="JSON of keyword arguments for model.generate, e.g. '{\"max_new_tokens\": 10}'."
    )
    attribution_kwargs: dict = cli_arg(
        default_factory=dict, help="JSON of keyword arguments for the attribution method and attributed function."
    )

"""Per-architecture module names for methods that reach inside the model (inseq 0.7's ``model_config.yaml``).

:data:`MODEL_CONFIGS` maps a model class name (``"GPT2LMHeadModel"``) to its :class:`ModelConfig`; it starts with
inseq 0.7's 44 configurations and is a mutable mapping (``register_model_config`` adds to it, ``del`` removes).
:func:`get_model_config` returns the configuration of a class name; for a class it does not know it warns and returns
:data:`DEFAULT_DECODER_ONLY_CONFIG` or :data:`DEFAULT_ENCODER_DECODER_CONFIG`, as inseq 0.7 does.

Here the methods find layers, attention modules and value projections by inspecting the model, so the built-in and
default configurations are descriptive: only a configuration you register (or set in :data:`MODEL_CONFIGS`) overrides
what inspection finds.

Example:
    >>> get_model_config("LlamaForCausalLM").value_vector
    'value_states'
    >>> "GPT2LMHeadModel" in MODEL_CONFIGS
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from ..utils.checks import check_bool, describe
from ..utils.errors import InvalidArgumentTypeError

__all__ = [
    "DEFAULT_DECODER_ONLY_CONFIG",
    "DEFAULT_ENCODER_DECODER_CONFIG",
    "MODEL_CONFIGS",
    "ModelConfig",
    "get_model_config",
    "is_builtin_config",
    "register_model_config",
]


@dataclass(frozen=True)
class ModelConfig:
    """Names of the modules that internals-based methods (e.g. ``value_zeroing``) act on.

    Attributes:
        self_attention_module: Attribute name of the self-attention module inside each layer (e.g. ``"attn"``).
        value_vector: Name of the value projection or value tensor (e.g. ``"v_proj"`` or ``"value_states"``).
        cross_attention_module: Attribute name of the cross-attention module (encoder-decoder models).
    """

    self_attention_module: str | None
    value_vector: str | None
    cross_attention_module: str | None = None


def _table(names: str, *config: str | None) -> dict[str, ModelConfig]:
    return {name: ModelConfig(*config) for name in names.split()}


#: inseq 0.7's configurations (``model_config.yaml``), by model class name.
BUILTIN_MODEL_CONFIGS: MappingProxyType[str, ModelConfig] = MappingProxyType(
    {
        **_table(
            "BioGptForCausalLM CohereForCausalLM GemmaForCausalLM Gemma2ForCausalLM Gemma3ForCausalLM "
            "GraniteForCausalLM GraniteMoeForCausalLM LlamaForCausalLM MistralForCausalLM MixtralForCausalLM "
            "NemotronForCausalLM OlmoForCausalLM OlmoeForCausalLM OPTForCausalLM PhiForCausalLM Phi3ForCausalLM "
            "Qwen2ForCausalLM Qwen2MoeForCausalLM StableLmForCausalLM StarCoder2ForCausalLM XGLMForCausalLM",
            "self_attn",
            "value_states",
        ),
        **_table("BloomForCausalLM FalconForCausalLM", "self_attention", "value_layer"),
        **_table(
            "CodeGenForCausalLM GPTBigCodeForCausalLM GPTJForCausalLM GPT2LMHeadModel GPTNeoForCausalLM "
            "OpenAIGPTLMHeadModel",
            "attn",
            "value",
        ),
        **_table("DbrxForCausalLM MptForCausalLM", "attn", "value_states"),
        **_table("GPTNeoXForCausalLM", "attention", "value"),
        **_table(
            "BartForConditionalGeneration MarianMTModel M2M100ForConditionalGeneration MBartForConditionalGeneration "
            "PegasusForConditionalGeneration",
            "self_attn",
            "value_states",
            "encoder_attn",
        ),
        **_table("FSMTForConditionalGeneration", "self_attn", "v", "encoder_attn"),
        **_table(
            "MT5ForConditionalGeneration T5ForConditionalGeneration UMT5ForConditionalGeneration",
            "SelfAttention",
            "value_states",
            "EncDecAttention",
        ),
        **_table("NllbMoeForConditionalGeneration", "self_attn", "value_states", "cross_attention"),
        **_table("SeamlessM4TForTextToText SeamlessM4Tv2ForTextToText", "self_attn", "value", "cross_attention"),
    }
)

#: inseq 0.7's fallback names for decoder-only models without a configuration.
DEFAULT_DECODER_ONLY_CONFIG = ModelConfig(self_attention_module="attn", value_vector="value")
#: inseq 0.7's fallback names for encoder-decoder models without a configuration.
DEFAULT_ENCODER_DECODER_CONFIG = ModelConfig(
    self_attention_module="self_attn", value_vector="value", cross_attention_module="cross_attention"
)


class ModelConfigs(MutableMapping):
    """Model class name -> :class:`ModelConfig`: a mutable mapping seeded with :data:`BUILTIN_MODEL_CONFIGS`.

    Example:
        >>> configs = ModelConfigs()
        >>> del configs["GPT2LMHeadModel"]
        >>> "GPT2LMHeadModel" in configs, len(configs)
        (False, 43)
    """

    def __init__(self) -> None:
        self._items: dict[str, ModelConfig] = dict(BUILTIN_MODEL_CONFIGS)

    def __getitem__(self, model_type: str) -> ModelConfig:
        try:
            return self._items[model_type]
        except KeyError:
            raise KeyError(
                f"No model configuration for {model_type!r}; register one with inseq.register_model_config."
            ) from None

    def __setitem__(self, model_type: str, config: ModelConfig) -> None:
        if not isinstance(model_type, str) or not model_type:
            raise InvalidArgumentTypeError(
                f"A model configuration key must be a class name (str), got {describe(model_type)}."
            )
        if not isinstance(config, ModelConfig):
            raise InvalidArgumentTypeError(
                f"MODEL_CONFIGS[{model_type!r}] must be a ModelConfig, got {describe(config)}."
            )
        self._items[model_type] = config

    def __delitem__(self, model_type: str) -> None:
        del self._items[model_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ModelConfigs({len(self)} configurations)"


#: The configurations in use (inseq 0.7's ``MODEL_CONFIGS``).
MODEL_CONFIGS = ModelConfigs()


def is_builtin_config(config: ModelConfig | None) -> bool:
    """Whether ``config`` is one of inseq 0.7's built-in or default configurations (not one a user registered).

    Example:
        >>> is_builtin_config(get_model_config("GPT2LMHeadModel")), is_builtin_config(ModelConfig("attn", "v_proj"))
        (True, False)
    """
    if config is DEFAULT_DECODER_ONLY_CONFIG or config is DEFAULT_ENCODER_DECODER_CONFIG:
        return True
    return any(config is builtin for builtin in BUILTIN_MODEL_CONFIGS.values())


def register_model_config(model_type: str, config: dict, overwrite: bool = False, allow_partial: bool = False) -> None:
    """Register a :class:`ModelConfig` for a model class name.

    Args:
        model_type: The model class name, e.g. ``"GPT2LMHeadModel"``.
        config: A dict with the fields of :class:`ModelConfig`.
        overwrite: Replace an existing configuration (built-in ones included; a warning says so).
        allow_partial: Accept a dict missing some fields (they are set to None).

    Raises:
        ValueError: If the type is already registered without ``overwrite``, if a field is unknown, or if fields are
            missing without ``allow_partial``.

    Example:
        >>> import inseq
        >>> inseq.register_model_config(
        ...     "MyModelForCausalLM", {"self_attention_module": "attn", "value_vector": "v_proj"}, allow_partial=True
        ... )
    """
    _check_config_types(model_type, config)
    check_bool("overwrite", overwrite)
    check_bool("allow_partial", allow_partial)
    names = {f.name for f in fields(ModelConfig)}
    unknown = set(config) - names
    if unknown:
        raise ValueError(f"Unknown model configuration fields {sorted(unknown)}; valid fields: {sorted(names)}.")
    missing = names - set(config)
    if missing and not allow_partial:
        raise ValueError(
            f"The configuration for {model_type!r} is missing {sorted(missing)}. Pass allow_partial=True to leave "
            "them unset."
        )
    if model_type in MODEL_CONFIGS:
        if not overwrite:
            raise ValueError(f"Model configuration {model_type!r} is already registered. Use overwrite=True.")
        warnings.warn(f"Overwriting the model configuration of {model_type!r}.", stacklevel=2)
    MODEL_CONFIGS[model_type] = ModelConfig(**{name: config.get(name) for name in sorted(names)})


def _check_config_types(model_type: object, config: object) -> None:
    if not isinstance(model_type, str) or not model_type:
        raise InvalidArgumentTypeError(f"model_type must be a model class name (str), got {describe(model_type)}.")
    if not isinstance(config, dict):
        raise InvalidArgumentTypeError(f"config must be a dict of ModelConfig fields, got {describe(config)}.")
    for key, value in config.items():
        if value is not None and (not isinstance(value, str) or not all(p.isidentifier() for p in value.split("."))):
            raise InvalidArgumentTypeError(
                f"config[{key!r}] must be a module attribute name (str) or None, got {describe(value)}."
            )


def get_model_config(model_type: str, is_encoder_decoder: bool | None = None) -> ModelConfig | None:
    """The configuration of the model class ``model_type``.

    For a class without a configuration: with ``is_encoder_decoder`` given (a method that needs the configuration
    asks), a ``UserWarning`` says so and the matching default configuration is returned, as in inseq 0.7; without it
    (the architecture is unknown to the caller) the result is None and the model is inspected instead.

    Example:
        >>> get_model_config("T5ForConditionalGeneration").cross_attention_module
        'EncDecAttention'
        >>> get_model_config("NoSuchModel") is None
        True
    """
    if model_type in MODEL_CONFIGS:
        return MODEL_CONFIGS[model_type]
    if is_encoder_decoder is None:
        return None
    kind = "encoder-decoder" if is_encoder_decoder else "decoder-only"
    warnings.warn(
        f"Model configuration for {model_type!r} not found. Using default {kind} configuration; here its module names "
        "are only hints: layers, attention modules and value projections are found by inspecting the model. Register "
        "a configuration with inseq.register_model_config to override them.",
        UserWarning,
        stacklevel=2,
    )
    return DEFAULT_ENCODER_DECODER_CONFIG if is_encoder_decoder else DEFAULT_DECODER_ONLY_CONFIG


def check_model_config(model: Any) -> ModelConfig | None:
    """The configuration a method reaching inside ``model`` uses (warning for unknown architectures).

    Returns None for the built-in and default configurations (inspection finds the modules), else the user's.
    """
    is_enc_dec = bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))
    config = get_model_config(type(model).__name__, is_encoder_decoder=is_enc_dec)
    return None if is_builtin_config(config) else config

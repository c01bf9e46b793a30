"""Per-architecture overrides for methods that reach inside the model (``register_model_config``).

inseq 0.7 needed a hand-kept table of module and variable names for every architecture. Here the methods find
attention modules by inspecting the model, so a configuration is only an override for unusual models.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..utils.checks import check_bool, describe
from ..utils.errors import InvalidArgumentTypeError
from ..utils.registry import Registry


@dataclass
class ModelConfig:
    """Names of the modules that internals-based methods (e.g. ``value_zeroing``) act on.

    Attributes:
        self_attention_module: Attribute name of the self-attention module inside each layer (e.g. ``"attn"``).
        value_vector: Name of the value projection or value tensor (e.g. ``"v_proj"`` or ``"value"``).
        cross_attention_module: Attribute name of the cross-attention module (encoder-decoder models).
    """

    self_attention_module: str | None = None
    value_vector: str | None = None
    cross_attention_module: str | None = None


MODEL_CONFIGS: Registry[ModelConfig] = Registry("model configuration")


def register_model_config(model_type: str, config: dict, overwrite: bool = False, allow_partial: bool = False) -> None:
    """Register a :class:`ModelConfig` for a model class name.

    Args:
        model_type: The model class name, e.g. ``"GPT2LMHeadModel"``.
        config: A dict with the fields of :class:`ModelConfig`.
        overwrite: Replace an existing configuration.
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
    MODEL_CONFIGS.register(model_type, ModelConfig(**config), overwrite=overwrite)


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


def get_model_config(model_type: str) -> ModelConfig | None:
    """The configuration registered for ``model_type``, or None."""
    return MODEL_CONFIGS.get(model_type) if model_type in MODEL_CONFIGS else None

"""Models: loading and the adapters for decoder-only and encoder-decoder architectures."""

from __future__ import annotations

from typing import Any

from ..data.batch import AttributionBatch, BatchEncoding
from .attribution_model import AttributionModel
from .decoder_only import HuggingfaceDecoderOnlyModel
from .encoder_decoder import HuggingfaceEncoderDecoderModel
from .huggingface_model import HuggingfaceModel, get_default_device
from .loading import check_load_args
from .model_config import ModelConfig, register_model_config

FRAMEWORKS_MAP = {"hf_transformers": HuggingfaceModel}

# inseq 0.7 names of the architecture classes (kept for imports and isinstance checks)
DecoderOnlyAttributionModel = HuggingfaceDecoderOnlyModel
EncoderDecoderAttributionModel = HuggingfaceEncoderDecoderModel


def list_supported_frameworks() -> list[str]:
    """List the supported modeling frameworks.

    Example:
        >>> import inseq
        >>> inseq.list_supported_frameworks()
        ['hf_transformers']
    """
    return list(FRAMEWORKS_MAP)


def load_model(
    model: Any, attribution_method: str | None = None, framework: str = "hf_transformers", **kwargs: Any
) -> AttributionModel:
    """Load a model for attribution.

    Args:
        model: A hub model id, a local folder, or a ``PreTrainedModel`` instance (then pass ``tokenizer=``).
        attribution_method: Default attribution method id (see :func:`inseq.list_feature_attribution_methods`).
        framework: Only ``"hf_transformers"`` is supported.
        **kwargs: ``tokenizer``, ``device``, ``model_kwargs``, ``tokenizer_kwargs``, and options of the method.

    Returns:
        A decoder-only or encoder-decoder :class:`AttributionModel`, chosen from the model's configuration.

    Example:
        >>> import inseq
        >>> model = inseq.load_model(inseq.examples.get_example_model_path("toy-gpt2-ioi"), "saliency")  # doctest: +SKIP
    """
    model = check_load_args(model, attribution_method, framework, list_supported_frameworks(), kwargs)
    if attribution_method is not None:
        from ..attr.feat import list_feature_attribution_methods
        from ..utils.errors import UnknownAttributionMethodError

        if attribution_method not in list_feature_attribution_methods():
            raise UnknownAttributionMethodError(attribution_method, list_feature_attribution_methods())
    return FRAMEWORKS_MAP[framework].load(model, attribution_method, **kwargs)


__all__ = [
    "AttributionBatch",
    "AttributionModel",
    "BatchEncoding",
    "DecoderOnlyAttributionModel",
    "EncoderDecoderAttributionModel",
    "HuggingfaceDecoderOnlyModel",
    "HuggingfaceEncoderDecoderModel",
    "HuggingfaceModel",
    "ModelConfig",
    "get_default_device",
    "list_supported_frameworks",
    "load_model",
    "register_model_config",
]

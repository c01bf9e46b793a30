"""Models: loading and the adapters for decoder-only and encoder-decoder architectures (loaded on first use).

Example:
    >>> import inseq
    >>> inseq.models.list_supported_frameworks()
    ['hf_transformers']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..utils.lazy import lazy_exports, resolve

if TYPE_CHECKING:
    from .attribution_model import AttributionModel

_EXPORTS = {
    "AttributionBatch": "..data.batch:AttributionBatch",
    "BatchEncoding": "..data.batch:BatchEncoding",
    "AttributionModel": ".attribution_model:AttributionModel",
    "HuggingfaceDecoderOnlyModel": ".decoder_only:HuggingfaceDecoderOnlyModel",
    "HuggingfaceEncoderDecoderModel": ".encoder_decoder:HuggingfaceEncoderDecoderModel",
    "HuggingfaceModel": ".huggingface_model:HuggingfaceModel",
    "get_default_device": "..utils.torch_utils:get_default_device",
    "ModelConfig": ".model_config:ModelConfig",
    "register_model_config": ".model_config:register_model_config",
}
_lazy_getattr, __dir__ = lazy_exports(__name__, _EXPORTS)

#: Supported frameworks -> ``"module:class"`` of their model class.
_FRAMEWORKS = {"hf_transformers": ".huggingface_model:HuggingfaceModel"}


def __getattr__(name: str) -> Any:
    if name == "FRAMEWORKS_MAP":  # framework -> model class, as in inseq 0.7
        return {key: resolve(target, __name__) for key, target in _FRAMEWORKS.items()}
    return _lazy_getattr(name)


def list_supported_frameworks() -> list[str]:
    """List the supported modeling frameworks.

    Example:
        >>> import inseq
        >>> inseq.list_supported_frameworks()
        ['hf_transformers']
    """
    return list(_FRAMEWORKS)


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
    from ..attr.feat import list_feature_attribution_methods
    from ..utils.errors import UnknownAttributionMethodError
    from .loading import check_load_args

    model = check_load_args(model, attribution_method, framework, list_supported_frameworks(), kwargs)
    if attribution_method is not None and attribution_method not in list_feature_attribution_methods():
        raise UnknownAttributionMethodError(attribution_method, list_feature_attribution_methods())
    return resolve(_FRAMEWORKS[framework], __name__).load(model, attribution_method, **kwargs)


__all__ = [
    "AttributionBatch",
    "AttributionModel",
    "BatchEncoding",
    "HuggingfaceDecoderOnlyModel",
    "HuggingfaceEncoderDecoderModel",
    "HuggingfaceModel",
    "ModelConfig",
    "get_default_device",
    "list_supported_frameworks",
    "load_model",
    "register_model_config",
]

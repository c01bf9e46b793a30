"""inseq: interpretability for sequence generation models.

Example:
    >>> import inseq
    >>> model = inseq.load_model("gpt2", "integrated_gradients")  # doctest: +SKIP
    >>> out = model.attribute("Hello, my name is", generation_args={"max_new_tokens": 5})  # doctest: +SKIP
    >>> out.show()  # doctest: +SKIP
"""

from __future__ import annotations

from .attr import list_feature_attribution_methods, list_step_functions, register_step_function
from .context import attribute_context
from .data import (
    FeatureAttributionOutput,
    list_aggregation_functions,
    list_aggregators,
    merge_attributions,
)
from .evaluate import FaithfulnessOutput, evaluate, list_faithfulness_metrics
from .explain import explain
from .models import AttributionModel, list_supported_frameworks, load_model, register_model_config
from .pipelines import attribute_dataset
from .sources import SourceAttributionOutput, attribute_sources, load_source_attributions


def get_version() -> str:
    """Return the installed version of inseq (``"unknown"`` when it is not installed as a package).

    Example:
        >>> import inseq
        >>> isinstance(inseq.get_version(), str)
        True
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inseq")
    except PackageNotFoundError:
        return "unknown"


def __getattr__(name: str):
    # Sub-packages with heavier imports load on first use: inseq.examples, inseq.testing, the views.
    import importlib

    if name in ("examples", "testing", "faithfulness", "viz"):
        return importlib.import_module(f".{name}", __name__)
    if name in ("show_attributions", "show_granular_attributions", "show_token_attributions"):
        return getattr(importlib.import_module(".viz", __name__), name)  # rich loads on first use
    raise AttributeError(f"module 'inseq' has no attribute {name!r}")


__all__ = [
    "AttributionModel",
    "FeatureAttributionOutput",
    "attribute_context",
    "attribute_dataset",
    "attribute_sources",
    "load_source_attributions",
    "SourceAttributionOutput",
    "evaluate",
    "FaithfulnessOutput",
    "list_faithfulness_metrics",
    "explain",
    "get_version",
    "list_aggregation_functions",
    "list_aggregators",
    "list_feature_attribution_methods",
    "list_step_functions",
    "list_supported_frameworks",
    "load_model",
    "merge_attributions",
    "register_model_config",
    "register_step_function",
    "show_attributions",
    "show_granular_attributions",
    "show_token_attributions",
]

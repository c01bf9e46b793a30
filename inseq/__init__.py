"""inseq: interpretability for sequence generation models.

``import inseq`` is cheap: it imports neither torch nor transformers. Every public name is loaded on first use (the
first :func:`load_model` pays for torch and transformers), and inseq 0.7's module paths are served from the
compatibility table of :mod:`inseq.utils.compat`.

Example:
    >>> import inseq
    >>> model = inseq.load_model("gpt2", "integrated_gradients")  # doctest: +SKIP
    >>> out = model.attribute("Hello, my name is", generation_args={"max_new_tokens": 5})  # doctest: +SKIP
    >>> out.show()  # doctest: +SKIP
"""

from __future__ import annotations

import sys as _sys
import types as _types
from typing import Any

from .utils.compat import install as _install_compat
from .utils.lazy import lazy_exports as _lazy_exports

_install_compat()

#: Public names -> their home (imported on first use).
_EXPORTS = {
    "AttributionModel": ".models:AttributionModel",
    "FaithfulnessOutput": ".evaluate:FaithfulnessOutput",
    "FeatureAttributionOutput": ".data:FeatureAttributionOutput",
    "attribute_context": ".context:attribute_context",
    "attribute_dataset": ".pipelines:attribute_dataset",
    "attribute_sources": ".sources:attribute_sources",
    "load_source_attributions": ".sources:load_source_attributions",
    "SourceAttributionOutput": ".sources:SourceAttributionOutput",
    "evaluate": ".evaluate:evaluate",
    "explain": ".explain:explain",
    "list_aggregation_functions": ".data:list_aggregation_functions",
    "list_aggregators": ".data:list_aggregators",
    "list_faithfulness_metrics": ".evaluate:list_faithfulness_metrics",
    "list_feature_attribution_methods": ".attr:list_feature_attribution_methods",
    "list_step_functions": ".attr:list_step_functions",
    "list_supported_frameworks": ".models:list_supported_frameworks",
    "load_model": ".models:load_model",
    "merge_attributions": ".data:merge_attributions",
    "register_model_config": ".models:register_model_config",
    "register_step_function": ".attr:register_step_function",
    "show_attributions": ".viz:show_attributions",
    "show_granular_attributions": ".viz:show_granular_attributions",
    "show_token_attributions": ".viz:show_token_attributions",
}
#: Sub-packages reachable as attributes (``inseq.examples.get_example_model_path``), imported on first use; a public
#: name wins over a sub-package of the same name (``inseq.evaluate`` is the function).
_SUBPACKAGES = (
    "attr",
    "commands",
    "context",
    "data",
    "evaluate",
    "examples",
    "models",
    "pipelines",
    "sources",
    "testing",
    "viz",
)
#: Names whose first use also imports the features that models expose as methods (``model.evaluate``).
_MODEL_NAMES = ("AttributionModel", "load_model")
#: Feature packages registering model methods (``inseq.utils.features.MODEL_FEATURES``) when imported.
_MODEL_FEATURE_PACKAGES = (".evaluate", ".sources")

_resolve, _list = _lazy_exports(__name__, {**{name: f".{name}" for name in _SUBPACKAGES}, **_EXPORTS})


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


def __getattr__(name: str) -> Any:
    value = _resolve(name)
    if name in _MODEL_NAMES:
        import importlib

        for package in _MODEL_FEATURE_PACKAGES:
            importlib.import_module(package, __name__)
    return value


def __dir__() -> list[str]:
    return sorted(set(_list()) | {"get_version"})


class _Face(_types.ModuleType):
    """The ``inseq`` module: importing the sub-package ``inseq.evaluate`` keeps ``inseq.evaluate`` the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, _types.ModuleType) and name in _EXPORTS:
            return  # Python sets each imported sub-package on its parent; the public function of that name stays
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Face


__all__ = [
    "AttributionModel",
    "FaithfulnessOutput",
    "FeatureAttributionOutput",
    "attribute_context",
    "attribute_dataset",
    "attribute_sources",
    "load_source_attributions",
    "SourceAttributionOutput",
    "evaluate",
    "explain",
    "get_version",
    "list_aggregation_functions",
    "list_aggregators",
    "list_faithfulness_metrics",
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

"""Features built on top of the models that model objects expose as methods (e.g. ``model.evaluate(out)``).

A feature package (``inseq.evaluate``) sits above ``inseq.models`` in the layering, so the model class cannot import
it. Instead the feature registers its entry point here when it is imported (the public face imports it), and the
model method looks it up: the dependency points down, never up.

Example:
    >>> from inseq.utils.features import MODEL_FEATURES, call_model_feature
    >>> MODEL_FEATURES.register("echo_example", lambda model, x: (model, x), overwrite=True)
    >>> call_model_feature("echo_example", "model", 1)
    ('model', 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import InseqError
from .registry import Registry

#: Entry points of features callable as model methods, by name.
MODEL_FEATURES: Registry[Callable[..., Any]] = Registry("model feature")
#: The package registering each built-in feature, imported on first use (names only: no import edge).
FEATURE_PACKAGES = {"evaluate": "inseq.evaluate", "attribute_sources": "inseq.sources.attribute"}


def call_model_feature(name: str, model: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the feature registered as ``name`` with ``model`` first.

    Raises:
        InseqError: when no feature of that name is registered (its package was not imported).
    """
    if name not in MODEL_FEATURES and name in FEATURE_PACKAGES:
        import importlib

        importlib.import_module(FEATURE_PACKAGES[name])
    if name not in MODEL_FEATURES:
        raise InseqError(
            f"The feature {name!r} is not available: import its package first (e.g. `import inseq.{name}`; "
            "`import inseq` imports every feature). Registered features: "
            f"{', '.join(MODEL_FEATURES.keys()) or 'none'}."
        )
    return MODEL_FEATURES.get(name)(model, *args, **kwargs)

"""Whether optional dependencies are installed (inseq 0.7 names), checked without importing them."""

from __future__ import annotations

import importlib.util

__all__ = [
    "is_accelerate_available",
    "is_captum_available",
    "is_datasets_available",
    "is_ipywidgets_available",
    "is_joblib_available",
    "is_nltk_available",
    "is_scikitlearn_available",
    "is_sentencepiece_available",
    "is_transformers_available",
]


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def is_accelerate_available() -> bool:
    """Whether ``accelerate`` (needed for ``device_map``) is installed.

    Example:
        >>> isinstance(is_accelerate_available(), bool)
        True
    """
    return _installed("accelerate")


def is_captum_available() -> bool:
    """Whether ``captum`` is installed.

    Example:
        >>> is_captum_available()  # a dependency of inseq
        True
    """
    return _installed("captum")


def is_datasets_available() -> bool:
    """Whether ``datasets`` (``attribute-dataset`` on hub datasets) is installed.

    Example:
        >>> isinstance(is_datasets_available(), bool)
        True
    """
    return _installed("datasets")


def is_ipywidgets_available() -> bool:
    """Whether ``ipywidgets`` (notebook widgets) is installed.

    Example:
        >>> isinstance(is_ipywidgets_available(), bool)
        True
    """
    return _installed("ipywidgets")


def is_joblib_available() -> bool:
    """Whether ``joblib`` is installed.

    Example:
        >>> isinstance(is_joblib_available(), bool)
        True
    """
    return _installed("joblib")


def is_nltk_available() -> bool:
    """Whether ``nltk`` is installed.

    Example:
        >>> isinstance(is_nltk_available(), bool)
        True
    """
    return _installed("nltk")


def is_scikitlearn_available() -> bool:
    """Whether ``scikit-learn`` is installed.

    Example:
        >>> isinstance(is_scikitlearn_available(), bool)
        True
    """
    return _installed("sklearn")


def is_sentencepiece_available() -> bool:
    """Whether ``sentencepiece`` (and ``protobuf``, which its tokenizers need) are installed.

    Example:
        >>> is_sentencepiece_available()  # a dependency of inseq
        True
    """
    return _installed("sentencepiece") and _installed("google.protobuf")


def is_transformers_available() -> bool:
    """Whether ``transformers`` is installed.

    Example:
        >>> is_transformers_available()  # a dependency of inseq
        True
    """
    return _installed("transformers")

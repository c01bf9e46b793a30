"""Utilities for testing inseq offline: deterministic tiny random models with locally trained tokenizers.

Example:
    >>> from inseq.testing import TINY_MODEL_NAMES, is_encoder_decoder
    >>> [name for name in TINY_MODEL_NAMES if is_encoder_decoder(name)]
    ['bart', 't5', 'marian']
"""

from .tiny_models import (
    TINY_MODEL_NAMES,
    TINY_MODELS_VERSION,
    build_tiny_model,
    default_cache_dir,
    get_tiny_corpus,
    get_tiny_model_path,
    is_encoder_decoder,
    iter_tiny_model_paths,
)

__all__ = [
    "TINY_MODEL_NAMES",
    "TINY_MODELS_VERSION",
    "build_tiny_model",
    "default_cache_dir",
    "get_tiny_corpus",
    "get_tiny_model_path",
    "is_encoder_decoder",
    "iter_tiny_model_paths",
]

"""Utilities shared by every part of inseq."""

from .errors import (
    InseqDeprecationWarning,
    InseqError,
    LengthMismatchError,
    MissingAlignmentsError,
    MissingAttributionMethodError,
    UnknownAttributionMethodError,
)
from .import_utils import (
    is_accelerate_available,
    is_captum_available,
    is_datasets_available,
    is_ipywidgets_available,
    is_joblib_available,
    is_nltk_available,
    is_scikitlearn_available,
    is_sentencepiece_available,
    is_transformers_available,
)
from .misc import (
    extract_signature_args,
    identity_fn,
    isnotebook,
    ordinal_str,
    pretty_dict,
    pretty_list,
    pretty_tensor,
    rgetattr,
)
from .registry import Registry
from .torch_utils import check_device, get_default_device
from .typing import TokenWithId

__all__ = [
    "InseqDeprecationWarning",
    "InseqError",
    "LengthMismatchError",
    "MissingAlignmentsError",
    "MissingAttributionMethodError",
    "Registry",
    "TokenWithId",
    "UnknownAttributionMethodError",
    "check_device",
    "extract_signature_args",
    "get_default_device",
    "identity_fn",
    "is_accelerate_available",
    "is_captum_available",
    "is_datasets_available",
    "is_ipywidgets_available",
    "is_joblib_available",
    "is_nltk_available",
    "is_scikitlearn_available",
    "is_sentencepiece_available",
    "is_transformers_available",
    "isnotebook",
    "ordinal_str",
    "pretty_dict",
    "pretty_list",
    "pretty_tensor",
    "rgetattr",
]

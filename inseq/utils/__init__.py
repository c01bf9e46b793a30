"""Utilities shared by every part of inseq (the leaf layer), loaded on first use.

Example:
    >>> from inseq.utils import pretty_list
    >>> pretty_list([1, 2])
    'list with 2 int elements'
"""

from __future__ import annotations

from .lazy import lazy_exports

_ERRORS = (
    "AttributionFileError DegenerateResultError InputTooLongError InseqDeprecationWarning InseqError "
    "InvalidArgumentError InvalidArgumentTypeError LengthMismatchError MissingAlignmentsError "
    "MissingAttributionMethodError ModelLoadError OutOfRangeError UnknownAttributionMethodError UnknownStepScoreError"
)
_IMPORTS = (
    "is_accelerate_available is_captum_available is_datasets_available is_ipywidgets_available is_joblib_available "
    "is_nltk_available is_scikitlearn_available is_sentencepiece_available is_transformers_available"
)
_MISC = (
    "aggregate_token_pair aggregate_token_sequence bin_str_to_ndarray drop_padding extract_signature_args "
    "find_char_indexes format_input_texts get_module_name_from_object gzip_compress gzip_decompress hashodict "
    "identity_fn isnotebook lists_of_numbers_to_ndarray ndarray_to_bin_str optional ordinal_str pad pretty_dict "
    "pretty_list pretty_tensor rgetattr save_to_file scalar_to_numpy"
)
_TORCH = (
    "aggregate_contiguous check_device convert_from_safetensor convert_to_safetensor euclidean_distance "
    "filter_logits find_block_stack get_default_device get_front_padding get_sequences_from_batched_steps normalize "
    "pad_with_nan recursive_get_submodule remap_from_filtered rescale top_p_logits_mask validate_indices"
)

_EXPORTS: dict[str, str] = {}
for _module, _names in (
    ("errors", _ERRORS),
    ("import_utils", _IMPORTS),
    ("misc", _MISC),
    ("torch_utils", _TORCH),
    ("registry", "Registry available_classes"),
    ("typing", "TokenWithId"),
    ("cache", "INSEQ_HOME_CACHE INSEQ_ARTIFACTS_CACHE cache_results"),
    ("options", "cli_arg"),
    ("alignment_utils", "get_adjusted_alignments get_aligned_idx"),
    ("hooks", "get_post_variable_assignment_hook"),
):
    _EXPORTS.update({name: f".{_module}:{name}" for name in _names.split()})
del _module, _names

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)  # noqa: PLE0605 - the lazy names, listed once in _EXPORTS

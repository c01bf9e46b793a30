"""Bounded, typed reading of attribution files (used by :mod:`inseq.data.serialization`).

Limits (module constants, read at call time):

* :data:`MAX_FILE_BYTES`: the largest file read (1 GiB).
* :data:`MAX_DECOMPRESSED_BYTES`: the most a gzip file may inflate to (1 GiB); decompression is streamed and stops
  as soon as the limit is passed, so a small "gzip bomb" is refused after inflating at most the limit.
* nesting depth: JSON nested deeper than Python's recursion limit is refused with an
  :class:`~inseq.utils.errors.AttributionFileError` instead of a ``RecursionError``.

:func:`check_fields` checks the type of every field of a decoded object against the dataclass schema (e.g. a
``sequence_attributions`` that is a string, or an ``info`` that is a list, is refused).

Example:
    >>> raw = read_limited("out.json.gz")  # doctest: +SKIP
"""

from __future__ import annotations

import sys
import zlib
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from ..utils.errors import AttributionFileError
from ..utils.typing import TokenWithId

__all__ = ["MAX_DECOMPRESSED_BYTES", "MAX_FILE_BYTES", "check_fields", "json_depth_error", "read_limited"]

MAX_FILE_BYTES = 1 << 30
MAX_DECOMPRESSED_BYTES = 1 << 30
_CHUNK = 1 << 20


def read_limited(path: str | PathLike, decompress: bool = False) -> bytes:
    """Read a file (gunzipping it when it is gzip data) within :data:`MAX_FILE_BYTES` / :data:`MAX_DECOMPRESSED_BYTES`.

    Raises:
        AttributionFileError: the path is a folder, the file is too large, inflates past the limit, or is not gzip
            data although ``decompress`` was asked.
    """
    file = Path(path)
    if file.is_dir():
        raise AttributionFileError(f"{path} is a folder; pass the path of an attribution file (.json or .json.gz).")
    size = file.stat().st_size
    limit = sys.modules[__name__].MAX_FILE_BYTES
    if size > limit:
        raise AttributionFileError(f"{path} has {size} bytes, more than the {limit} bytes limit (MAX_FILE_BYTES).")
    raw = file.read_bytes()
    if not (decompress or raw[:2] == b"\x1f\x8b"):
        return raw
    return _gunzip_limited(raw, str(path), sys.modules[__name__].MAX_DECOMPRESSED_BYTES)


def _gunzip_limited(raw: bytes, where: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = bytearray()
    data = raw
    try:
        while data:
            out += inflater.decompress(data, _CHUNK)
            if len(out) > limit:
                raise AttributionFileError(
                    f"{where} inflates to more than {limit} bytes (MAX_DECOMPRESSED_BYTES): refused before "
                    f"decompressing further (a {len(raw)}-byte gzip file)."
                )
            data = inflater.unconsumed_tail
            if inflater.eof and inflater.unused_data:  # concatenated gzip members
                data = inflater.unused_data
                inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    except zlib.error as err:
        raise AttributionFileError(f"{where} is not a valid gzip file ({err}).") from err
    if not inflater.eof:
        raise AttributionFileError(f"{where} is a truncated gzip file.")
    return bytes(out)


def json_depth_error(where: Any, err: RecursionError) -> AttributionFileError:
    """The error for JSON nested deeper than the parser can follow."""
    return AttributionFileError(
        f"{where} is nested deeper than {sys.getrecursionlimit()} levels: not an attribution file (refused)."
    )


def _is_tokens(value: Any, nested: bool) -> bool:
    if not isinstance(value, list):
        return False
    if nested:
        return all(isinstance(row, list) and all(isinstance(t, TokenWithId) for t in row) for row in value)
    return all(isinstance(t, TokenWithId) for t in value)


def _is_tensor_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
    )


def _is_int(value: Any, optional: bool) -> bool:
    return (value is None and optional) or (type(value) is int)


def _field_checks(kind: str) -> dict[str, tuple[str, Any]]:
    tensor = ("a tensor or null", lambda v: v is None or isinstance(v, torch.Tensor))
    tensors = ("an object of tensors or null", lambda v: v is None or _is_tensor_dict(v))
    if kind == "output":
        from .attribution import FeatureAttributionSequenceOutput, FeatureAttributionStepOutput

        return {
            "sequence_attributions": (
                "a list of sequence outputs",
                lambda v: isinstance(v, list) and all(isinstance(s, FeatureAttributionSequenceOutput) for s in v),
            ),
            "step_attributions": (
                "a list of step outputs or null",
                lambda v: (
                    v is None or (isinstance(v, list) and all(isinstance(s, FeatureAttributionStepOutput) for s in v))
                ),
            ),
            "info": ("an object", lambda v: isinstance(v, dict)),
        }
    checks = {
        "source_attributions": tensor,
        "target_attributions": tensor,
        "step_scores": tensors,
        "sequence_scores": tensors,
    }
    if kind == "sequence":
        checks["source"] = ("a list of tokens", lambda v: _is_tokens(v, False))
        checks["target"] = ("a list of tokens", lambda v: _is_tokens(v, False))
        checks["attr_pos_start"] = ("an integer", lambda v: _is_int(v, False))
        checks["attr_pos_end"] = ("an integer or null", lambda v: _is_int(v, True))
    else:
        for name in ("source", "prefix", "target"):
            checks[name] = ("a list of token lists or null", lambda v: v is None or _is_tokens(v, True))
    return checks


def check_fields(cls: type, attrs: dict[str, Any]) -> None:
    """Check the decoded fields of an output class against its schema.

    Raises:
        AttributionFileError: naming the class, the field, what was found and what is valid.
    """
    from .attribution import FeatureAttributionOutput, FeatureAttributionSequenceOutput

    if issubclass(cls, FeatureAttributionOutput):
        kind = "output"
    else:
        kind = "sequence" if issubclass(cls, FeatureAttributionSequenceOutput) else "step"
    for name, (valid, check) in _field_checks(kind).items():
        if name in attrs and not check(attrs[name]):
            found = attrs[name]
            shown = repr(found) if len(repr(found)) <= 60 else repr(found)[:57] + "..."
            raise AttributionFileError(
                f"Invalid {cls.__name__}.{name} in file: expected {valid}, got {type(found).__name__} {shown}."
            )

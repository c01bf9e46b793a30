"""Bounded, typed reading of attribution files (used by :mod:`inseq.data.serialization`).

Limits (module constants, read at call time):

* :data:`MAX_FILE_BYTES`: the largest file read (1 GiB).
* the inflation bound: the most a gzip file may inflate to, :data:`MAX_DECOMPRESSED_BYTES` (256 MiB) unless the
  load call's ``max_inflated_bytes=`` or ``$INSEQ_MAX_INFLATED_BYTES`` (:data:`INFLATE_LIMIT_ENV`) sets another; the
  file is inflated as a stream and refused as soon as the bound is passed, so a small "gzip bomb" costs at most the
  bound in memory.
* nesting depth: JSON nested deeper than Python's recursion limit is refused with an
  :class:`~inseq.utils.errors.AttributionFileError` instead of a ``RecursionError``.

:func:`check_fields` checks the type of every field of a decoded object against the dataclass schema (e.g. a
``sequence_attributions`` that is a string, or an ``info`` that is a list, is refused).

Example:
    >>> raw = read_limited("out.json.gz")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from ..utils.checks import check_int
from ..utils.errors import AttributionFileError, InvalidArgumentError
from ..utils.typing import TokenWithId

__all__ = [
    "INFLATE_LIMIT_ENV",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_FILE_BYTES",
    "check_fields",
    "gunzip_limited",
    "inflate_limit",
    "json_depth_error",
    "read_limited",
]

MAX_FILE_BYTES = 1 << 30
#: Default bound on the bytes a gzip stream may inflate to (256 MiB), when neither ``max_inflated_bytes=`` nor
#: :data:`INFLATE_LIMIT_ENV` sets one.
MAX_DECOMPRESSED_BYTES = 256 << 20
#: Environment variable overriding :data:`MAX_DECOMPRESSED_BYTES` (a number of bytes).
INFLATE_LIMIT_ENV = "INSEQ_MAX_INFLATED_BYTES"
_CHUNK = 1 << 20


def inflate_limit(max_inflated_bytes: int | None = None) -> int:
    """The bound on inflated gzip bytes: ``max_inflated_bytes``, else ``$INSEQ_MAX_INFLATED_BYTES``, else the default.

    Raises:
        InvalidArgumentError / InvalidArgumentTypeError: a bound that is not a positive int (the environment
            variable is named when it is the culprit).

    Example:
        >>> inflate_limit(1 << 20)
        1048576
        >>> inflate_limit() == MAX_DECOMPRESSED_BYTES  # doctest: +SKIP
        True
    """
    if max_inflated_bytes is not None:
        return int(check_int("max_inflated_bytes", max_inflated_bytes, minimum=1))
    env = os.environ.get(INFLATE_LIMIT_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise InvalidArgumentError(
                f"{INFLATE_LIMIT_ENV}={env!r} must be a positive number of bytes (e.g. {256 << 20} for 256 MiB)."
            )
        return int(env)
    return int(sys.modules[__name__].MAX_DECOMPRESSED_BYTES)


def _limit_hint(limit: int) -> str:
    return (
        f"{limit} bytes (max_inflated_bytes= of the load call, ${INFLATE_LIMIT_ENV}, default MAX_DECOMPRESSED_BYTES)"
    )


def read_limited(
    path: str | PathLike, decompress: bool = False, max_inflated_bytes: int | None = None
) -> bytes | bytearray:
    """Read a file, gunzipping it when it is gzip data, within :data:`MAX_FILE_BYTES` and the inflation bound.

    Gzip data is inflated as a stream, 1 MiB at a time from the file, and refused as soon as it passes
    :func:`inflate_limit` (``max_inflated_bytes``): a small "gzip bomb" costs at most the bound in memory.

    Raises:
        AttributionFileError: the path is a folder, the file is too large, inflates past the bound (both named), or
            is not gzip data although ``decompress`` was asked.
    """
    file = Path(path)
    if file.is_dir():
        raise AttributionFileError(f"{path} is a folder; pass the path of an attribution file (.json or .json.gz).")
    size = file.stat().st_size
    limit = sys.modules[__name__].MAX_FILE_BYTES
    if size > limit:
        raise AttributionFileError(f"{path} has {size} bytes, more than the {limit} bytes limit (MAX_FILE_BYTES).")
    bound = inflate_limit(max_inflated_bytes)
    with file.open("rb") as handle:
        magic = handle.read(2)
        if not (decompress or magic == b"\x1f\x8b"):
            return magic + handle.read()
        handle.seek(0)
        return gunzip_limited(handle.read, str(path), bound)


def gunzip_limited(
    source: bytes | bytearray | Callable[[int], bytes], where: str, limit: int, bound: str | None = None
) -> bytearray:
    """Inflate gzip data (bytes, or a ``read(n)`` function streaming it), refusing it once it passes ``limit`` bytes.

    Concatenated gzip members are inflated in turn. The result is a ``bytearray`` (no final copy). ``bound``
    describes the limit in the error (default: the load options that set it).

    Raises:
        AttributionFileError: ``where`` inflates past ``limit`` (both named), is not gzip data, or is truncated.

    Example:
        >>> import gzip
        >>> bytes(gunzip_limited(gzip.compress(b"abc"), "<data>", 10))
        b'abc'
        >>> gunzip_limited(gzip.compress(b" " * 100), "<data>", 10)
        Traceback (most recent call last):
        ...
        inseq.utils.errors.AttributionFileError: <data> inflates to more than 10 bytes (max_inflated_bytes= of the \
load call, $INSEQ_MAX_INFLATED_BYTES, default MAX_DECOMPRESSED_BYTES): refused after reading 24 compressed bytes.
    """
    if isinstance(source, bytes | bytearray):
        view = memoryview(source)
        offset = 0

        def read(n: int) -> bytes:
            nonlocal offset
            piece = bytes(view[offset : offset + n])
            offset += len(piece)
            return piece

    else:
        read = source
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = bytearray()
    pending, consumed, members, open_member = b"", 0, 0, False
    try:
        while True:
            if not pending:
                pending = read(_CHUNK)
                consumed += len(pending)
                if not pending:
                    break
            open_member = True
            out += inflater.decompress(pending, _CHUNK)  # at most one chunk of output per call
            if len(out) > limit:
                raise AttributionFileError(
                    f"{where} inflates to more than {bound or _limit_hint(limit)}: refused after reading {consumed} "
                    "compressed bytes."
                )
            pending = inflater.unconsumed_tail
            if inflater.eof:  # end of a member; what follows is the next one
                members, open_member = members + 1, False
                pending = inflater.unused_data
                inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    except zlib.error as err:
        raise AttributionFileError(f"{where} is not a valid gzip file ({err}).") from err
    if open_member or not members:
        raise AttributionFileError(f"{where} is a truncated gzip file.")
    return out


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

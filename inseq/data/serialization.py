"""Save and load :class:`~inseq.data.attribution.FeatureAttributionOutput` in inseq 0.7's JSON format.

File layout (``sort_keys``, ``indent=4``, NaN allowed)::

    {"__instance_type__": ["inseq.data.attribution", "FeatureAttributionOutput"],
     "attributes": {"info": {...}, "step_attributions": null | [...],
                    "sequence_attributions": [
                        {"__instance_type__": ["inseq.data.attribution", "GranularFeatureAttributionSequenceOutput"],
                         "attributes": {"source": [{"__instance_type__": ["inseq.utils.typing", "TokenWithId"],
                                                    "attributes": {"id": 1, "token": "a"}}, ...],
                                        "source_attributions": "<base64 safetensors {'attribution': tensor}>",
                                        "step_scores": {"probability": "<base64 safetensors>"}, ...}}]}}

Sequence tensors are safetensors blobs (float32, float16 or float8_e4m3fn) encoded in base64; other arrays (step
outputs, arrays in ``info``) use ``{"__ndarray__": "b64:..." | "b64.gz:..." | nested lists, "dtype", "shape",
"Corder"}``. Loading only resolves an explicit allow-list of classes (no imports, no pickle) and raises
``ValueError`` on anything malformed. Unlike inseq 0.7, outputs with step attributions load back.

Example:
    >>> save_attributions(out, "out.json", overwrite=True)  # doctest: +SKIP
    >>> load_attributions("out.json") == out  # doctest: +SKIP
    True
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import json
import math
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

from ..utils.checks import check_bool, check_path
from ..utils.errors import AttributionFileError
from ..utils.typing import TokenWithId
from . import attribution as attribution_module
from .attribution import FeatureAttributionOutput, FeatureAttributionSequenceOutput, FeatureAttributionStepOutput
from .data_utils import public_fields
from .files import atomic_write
from .schema import check_fields, gunzip_limited, inflate_limit, json_depth_error, read_limited
from .validation import check_save_args

__all__ = [
    "ALLOWED_INSTANCE_TYPES",
    "SCORES_PRECISIONS",
    "get_cls_from_instance_type",
    "json_advanced_dump",
    "json_advanced_dumps",
    "json_advanced_load",
    "json_advanced_loads",
    "load_attributions",
    "save_attributions",
]

_ATTRIBUTION_MODULE = "inseq.data.attribution"
_TYPING_MODULE = "inseq.utils.typing"

# The only classes a file may name. Anything else (e.g. ["os", "system"]) is refused.
ALLOWED_INSTANCE_TYPES: dict[tuple[str, str], type] = {
    (_ATTRIBUTION_MODULE, name): getattr(attribution_module, name)
    for name in attribution_module.__all__
    if isinstance(getattr(attribution_module, name), type)
}
ALLOWED_INSTANCE_TYPES[(_TYPING_MODULE, "TokenWithId")] = TokenWithId

SCORES_PRECISIONS: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16}
if hasattr(torch, "float8_e4m3fn"):
    SCORES_PRECISIONS["float8"] = torch.float8_e4m3fn

_NUMERIC_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_NUMERIC_DTYPES |= {"float16", "float32", "float64"}
_BLOB_KEY = "attribution"


class _Encoder:
    """Turns outputs into JSON-ready values lazily (used as ``json.dump``'s ``default`` hook)."""

    def __init__(self, precision: torch.dtype, ndarray_compact: bool, compress: bool, use_primitives: bool) -> None:
        self.precision = precision
        self.ndarray_compact = ndarray_compact
        self.compress = compress
        self.use_primitives = use_primitives

    def __call__(self, obj: Any) -> Any:
        if isinstance(obj, FeatureAttributionSequenceOutput):
            attrs = {k: self._sequence_value(v) for k, v in public_fields(obj).items()}
            return self._tag(obj, attrs)
        if isinstance(obj, (FeatureAttributionOutput, FeatureAttributionStepOutput)):
            return self._tag(obj, public_fields(obj))
        if isinstance(obj, TokenWithId):
            return self._tag(obj, {"id": obj.id, "token": obj.token})
        if isinstance(obj, torch.Tensor):
            return self._ndarray(obj.detach().cpu().numpy())
        if isinstance(obj, np.ndarray):
            return self._ndarray(obj)
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, (set, frozenset)):
            return sorted(obj)
        raise TypeError(f"Object of type {type(obj).__name__} ({obj!r:.60}) cannot be saved in an attribution file.")

    def _tag(self, obj: Any, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.use_primitives:
            return attrs
        return {"__instance_type__": [_module_of(obj), type(obj).__name__], "attributes": attrs}

    def _sequence_value(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().tolist() if self.use_primitives else self._blob(value)
        if isinstance(value, dict):
            return {k: self._sequence_value(v) for k, v in value.items()}
        return value

    def _blob(self, tensor: torch.Tensor) -> str:
        data = safetensors_save({_BLOB_KEY: tensor.detach().cpu().to(self.precision).contiguous()})
        return base64.b64encode(data).decode("ascii")

    def _ndarray(self, array: np.ndarray) -> Any:
        if self.use_primitives:
            return array.tolist()
        if array.dtype.name not in _NUMERIC_DTYPES:
            raise TypeError(f"Arrays of dtype {array.dtype} cannot be saved; use a numeric dtype.")
        data: Any = array.tolist()
        if self.ndarray_compact:
            raw = np.ascontiguousarray(array).tobytes()
            packed = gzip.compress(raw, compresslevel=9, mtime=0)
            use_gz = not self.compress and len(packed) < 0.9 * len(raw)
            data = ("b64.gz:" if use_gz else "b64:") + base64.b64encode(packed if use_gz else raw).decode("ascii")
        encoded = {"__ndarray__": data, "dtype": array.dtype.name, "shape": list(array.shape)}
        if array.ndim > 1:
            encoded["Corder"] = True
        return encoded


def _module_of(obj: Any) -> str:
    return _TYPING_MODULE if isinstance(obj, TokenWithId) else _ATTRIBUTION_MODULE


def save_attributions(
    output: FeatureAttributionOutput,
    path: str | PathLike,
    overwrite: bool = False,
    compress: bool = False,
    ndarray_compact: bool = True,
    use_primitives: bool = False,
    split_sequences: bool = False,
    scores_precision: str = "float32",
) -> list[Path]:
    """Write ``output`` to ``path`` atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        output: the output to save.
        path: destination file.
        overwrite: replace an existing file (else ``ValueError``).
        compress: gzip the whole file (load it with ``decompress=True``).
        ndarray_compact: store non-sequence arrays as base64 rather than nested lists.
        use_primitives: write plain dicts/lists without class tags (readable by anything, not loadable back).
        split_sequences: one file per sequence, ``<stem>_<i>.json`` (step attributions dropped, info texts
            restricted to that sequence).
        scores_precision: ``"float32"``, ``"float16"`` or ``"float8"`` (experimental; float8_e4m3fn).

    Returns:
        The written paths.

    Raises:
        ValueError: for an existing path without ``overwrite`` or an unknown precision.
    """
    check_save_args(
        path,
        overwrite=overwrite,
        compress=compress,
        ndarray_compact=ndarray_compact,
        use_primitives=use_primitives,
        split_sequences=split_sequences,
    )
    if not isinstance(scores_precision, str) or scores_precision not in SCORES_PRECISIONS:
        raise ValueError(f"Unknown scores_precision {scores_precision!r}. Valid: {', '.join(SCORES_PRECISIONS)}.")
    if scores_precision == "float8":
        warnings.warn("Saving with float8 precision is experimental: expect ~10% relative error.", stacklevel=2)
    encoder = _Encoder(SCORES_PRECISIONS[scores_precision], ndarray_compact, compress, use_primitives)
    path = Path(path)
    jobs = _split(output, path) if split_sequences else [(path, output)]
    for target, _ in jobs:
        if target.exists() and not overwrite:
            raise ValueError(f"{target} already exists. Pass overwrite=True to replace it.")
    for target, item in jobs:
        _atomic_write(target, item, encoder, compress)
    return [target for target, _ in jobs]


def _split(output: FeatureAttributionOutput, path: Path) -> list[tuple[Path, FeatureAttributionOutput]]:
    name = path.name
    suffix = ".json.gz" if name.endswith(".json.gz") else ".json"
    stem = name[: -len(suffix)] if name.endswith(suffix) else name
    jobs = []
    for idx, seq in enumerate(output.sequence_attributions):
        info = dict(output.info)
        for key in ("input_texts", "generated_texts"):
            if isinstance(info.get(key), list) and idx < len(info[key]):
                info[key] = [info[key][idx]]
        jobs.append((path.with_name(f"{stem}_{idx}{suffix}"), FeatureAttributionOutput([seq], None, info)))
    return jobs


def _atomic_write(path: Path, output: FeatureAttributionOutput, encoder: _Encoder, compress: bool) -> None:
    json_encoder = json.JSONEncoder(default=encoder, sort_keys=True, indent=4, allow_nan=True)

    def write(raw: Any) -> None:
        stream: Any = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5, mtime=0) if compress else raw
        for chunk in json_encoder.iterencode(output):
            stream.write(chunk.encode("utf-8"))
        if compress:
            stream.close()

    atomic_write(path, write)


# --------------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------------


def load_attributions(
    path: str | PathLike, decompress: bool = False, max_inflated_bytes: int | None = None
) -> FeatureAttributionOutput:
    """Load a file written by :func:`save_attributions` or by inseq 0.7.

    Gzip files are detected automatically (``decompress=True`` is accepted for compatibility) and inflated as a
    stream, refused once they pass ``max_inflated_bytes`` (default ``$INSEQ_MAX_INFLATED_BYTES``, else
    :data:`inseq.data.schema.MAX_DECOMPRESSED_BYTES`, 256 MiB). Tensors come back as float32.

    Raises:
        ValueError: if the file is not valid JSON, is truncated, inflates past the bound, names a class outside the
            allow-list, or holds invalid base64 / safetensors / array data. The message names the problem and where
            it is.
    """
    raw = read_limited(check_path("path", path), check_bool("decompress", decompress), max_inflated_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 JSON text (compressed? pass decompress=True): {err}.") from err
    del raw  # the text is parsed; the inflated bytes need not stay alive with it
    try:
        result = json.loads(text, object_pairs_hook=_decode_object)
    except json.JSONDecodeError as err:
        raise AttributionFileError(f"{path} is not valid JSON (truncated or corrupted file?): {err}.") from err
    except RecursionError as err:
        raise json_depth_error(path, err) from None
    if not isinstance(result, FeatureAttributionOutput):
        raise AttributionFileError(
            f"{path} does not contain a FeatureAttributionOutput (got {type(result).__name__}); files saved with "
            "use_primitives=True cannot be loaded."
        )
    return result


def _decode_object(
    pairs: list[tuple[str, Any]], cls_lookup_map: dict[str, type] | None = None, map_type: type = dict
) -> Any:
    obj = dict(pairs)
    if "__ndarray__" in obj:
        return _decode_ndarray(obj)
    if "__instance_type__" not in obj:
        return obj if map_type is dict else map_type(pairs)
    tag = obj["__instance_type__"]
    if not (isinstance(tag, list) and len(tag) == 2 and all(isinstance(x, str) for x in tag)):
        raise ValueError(f"Malformed __instance_type__ {tag!r}: expected [module, class_name].")
    cls = get_cls_from_instance_type(tag[0], tag[1], cls_lookup_map)
    attrs = obj.get("attributes", {})
    if not isinstance(attrs, dict):
        raise ValueError(f"The attributes of {tag[1]} must be a JSON object, got {type(attrs).__name__}.")
    if (tag[0], tag[1]) not in ALLOWED_INSTANCE_TYPES:  # a dataclass the caller allowed (see json_advanced_loads)
        try:
            return cls(**attrs)
        except TypeError as err:
            raise ValueError(f"Invalid {tag[1]} in file: {err}") from err
    return _build(cls, attrs)


def get_cls_from_instance_type(mod: str, name: str, cls_lookup_map: dict[str, type] | None = None) -> type:
    """The class a file's ``["module", "ClassName"]`` tag names, from an allow-list: never imported by name.

    The allow-list holds the output classes and :class:`~inseq.utils.typing.TokenWithId`; ``cls_lookup_map``
    (``{"ClassName": cls}``) adds dataclasses the caller trusts.

    Raises:
        ValueError: for a class outside the allow-list (e.g. ``["os", "system"]``).

    Example:
        >>> get_cls_from_instance_type("inseq.utils.typing", "TokenWithId").__name__
        'TokenWithId'
    """
    cls = ALLOWED_INSTANCE_TYPES.get((mod, name))
    if cls is None and cls_lookup_map and name in cls_lookup_map:
        cls = cls_lookup_map[name]
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise ValueError(f"cls_lookup_map[{name!r}] must be a dataclass (built from its fields), got {cls!r}.")
    if cls is None:
        allowed = ", ".join(f"{m}.{n}" for m, n in ALLOWED_INSTANCE_TYPES)
        raise ValueError(
            f"Refusing to load instance type {[mod, name]!r}: not an inseq output class (allowed: {allowed}; pass "
            "cls_lookup_map to allow a dataclass of your own)."
        )
    return cls


def _build(cls: type, attrs: dict[str, Any]) -> Any:
    name = cls.__name__
    if cls is TokenWithId:
        if set(attrs) != {"id", "token"} or not isinstance(attrs["token"], str) or type(attrs["id"]) is not int:
            raise ValueError(f"Malformed TokenWithId {attrs!r}: expected {{'id': int, 'token': str}}.")
        return TokenWithId(attrs["token"], attrs["id"])
    valid = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    unknown = set(attrs) - valid
    if unknown:
        raise ValueError(f"Unknown field(s) {sorted(unknown)} for {name}; valid fields: {sorted(valid)}.")
    if issubclass(cls, (FeatureAttributionSequenceOutput, FeatureAttributionStepOutput)):
        attrs = {k: _decode_field(v, f"{name}.{k}") for k, v in attrs.items()}
    check_fields(cls, attrs)
    try:
        return cls(**attrs)
    except (TypeError, ValueError, IndexError, RuntimeError) as err:
        raise ValueError(f"Invalid {name} in file: {err}") from err


_TOKEN_FIELDS = {"source", "target", "prefix"}
_TENSOR_FIELDS = {"source_attributions", "target_attributions"}
_TENSOR_DICT_FIELDS = {"step_scores", "sequence_scores"}


def _decode_field(value: Any, where: str) -> Any:
    field_name = where.rsplit(".", 1)[-1]
    if field_name in _TENSOR_FIELDS:
        return _decode_tensor(value, where)
    if field_name in _TENSOR_DICT_FIELDS and value is not None:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object mapping names to tensors, got {type(value).__name__}.")
        return {k: _decode_tensor(v, f"{where}[{k!r}]") for k, v in value.items()}
    if field_name in _TOKEN_FIELDS and value is not None:
        flat = [t for item in value for t in (item if isinstance(item, list) else [item])]
        if not all(isinstance(t, TokenWithId) for t in flat):
            raise ValueError(f"{where}: expected a list of TokenWithId objects.")
    return value


def _decode_tensor(value: Any, where: str) -> torch.Tensor | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.astype(np.float32, copy=True))
    if isinstance(value, list):
        try:
            return torch.tensor(value, dtype=torch.float32)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: nested list is not a numeric array ({err}).") from err
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a base64 safetensors string, got {type(value).__name__}.")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"{where}: invalid base64 data ({err}).") from err
    try:
        tensors = safetensors_load(data)
    except Exception as err:  # safetensors raises its own SafetensorError type
        raise ValueError(f"{where}: invalid safetensors data ({err}).") from err
    if _BLOB_KEY not in tensors:
        raise ValueError(f"{where}: safetensors blob has no {_BLOB_KEY!r} tensor (found {sorted(tensors)}).")
    return tensors[_BLOB_KEY].to(torch.float32)


def _decode_ndarray(obj: dict[str, Any]) -> np.ndarray | Any:
    dtype, shape, data = obj.get("dtype"), obj.get("shape"), obj["__ndarray__"]
    if dtype not in _NUMERIC_DTYPES:
        raise ValueError(f"Unsupported __ndarray__ dtype {dtype!r}; valid: {sorted(_NUMERIC_DTYPES)}.")
    if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)):
        raise ValueError(f"Malformed __ndarray__ shape {shape!r}: expected a list of non-negative ints.")
    order = "F" if obj.get("Corder") is False else "C"
    if isinstance(data, str):
        prefix, _, payload = data.partition(":")
        if prefix not in ("b64", "b64.gz"):
            raise ValueError(f"Malformed __ndarray__ data: expected a 'b64:' or 'b64.gz:' prefix, got {prefix!r}.")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as err:
            raise ValueError(f"Invalid __ndarray__ payload ({err}).") from err
        count = math.prod(shape)
        if prefix == "b64.gz":  # inflate no more than the shape needs (a gzip bomb in an array is refused early)
            expected, limit = count * np.dtype(dtype).itemsize, inflate_limit()
            bound = f"the {expected} bytes of its shape" if expected <= limit else None
            raw = gunzip_limited(raw, f"__ndarray__ of shape {shape}", min(expected, limit), bound)
        if len(raw) != count * np.dtype(dtype).itemsize:
            raise ValueError(f"__ndarray__ holds {len(raw)} bytes, expected {count} {dtype} values for shape {shape}.")
        return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order).copy()
    try:
        return np.asarray(data, dtype=dtype).reshape(shape, order=order)
    except (TypeError, ValueError) as err:
        raise ValueError(f"Invalid __ndarray__ list data for shape {shape} ({err}).") from err


# --------------------------------------------------------------------------------------------------------------------
# inseq 0.7's general JSON helpers, over the same format
# --------------------------------------------------------------------------------------------------------------------


class _AdvancedEncoder(_Encoder):
    """The file encoder, also tagging any dataclass (loadable back when the reader allows its class)."""

    def __call__(self, obj: Any) -> Any:
        if (
            dataclasses.is_dataclass(obj)
            and not isinstance(obj, type)
            and not isinstance(
                obj,
                (
                    FeatureAttributionOutput,
                    FeatureAttributionSequenceOutput,
                    FeatureAttributionStepOutput,
                    TokenWithId,
                ),
            )
        ):
            attrs = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
            if self.use_primitives:
                return attrs
            return {"__instance_type__": [type(obj).__module__, type(obj).__name__], "attributes": attrs}
        return super().__call__(obj)


def json_advanced_dumps(
    obj: Any,
    sort_keys: bool = True,
    use_primitives: bool = False,
    allow_nan: bool = True,
    ndarray_compact: bool | None = None,
    compression: bool = False,
    scores_precision: str = "float32",
    **jsonkwargs: Any,
) -> str | bytes:
    """Serialize ``obj`` (outputs, tokens, arrays, tensors, dataclasses, plain data) in the attribution file format.

    Args:
        obj: What to serialize.
        sort_keys: Sort the keys of objects.
        use_primitives: Plain lists and dicts without class tags (not loadable back as objects).
        allow_nan: Allow NaN and infinities.
        ndarray_compact: Arrays as base64 strings rather than nested lists (default: nested lists).
        compression: Return the text gzipped (bytes).
        scores_precision: Precision of the attribution tensors of outputs (``"float32"``, ``"float16"``...).
        **jsonkwargs: Other ``json.dumps`` arguments (``indent``...).

    Example:
        >>> text = json_advanced_dumps({"ids": np.arange(2)})
        >>> json_advanced_loads(text)["ids"].tolist()
        [0, 1]
    """
    if scores_precision not in SCORES_PRECISIONS:
        raise ValueError(f"Unknown scores_precision {scores_precision!r}. Valid: {', '.join(SCORES_PRECISIONS)}.")
    encoder = _AdvancedEncoder(SCORES_PRECISIONS[scores_precision], bool(ndarray_compact), compression, use_primitives)
    text = json.dumps(obj, default=encoder, sort_keys=sort_keys, allow_nan=allow_nan, **jsonkwargs)
    return gzip.compress(text.encode("utf-8"), mtime=0) if compression else text


def json_advanced_dump(obj: Any, fp: Any, compression: bool = False, **kwargs: Any) -> None:
    """Write ``json_advanced_dumps(obj, **kwargs)`` to ``fp``: a path (written atomically) or a file object.

    Raises:
        ValueError: when the arguments are swapped (a path given as the object).

    Example:
        >>> json_advanced_dump({"ids": np.arange(3)}, "ids.json")  # doctest: +SKIP
        >>> json_advanced_load("ids.json")["ids"].tolist()  # doctest: +SKIP
        [0, 1, 2]
    """
    if isinstance(obj, str | PathLike) and not (isinstance(fp, str | PathLike) or hasattr(fp, "write")):
        raise ValueError("dump arguments are in the wrong order: give the data to serialize before the file.")
    data = json_advanced_dumps(obj, compression=compression, **kwargs)
    if hasattr(fp, "write"):
        fp.write(data)
        return
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    atomic_write(fp, lambda handle: handle.write(raw))


def json_advanced_loads(
    string: str | bytes,
    ordered: bool = False,
    decompression: bool = False,
    cls_lookup_map: dict[str, type] | None = None,
    **jsonkwargs: Any,
) -> Any:
    """Load what :func:`json_advanced_dumps` wrote: classes come from an allow-list only (no import, no pickle).

    Args:
        string: The JSON text (gzipped bytes with ``decompression``).
        ordered: Plain objects as ``OrderedDict``.
        decompression: Gunzip ``string`` first.
        cls_lookup_map: ``{"ClassName": cls}`` of dataclasses of your own to build (outputs and tokens always are).

    Raises:
        ValueError: for a class outside the allow-list or malformed data.

    Example:
        >>> json_advanced_loads(json_advanced_dumps({"ids": np.arange(3)}))["ids"].tolist()
        [0, 1, 2]
    """
    from collections import OrderedDict
    from functools import partial

    if decompression:
        data = string if isinstance(string, bytes | bytearray) else string.encode("latin-1")
        string = gunzip_limited(data, "the gzipped string", inflate_limit()).decode("utf-8")
    if isinstance(string, bytes | bytearray):
        string = string.decode("utf-8")
    if not isinstance(string, str):
        raise TypeError(f"json_advanced_loads reads a str, got {type(string).__name__}.")
    hook = partial(_decode_object, cls_lookup_map=cls_lookup_map, map_type=OrderedDict if ordered else dict)
    return json.loads(string, object_pairs_hook=hook, **jsonkwargs)


def json_advanced_load(
    fp: str | PathLike | Any,
    ordered: bool = True,
    decompression: bool = False,
    cls_lookup_map: dict[str, type] | None = None,
    **jsonkwargs: Any,
) -> Any:
    """Load a file (path or file object) written by :func:`json_advanced_dump` (see :func:`json_advanced_loads`).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "x.json")
        >>> json_advanced_dump({"a": [1, 2]}, path)
        >>> dict(json_advanced_load(path))
        {'a': [1, 2]}
    """
    if isinstance(fp, str | bytes | PathLike):
        data = read_limited(check_path("fp", fp), decompression)
        decompression = False
    else:
        data = fp.read()
    return json_advanced_loads(
        data, ordered=ordered, decompression=decompression, cls_lookup_map=cls_lookup_map, **jsonkwargs
    )

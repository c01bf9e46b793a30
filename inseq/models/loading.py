"""Checks at the ``load_model`` boundary: argument types, loader errors re-raised with their likely cause, and a
tokenizer that fits the model.

* :func:`check_load_args` validates the arguments of :func:`inseq.load_model` (types, the framework, unknown
  keywords) before anything is read from disk.
* :func:`loader_errors` turns whatever transformers, torch, safetensors or huggingface_hub raise while loading into
  a :class:`~inseq.utils.errors.ModelLoadError` naming the path and the likely cause (the original is ``__cause__``).
* :func:`check_tokenizer` refuses a tokenizer that is missing (a folder without tokenizer files) or whose
  vocabulary does not fit the model's input embeddings.

Example:
    >>> with loader_errors("model", "/no/such/folder"):  # doctest: +SKIP
    ...     AutoConfig.from_pretrained("/no/such/folder")
    Traceback (most recent call last):
    ModelLoadError: Could not load the model from '/no/such/folder': no such folder ...
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..utils.checks import describe
from ..utils.errors import InvalidArgumentError, InvalidArgumentTypeError, ModelLoadError

__all__ = [
    "FROM_PRETRAINED_KWARGS",
    "LOAD_MODEL_KWARGS",
    "METHOD_INIT_KWARGS",
    "check_dtype",
    "check_load_args",
    "check_tokenizer",
    "likely_cause",
    "loader_errors",
    "unknown_load_kwargs",
]

#: Keywords of ``load_model`` itself (besides the model, the method and the framework).
LOAD_MODEL_KWARGS = frozenset({"tokenizer", "device", "model_kwargs", "tokenizer_kwargs"})

#: Method constructor options read from ``init_kwargs`` rather than named in a signature.
METHOD_INIT_KWARGS = frozenset({"target_layer"})

#: ``from_pretrained`` keywords accepted directly by ``load_model`` (they belong in ``model_kwargs``, but are
#: recognised so that they are not reported as unknown).
FROM_PRETRAINED_KWARGS = frozenset(
    {
        "attn_implementation",
        "cache_dir",
        "config",
        "device_map",
        "dtype",
        "force_download",
        "load_in_4bit",
        "load_in_8bit",
        "local_files_only",
        "low_cpu_mem_usage",
        "max_memory",
        "offload_folder",
        "quantization_config",
        "revision",
        "subfolder",
        "token",
        "torch_dtype",
        "trust_remote_code",
        "use_safetensors",
        "variant",
    }
)


def unknown_load_kwargs(attribution_method: str | None, kwargs: Mapping[str, Any]) -> list[str]:
    """Keywords that neither ``load_model``, the method's constructor nor ``from_pretrained`` accept.

    Example:
        >>> unknown_load_kwargs("saliency", {"device": "cpu", "foo": 1})
        ['foo']
    """
    accepted = set(LOAD_MODEL_KWARGS) | FROM_PRETRAINED_KWARGS
    if attribution_method is not None:
        from ..attr.feat.base import METHODS

        if attribution_method in METHODS:
            accepted |= METHOD_INIT_KWARGS
            for cls in METHODS.get(attribution_method).__mro__:
                init = cls.__dict__.get("__init__")
                if init is not None:
                    params = list(inspect.signature(init).parameters.values())[1:]
                    accepted |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return sorted(k for k in kwargs if k not in accepted)


def check_load_args(model: Any, attribution_method: Any, framework: Any, frameworks: list[str], kwargs: dict) -> Any:
    """Validate the arguments of ``load_model``; returns ``model`` with a path-like turned into a string.

    Raises:
        InvalidArgumentTypeError: a wrong type (the message names it and what is valid).
        InvalidArgumentError: an unknown framework or keyword, or an empty model name.
    """
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    if not isinstance(framework, str) or framework not in frameworks:
        raise InvalidArgumentError(f"Unknown framework {describe(framework)}. Supported frameworks: {frameworks}.")
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str | PreTrainedModel):
        raise InvalidArgumentTypeError(
            f"model must be a hub model id, a local folder path or a transformers PreTrainedModel, got "
            f"{describe(model)}."
        )
    if isinstance(model, str) and not model.strip():
        raise InvalidArgumentError("model is an empty string: pass a hub model id or a local folder path.")
    if attribution_method is not None and not isinstance(attribution_method, str):
        raise InvalidArgumentTypeError(
            f"attribution_method must be a method id (str) or None, got {describe(attribution_method)}."
        )
    tokenizer = kwargs.get("tokenizer")
    if isinstance(tokenizer, os.PathLike):
        kwargs["tokenizer"] = tokenizer = os.fspath(tokenizer)
    if tokenizer is not None and not isinstance(tokenizer, str | PreTrainedTokenizerBase):
        raise InvalidArgumentTypeError(
            f"tokenizer must be a hub id, a folder path or a transformers tokenizer, got {describe(tokenizer)}."
        )
    for name in ("model_kwargs", "tokenizer_kwargs"):
        value = kwargs.get(name)
        if value is not None and not isinstance(value, Mapping):
            raise InvalidArgumentTypeError(f"{name} must be a dict or None, got {describe(value)}.")
    for where in (kwargs, kwargs.get("model_kwargs") or {}):
        for key in ("dtype", "torch_dtype"):
            if where.get(key) is not None:
                prefix = "model_kwargs" if where is not kwargs else "load_model()"
                check_dtype(f"{prefix}[{key!r}]" if where is not kwargs else f"{prefix}: {key}", where[key])
    unknown = unknown_load_kwargs(attribution_method, kwargs)
    if unknown:
        raise InvalidArgumentError(
            f"Unknown keyword argument(s) {unknown} for load_model. Valid: {sorted(LOAD_MODEL_KWARGS)}, keyword "
            "arguments of the attribution method, and from_pretrained options (better passed in model_kwargs)."
        )
    return model


VALID_DTYPE_NAMES = ("auto", "float32", "float16", "bfloat16", "float64")


def check_dtype(name: str, value: Any) -> Any:
    """Return a ``from_pretrained`` dtype if it is ``"auto"``, a floating-point ``torch.dtype`` or the name of one.

    A dict (one dtype per sub-model, as transformers accepts for composite models) has each value checked.

    Raises:
        InvalidArgumentError: a name that is not a torch dtype, or a dtype that is not floating-point, naming the
            value and listing the valid ones.
        InvalidArgumentTypeError: a value that is neither a string nor a ``torch.dtype``.

    Example:
        >>> check_dtype("model_kwargs['torch_dtype']", "bfloat16")
        'bfloat16'
        >>> check_dtype("model_kwargs['torch_dtype']", "float77")
        Traceback (most recent call last):
        ...
        inseq.utils.errors.InvalidArgumentError: model_kwargs['torch_dtype']='float77' is not a torch dtype; valid: \
'auto', 'float32', 'float16', 'bfloat16', 'float64' (or a floating-point torch.dtype such as torch.float16).
    """
    import torch

    valid = ", ".join(repr(v) for v in VALID_DTYPE_NAMES) + " (or a floating-point torch.dtype such as torch.float16)"
    if isinstance(value, Mapping):
        for key, sub in value.items():
            check_dtype(f"{name}[{key!r}]", sub)
        return value
    if isinstance(value, str):
        if value == "auto":
            return value
        dtype = getattr(torch, value, None)
        if not isinstance(dtype, torch.dtype):
            raise InvalidArgumentError(f"{name}={value!r} is not a torch dtype; valid: {valid}.")
    elif isinstance(value, torch.dtype):
        dtype = value
    else:
        raise InvalidArgumentTypeError(
            f"{name} must be a dtype name or a torch.dtype; valid: {valid}. Got {describe(value)}."
        )
    if not dtype.is_floating_point:
        raise InvalidArgumentError(
            f"{name}={value!r} is not a floating-point dtype: models are loaded in floating point; valid: {valid}."
        )
    return value


def likely_cause(path: str, err: BaseException) -> str:
    """A short, human explanation of why loading ``path`` failed, from the path and the exception."""
    text = f"{type(err).__name__}: {err}".lower()
    target = Path(path)
    if target.is_file():
        return f"{path!r} is a file; pass the folder that contains config.json (e.g. {str(target.parent)!r})"
    looks_local = path.startswith((".", "/", "~")) or path.count("/") >= 2  # hub ids are "name" or "org/name"
    if not target.exists() and looks_local:
        return f"no such folder {path!r}"
    if "no file named" in text or "does not appear to have a file" in text:
        return "the folder has no weights file (model.safetensors or pytorch_model.bin)"
    if "safetensor" in text or "header" in text or "deserializ" in text:
        return "the weights file is corrupt or truncated (an interrupted download or copy?)"
    if "dtype" in text:
        return "the dtype option (torch_dtype / dtype) is not one the model can be loaded in"
    if "validation error" in text or "expected int" in text or ("config" in text and "json" in text):
        return "config.json is not valid (malformed JSON or a field of the wrong type)"
    if target.is_dir():
        return "the folder does not hold a complete transformers model"
    return "it is neither a local folder nor a model id available offline or on the hub"


@contextmanager
def loader_errors(what: str, path: str) -> Iterator[None]:
    """Re-raise any error of the loaders as a :class:`ModelLoadError` naming ``what``, ``path`` and the cause."""
    try:
        yield
    except ModelLoadError:
        raise
    except Exception as err:  # transformers, torch, safetensors and huggingface_hub raise many unrelated types
        message = str(err).split("\n", 1)[0][:300]
        raise ModelLoadError(
            f"Could not load the {what} from {path!r}: {likely_cause(path, err)}. ({type(err).__name__}: {message})"
        ) from err


def check_tokenizer(model: Any, tokenizer: Any, source: str | None) -> None:
    """Refuse a tokenizer without a vocabulary or one producing ids the model cannot embed.

    Raises:
        ModelLoadError: the tokenizer has (almost) no vocabulary, e.g. a folder without tokenizer files.
        InvalidArgumentError: the vocabulary is larger than the model's input embedding matrix.
    """
    size = len(tokenizer)
    where = f" loaded from {source!r}" if source else ""
    if size < 2:
        raise ModelLoadError(
            f"The tokenizer{where} has {size} token(s): the folder most likely has no tokenizer files "
            "(tokenizer.json, tokenizer_config.json, vocab files). Pass tokenizer= with the model's tokenizer."
        )
    embeddings = model.get_input_embeddings()
    rows = getattr(embeddings, "num_embeddings", None)
    if rows is not None and size > rows:
        raise InvalidArgumentError(
            f"The tokenizer{where} has {size} tokens but the model embeds only {rows} ids: it is not the tokenizer "
            "of this model (or tokens were added without model.resize_token_embeddings)."
        )

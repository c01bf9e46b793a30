"""Small helpers kept at inseq 0.7's path (``inseq.utils.misc``).

Example:
    >>> pad([[1], [2, 3]], pad_id=0)
    [[1, 0], [2, 3]]
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gzip
import inspect
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .typing import TokenWithId

__all__ = [
    "aggregate_token_pair",
    "aggregate_token_sequence",
    "bin_str_to_ndarray",
    "drop_padding",
    "extract_signature_args",
    "find_char_indexes",
    "format_input_texts",
    "get_module_name_from_object",
    "gzip_compress",
    "gzip_decompress",
    "hashodict",
    "identity_fn",
    "isnotebook",
    "lists_of_numbers_to_ndarray",
    "ndarray_to_bin_str",
    "optional",
    "ordinal_str",
    "pad",
    "pretty_dict",
    "pretty_list",
    "pretty_tensor",
    "rgetattr",
    "save_to_file",
    "scalar_to_numpy",
]


def identity_fn(x: Any, **kwargs: Any) -> Any:
    """Return ``x`` unchanged.

    Example:
        >>> identity_fn(3)
        3
    """
    return x


def pretty_tensor(t: torch.Tensor | None = None, lpad: int = 8) -> str:
    """A one-line description of a tensor: dtype, shape and device (``"None"`` for None).

    Example:
        >>> pretty_tensor(torch.zeros(2, 3, dtype=torch.long))
        'torch.int64 tensor of shape [2, 3] on cpu'
    """
    if t is None:
        return "None"
    return f"{t.dtype} tensor of shape {list(t.shape)} on {t.device}"


def pretty_list(lst: Sequence | None, lpad: int = 8) -> str:
    """A short description of a list: its length and the type of its items.

    Example:
        >>> pretty_list([1, 2, 3])
        'list with 3 int elements'
    """
    if lst is None:
        return "None"
    if not lst:
        return "empty list"
    return f"list with {len(lst)} {type(lst[0]).__name__} elements"


def pretty_dict(d: dict[str, Any], lpad: int = 4) -> str:
    """A multi-line summary of a dict, tensors and lists shown by their shapes.

    Example:
        >>> print(pretty_dict({"ids": torch.zeros(1, 2), "name": "x"}))
        {
            ids: torch.float32 tensor of shape [1, 2] on cpu,
            name: x,
        }
    """
    pad = " " * lpad
    lines = ["{"]
    for key, value in d.items():
        if isinstance(value, torch.Tensor):
            shown = pretty_tensor(value)
        elif isinstance(value, list | tuple) and len(value) > 8:
            shown = pretty_list(value)
        else:
            shown = str(value)
        lines.append(f"{pad}{key}: {shown},")
    lines.append("}")
    return "\n".join(lines)


def ordinal_str(n: int) -> str:
    """The ordinal string of ``n`` (``1st``, ``2nd``, ``11th``...).

    Example:
        >>> [ordinal_str(i) for i in (0, 1, 2, 3, 11, 22)]
        ['0th', '1st', '2nd', '3rd', '11th', '22nd']
    """
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def rgetattr(obj: Any, attr: str, *args: Any) -> Any:
    """``getattr`` following a dotted path (``rgetattr(model, "encoder.layers")``).

    Example:
        >>> rgetattr(torch.nn.Sequential(torch.nn.Linear(1, 1)), "0.weight").shape
        torch.Size([1, 1])
    """
    return functools.reduce(lambda o, name: getattr(o, name, *args), [obj, *attr.split(".")])


def extract_signature_args(
    full_args: dict[str, Any],
    func: Callable,
    exclude_args: Sequence[str] | None = None,
    return_remaining: bool = False,
) -> dict[str, Any] | tuple[dict[str, Any], dict[str, Any]]:
    """The entries of ``full_args`` that ``func`` accepts as parameters (and, optionally, the others).

    Example:
        >>> extract_signature_args({"a": 1, "b": 2}, lambda a: a, return_remaining=True)
        ({'a': 1}, {'b': 2})
    """
    names = set(inspect.signature(func).parameters) - set(exclude_args or ())
    taken = {k: v for k, v in full_args.items() if k in names}
    if return_remaining:
        return taken, {k: v for k, v in full_args.items() if k not in taken}
    return taken


def isnotebook() -> bool:
    """Whether the code runs in a Jupyter notebook (an IPython kernel).

    Example:
        >>> isnotebook()
        False
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def optional(
    condition: bool, context_manager: Any, alternative_fn: Callable[..., Any] | None = None, **alternative_kwargs: Any
) -> Any:
    """``context_manager`` when ``condition`` holds, else ``alternative_fn(**alternative_kwargs)`` or a no-op.

    Example:
        >>> with optional(False, torch.no_grad()):
        ...     torch.is_grad_enabled()
        True
    """
    if condition:
        return context_manager
    if alternative_fn is not None:
        return alternative_fn(**alternative_kwargs)
    return contextlib.nullcontext()


def pad(seq: Sequence[Sequence[Any]], pad_id: Any) -> list[list[Any]]:
    """Right-pad every sequence of ``seq`` with ``pad_id`` to the length of the longest.

    Example:
        >>> pad([["a"], ["b", "c"]], "<pad>")
        [['a', '<pad>'], ['b', 'c']]
    """
    longest = max((len(s) for s in seq), default=0)
    return [list(s) + [pad_id] * (longest - len(s)) for s in seq]


def drop_padding(seq: Sequence[Any], pad_id: Any) -> list[Any]:
    """The items of ``seq`` that are not ``pad_id`` (``seq`` unchanged when ``pad_id`` is None).

    Example:
        >>> drop_padding(["a", "<pad>", "b"], "<pad>")
        ['a', 'b']
    """
    if pad_id is None:
        return list(seq)
    return [item for item in seq if item != pad_id]


def find_char_indexes(strings: Sequence[str], char: str = " ") -> list[list[int]]:
    """Positions of ``char`` in each string.

    Example:
        >>> find_char_indexes(["a b c", "ab"])
        [[1, 3], []]
    """
    return [[i for i, c in enumerate(text) if c == char] for text in strings]


def format_input_texts(
    texts: str | Sequence[str],
    ref_texts: str | Sequence[str] | None = None,
    skip_special_tokens: bool = False,
    special_tokens: Sequence[str] = (),
) -> tuple[list[str], list[str] | None]:
    """Texts (and reference texts) as lists, special tokens removed with ``skip_special_tokens``.

    Raises:
        ValueError: when ``ref_texts`` has a different number of texts.

    Example:
        >>> format_input_texts("<s>Hi", ["Hello"], skip_special_tokens=True, special_tokens=["<s>"])
        (['Hi'], ['Hello'])
    """

    def clean(values: str | Sequence[str]) -> list[str]:
        values = [values] if isinstance(values, str) else list(values)
        if skip_special_tokens:
            for token in special_tokens:
                values = [v.replace(token, "") for v in values]
        return values

    texts = clean(texts)
    if ref_texts is None:
        return texts, None
    refs = clean(ref_texts)
    if len(refs) != len(texts):
        raise ValueError(f"ref_texts has {len(refs)} texts but texts has {len(texts)}: give one per text.")
    return texts, refs


def aggregate_token_sequence(token_sequence: Sequence[TokenWithId], spans: Sequence[tuple[int, int]]):
    """Merge the tokens of each ``(start, end)`` span into one token (texts joined, id -1).

    Example:
        >>> aggregate_token_sequence([TokenWithId("a", 1), TokenWithId("b", 2), TokenWithId("c", 3)], [(0, 2)])
        [TokenWithId(token='ab', id=-1), TokenWithId(token='c', id=3)]
    """
    out: list[TokenWithId] = []
    pos = 0
    for start, end in sorted(spans):
        out.extend(token_sequence[pos:start])
        out.append(TokenWithId("".join(str(t) for t in token_sequence[start:end]), -1))
        pos = end
    out.extend(token_sequence[pos:])
    return out


def aggregate_token_pair(tokens: Sequence[TokenWithId], other_tokens: Sequence[TokenWithId]) -> list[TokenWithId]:
    """Pair two token sequences: where they differ the token reads ``"token → other"`` (id -1).

    Raises:
        ValueError: for sequences of different lengths.

    Example:
        >>> aggregate_token_pair([TokenWithId("a", 1), TokenWithId("b", 2)], [TokenWithId("a", 1), TokenWithId("c", 3)])
        [TokenWithId(token='a', id=1), TokenWithId(token='b → c', id=-1)]
    """
    if len(tokens) != len(other_tokens):
        raise ValueError(f"Token sequences of different lengths: {len(tokens)} and {len(other_tokens)}.")
    return [
        t if t.token == o.token else TokenWithId(f"{t.token} → {o.token}", -1) for t, o in zip(tokens, other_tokens)
    ]


def get_module_name_from_object(obj: Any) -> str:
    """The name of the module defining ``obj`` (or ``obj``'s class).

    Example:
        >>> get_module_name_from_object(TokenWithId("a", 1))
        'inseq.utils.typing'
    """
    module = inspect.getmodule(obj) or inspect.getmodule(type(obj))
    return module.__name__ if module is not None else type(obj).__module__


def gzip_compress(data: str | bytes, compresslevel: int = 5) -> bytes:
    """Gzip ``data`` (text is UTF-8 encoded first); the output is reproducible (no timestamp).

    Example:
        >>> gzip_decompress(gzip_compress("abc"))
        b'abc'
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return gzip.compress(raw, compresslevel=compresslevel, mtime=0)


def gzip_decompress(data: bytes) -> bytes:
    """Inverse of :func:`gzip_compress`.

    Example:
        >>> gzip_decompress(gzip_compress(b"abc"))
        b'abc'
    """
    return gzip.decompress(data)


def save_to_file(f: Callable[..., str | bytes]) -> Callable[..., str | bytes | None]:
    """Decorate a function returning text so that it writes the text to the file ``fp`` (its second argument).

    The decorated function takes ``(obj, fp, *args, compression=False, return_output=True, **kwargs)``: a path is
    written atomically (temporary file, then rename), a file object is written to; ``compression`` gzips the text.

    Example:
        >>> @save_to_file
        ... def dumps(obj, **kwargs):
        ...     return str(obj)
        >>> import io
        >>> buf = io.StringIO()
        >>> dumps(42, buf)
        '42'
        >>> buf.getvalue()
        '42'
    """

    @functools.wraps(f)
    def wrapper(
        obj: Any, fp: Any, *args: Any, compression: bool = False, return_output: bool = True, **kwargs: Any
    ) -> str | bytes | None:
        if isinstance(obj, str | os.PathLike) and not isinstance(fp, str | os.PathLike) and not hasattr(fp, "write"):
            raise ValueError("Arguments are in the wrong order: give the object to save before the file.")
        text = f(obj, *args, **kwargs)
        data = gzip_compress(text) if compression else text
        if hasattr(fp, "write"):
            fp.write(data)
        else:
            _atomic_write(Path(fp), data.encode("utf-8") if isinstance(data, str) else data)
        return data if return_output else None

    return wrapper


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ndarray_to_bin_str(array: np.ndarray, do_compress: bool = False) -> str:
    """Encode an array's bytes as ``"b64:<base64>"`` (``"b64.gz:"`` gzipped), the compact form of attribution files.

    Example:
        >>> text = ndarray_to_bin_str(np.arange(3, dtype=np.int64))
        >>> bin_str_to_ndarray(text, "C", (3,), "int64").tolist()
        [0, 1, 2]
    """
    raw = np.ascontiguousarray(array).tobytes()
    if do_compress:
        return "b64.gz:" + base64.b64encode(gzip_compress(raw, compresslevel=9)).decode("ascii")
    return "b64:" + base64.b64encode(raw).decode("ascii")


def bin_str_to_ndarray(data: str, order: str | None, shape: Sequence[int], dtype: str) -> np.ndarray:
    """Decode a string written by :func:`ndarray_to_bin_str` into an array of ``shape`` and ``dtype``.

    Raises:
        ValueError: for a string without a ``b64:`` / ``b64.gz:`` prefix or holding the wrong number of bytes.

    Example:
        >>> bin_str_to_ndarray(ndarray_to_bin_str(np.arange(2.0)), "C", (2,), "float64").tolist()
        [0.0, 1.0]
    """
    prefix, _, payload = data.partition(":")
    if prefix not in ("b64", "b64.gz"):
        raise ValueError(f"Expected a 'b64:' or 'b64.gz:' prefix, got {prefix!r}.")
    raw = base64.b64decode(payload, validate=True)
    if prefix == "b64.gz":
        raw = gzip_decompress(raw)
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if len(raw) != expected:
        raise ValueError(f"The data holds {len(raw)} bytes, expected {expected} for {dtype} values of shape {shape}.")
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(shape), order=order or "C").copy()


def lists_of_numbers_to_ndarray(data: Any, order: str | None, shape: Sequence[int], dtype: str) -> np.ndarray:
    """Nested lists of numbers as an array of ``shape`` and ``dtype``.

    Example:
        >>> lists_of_numbers_to_ndarray([[1, 2], [3, 4]], "C", (2, 2), "float32").dtype
        dtype('float32')
    """
    return np.asarray(data, dtype=dtype).reshape(tuple(shape), order=order or "C")


def scalar_to_numpy(data: Any, dtype: str) -> np.generic:
    """A Python number as a numpy scalar of ``dtype``.

    Example:
        >>> scalar_to_numpy(3, "int16").dtype
        dtype('int16')
    """
    return np.dtype(dtype).type(data)


class hashodict(OrderedDict):  # noqa: N801 - inseq 0.7's name
    """An ordered dictionary that can be hashed (its items hash in order), e.g. to key a cache.

    Example:
        >>> hash(hashodict(a=1)) == hash(hashodict(a=1))
        True
    """

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

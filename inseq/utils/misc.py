"""Small helpers kept at inseq 0.7's path (``inseq.utils.misc``)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = [
    "extract_signature_args",
    "identity_fn",
    "isnotebook",
    "ordinal_str",
    "pretty_dict",
    "pretty_list",
    "pretty_tensor",
    "rgetattr",
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

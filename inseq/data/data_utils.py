"""Field-generic helpers shared by the attribution data classes (equality, copying, public fields)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

__all__ = ["fields_equal", "public_fields", "to_float32"]


def public_fields(obj: Any) -> dict[str, Any]:
    """Dataclass fields of ``obj`` whose names do not start with an underscore, in declaration order.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class A:
        ...     x: int
        ...     _y: int = 0
        >>> public_fields(A(1))
        {'x': 1}
    """
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if not f.name.startswith("_")}


def fields_equal(a: Any, b: Any) -> bool:
    """Structural equality: tensors compare with ``allclose(atol=1e-5, equal_nan=True)``, containers recursively.

    Example:
        >>> fields_equal({"p": torch.tensor([1.0, float("nan")])}, {"p": torch.tensor([1.0, float("nan")])})
        True
    """
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
            return False
        return bool(torch.allclose(a.float(), b.float(), atol=1e-5, equal_nan=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(fields_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(fields_equal(x, y) for x, y in zip(a, b))
    return a == b


def to_float32(value: Any) -> Any:
    """Cast a tensor (or the tensors in a dict) to float32; other values pass through unchanged."""
    if isinstance(value, torch.Tensor):
        return value if value.dtype == torch.float32 else value.float()
    if isinstance(value, dict):
        return {k: to_float32(v) for k, v in value.items()}
    return value

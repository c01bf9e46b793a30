"""Field-generic helpers shared by the attribution data classes (equality, copying, public fields)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

__all__ = ["AggregableMixin", "TensorWrapper", "fields_equal", "public_fields", "to_float32"]


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


def _map_tensors(value: Any, fn: Any) -> Any:
    """Apply ``fn`` to every tensor in ``value`` (nested dicts, lists and tuples are rebuilt)."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_map_tensors(v, fn) for v in value)
    return value


class TensorWrapper:
    """Field-generic operations for the dataclasses holding tensors (inseq 0.7's base of batches and outputs).

    Subclasses are dataclasses; each operation applies to every field, tensors inside dicts and lists included.
    Classes that define their own version of an operation keep it.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Pair(TensorWrapper):
        ...     a: torch.Tensor
        ...     b: dict
        >>> p = Pair(torch.ones(2), {"x": torch.zeros(1)}).to("cpu").detach()
        >>> p.to_dict()["b"]["x"].shape
        torch.Size([1])
    """

    def _apply(self, fn: Any) -> TensorWrapper:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, _map_tensors(getattr(self, f.name), fn))
        return self

    def to(self, device: str | torch.device) -> TensorWrapper:
        """Move every tensor to ``device`` (in place) and return ``self``."""
        return self._apply(lambda t: t.to(device))

    def detach(self) -> TensorWrapper:
        """Detach every tensor from the autograd graph (in place) and return ``self``."""
        return self._apply(lambda t: t.detach())

    def clone(self) -> TensorWrapper:
        """A deep copy."""
        import copy

        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """The public fields as a dict."""
        return public_fields(self)


class AggregableMixin:
    """Objects that ``aggregate()`` with their default ``_aggregator`` or a given one (inseq 0.7 mixin).

    Example:
        >>> issubclass(__import__("inseq").data.FeatureAttributionSequenceOutput, AggregableMixin)
        True
    """

    _aggregator: Any = None

    def aggregate(
        self,
        aggregator: Any = None,
        aggregate_fn: Any = None,
        do_pre_aggregation_checks: bool = True,
        do_post_aggregation_checks: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Aggregate with ``aggregator`` (default: ``self._aggregator``); see ``inseq.data.aggregator``."""
        from .aggregator import resolve_aggregator

        pipeline = resolve_aggregator(self._aggregator if aggregator is None else aggregator, aggregate_fn)
        return pipeline.aggregate(
            self,
            do_pre_aggregation_checks=do_pre_aggregation_checks,
            do_post_aggregation_checks=do_post_aggregation_checks,
            **kwargs,
        )

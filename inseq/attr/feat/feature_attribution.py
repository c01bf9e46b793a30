"""Base class and registry of feature attribution methods."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ...utils.errors import UnknownAttributionMethodError
from ...utils.registry import Registry

if TYPE_CHECKING:
    from ..engine import AttributionContext
    from ..port import AttributionModelPort as AttributionModel

METHODS: Registry[type[FeatureAttribution]] = Registry("attribution method")


@dataclass
class MethodResult:
    """Scores a method computed on the engine's position grid.

    Attributes:
        source: ``(batch, n_positions, src_len, *extra)`` scores of source tokens, or None.
        target: ``(batch, n_positions, tgt_len, *extra)`` scores of target tokens, or None.
        step_scores: Extra per-position scores (e.g. convergence ``"deltas"``), each ``(batch, n_positions)``.
        sequence_scores: Extra per-example tensors (e.g. encoder self-attention), keyed by name, lists per example.
    """

    source: torch.Tensor | None = None
    target: torch.Tensor | None = None
    step_scores: dict[str, torch.Tensor] = field(default_factory=dict)
    sequence_scores: dict[str, list[torch.Tensor]] = field(default_factory=dict)


class FeatureAttribution:
    """An attribution method. Subclasses set ``method_name`` and implement :meth:`compute`.

    Class attributes describe the method to the engine: ``output_kind`` (``"granular"``, ``"coarse"``,
    ``"multidim"`` or ``"plain"``) decides the output class and its default aggregation, ``use_baselines`` whether
    baseline embeddings are needed, ``supports_attribute_target`` whether target-side attribution is possible,
    ``uses_attributed_fn`` whether the method explains a step function (False for attention weights).
    """

    method_name: ClassVar[str] = ""
    output_kind: ClassVar[str] = "granular"
    num_extra_dims: ClassVar[int] = 0
    use_baselines: ClassVar[bool] = False
    supports_attribute_target: ClassVar[bool] = True
    supports_step_scores: ClassVar[bool] = True
    uses_attributed_fn: ClassVar[bool] = True
    is_final_step_method: ClassVar[bool] = False

    def __init__(self, attribution_model: AttributionModel | None = None, **kwargs: Any) -> None:
        self.attribution_model = attribution_model
        self.init_kwargs = kwargs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.method_name:
            METHODS.register(cls.method_name, cls, overwrite=True)

    @classmethod
    def load(
        cls, method_name: str, attribution_model: AttributionModel | None = None, **kwargs: Any
    ) -> FeatureAttribution:
        """Instantiate the method registered as ``method_name``."""
        if method_name not in METHODS:
            raise UnknownAttributionMethodError(method_name, list_feature_attribution_methods())
        return METHODS.get(method_name)(attribution_model, **kwargs)

    def compute(self, ctx: AttributionContext, **attribution_args: Any) -> MethodResult:
        """Compute the scores of every attributed position of ``ctx``'s batch."""
        raise NotImplementedError

    @classmethod
    def attribute_params(cls) -> set[str]:
        """Names of the keyword arguments :meth:`compute` accepts (routed from ``attribute(**kwargs)``)."""
        params = inspect.signature(cls.compute).parameters
        return {n for n, p in params.items() if n not in ("self", "ctx") and p.kind is p.KEYWORD_ONLY}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(method_name={self.method_name!r})"


class DummyAttribution(FeatureAttribution):
    """No attribution: only step scores are computed. Use it to get step scores fast, e.g. with attention."""

    method_name = "dummy"
    output_kind = "plain"
    uses_attributed_fn = False

    def compute(self, ctx: AttributionContext) -> MethodResult:
        return MethodResult()


def list_feature_attribution_methods() -> list[str]:
    """List the identifiers of all available attribution methods.

    Example:
        >>> import inseq
        >>> "saliency" in inseq.list_feature_attribution_methods()
        True
    """
    return sorted(METHODS.keys())

"""Base class and registry of feature attribution methods."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ...utils.checks import describe
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
    uses_attributed_fn: ClassVar[bool] = True

    def __init__(self, attribution_model: AttributionModel | None = None, **kwargs: Any) -> None:
        self.attribution_model = attribution_model
        self.init_kwargs = kwargs

    def __init_subclass__(cls, overwrite: bool = False, **kwargs: Any) -> None:
        """Register a subclass that declares its own ``method_name`` (as inseq 0.7 finds custom methods).

        A subclass that inherits its parent's ``method_name`` registers nothing, so it never replaces a built-in;
        one that declares an id already held by another class raises unless defined with ``overwrite=True``
        (``class MySaliency(SaliencyAttribution, overwrite=True): method_name = "saliency"``).
        """
        super().__init_subclass__(**kwargs)
        if "method_name" in cls.__dict__ and cls.method_name:
            register_attribution_method(cls, overwrite=overwrite)

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


def register_attribution_method(cls: type[FeatureAttribution], overwrite: bool = False) -> None:
    """Register an attribution method class under its ``method_name``.

    Redefining the same class (same module and qualified name, e.g. a notebook cell run twice) replaces it.

    Raises:
        TypeError: if ``cls`` is not a :class:`FeatureAttribution` subclass.
        ValueError: if it has no ``method_name``, or another class holds that id and ``overwrite`` is False.

    Example:
        >>> class MyMethod(FeatureAttribution):
        ...     def compute(self, ctx):
        ...         return MethodResult()
        >>> MyMethod.method_name = "my_method"
        >>> register_attribution_method(MyMethod)
        >>> "my_method" in list_feature_attribution_methods()
        True
    """
    if not (isinstance(cls, type) and issubclass(cls, FeatureAttribution)):
        raise TypeError(
            f"register_attribution_method(): cls must be a FeatureAttribution subclass, got {describe(cls)}."
        )
    name = cls.method_name
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__name__} has no method_name: set a non-empty string identifier.")
    if name in METHODS and not overwrite:
        held = METHODS.get(name)
        if (held.__module__, held.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(
                f"Attribution method {name!r} is already registered by {held.__module__}.{held.__qualname__}. "
                "Choose another method_name or pass overwrite=True."
            )
    METHODS.register(name, cls, overwrite=True)


def list_feature_attribution_methods() -> list[str]:
    """List the identifiers of all available attribution methods.

    Example:
        >>> import inseq
        >>> "saliency" in inseq.list_feature_attribution_methods()
        True
    """
    return sorted(METHODS.keys())


class DummyAttribution(FeatureAttribution):
    """No attribution: only step scores are computed. Use it to get step scores fast, e.g. with attention."""

    method_name = "dummy"
    output_kind = "plain"
    uses_attributed_fn = False

    def compute(self, ctx: AttributionContext) -> MethodResult:
        return MethodResult()

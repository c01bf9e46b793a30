"""An ``attribute()`` call as a validated request: its inputs, method, functions and routed keyword arguments.

The façade (:meth:`inseq.models.AttributionModel.attribute`) builds the request, then the examples and batches, and
hands each batch to the engine (:func:`inseq.attr.api.attribute_batch`) with it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .feat.base import FeatureAttribution
from .inputs import TextOrIds
from .routing import route_kwargs, warn_unused
from .step_functions import StepFunction, get_step_function
from .validation import validate_attribute_params

if TYPE_CHECKING:
    from .port import AttributionModelPort as AttributionModel


@dataclass
class AttributionRequest:
    """A validated ``attribute()`` call with its keyword arguments routed to their consumers."""

    input_texts: list[TextOrIds]
    generated_texts: list[TextOrIds] | None
    method: FeatureAttribution
    attr_pos_start: int | None
    attr_pos_end: int | None
    attribute_target: bool
    step_scores: list[str]
    include_eos_baseline: bool
    attributed_fn_id: str | Callable
    attributed_fn: StepFunction
    batch_size: int | None
    generate_from_target_prefix: bool
    skip_special_tokens: bool
    generation_args: dict[str, Any]
    attribution_args: dict[str, Any] = field(default_factory=dict)
    attributed_fn_args: dict[str, Any] = field(default_factory=dict)
    step_scores_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    contrast_args: dict[str, Any] = field(default_factory=dict)
    truncate_inputs: bool = False

    @classmethod
    def build(cls, model: AttributionModel, **params: Any) -> AttributionRequest:
        """Validate the parameters of ``attribute()`` and route its ``**kwargs``."""
        params = validate_attribute_params(params, model)
        kwargs = dict(params.pop("kwargs"))
        inputs = params.pop("input_texts")  # texts or token ids, normalised by validate_attribute_params
        generated = params.pop("generated_texts")
        if generated is not None and len(generated) != len(inputs):
            from ..utils.errors import LengthMismatchError

            raise LengthMismatchError(
                f"input_texts has {len(inputs)} texts but generated_texts has {len(generated)}: they must match."
            )
        method: FeatureAttribution = params["method"]
        for name in params["step_scores"]:
            get_step_function(name)
        batch_size = params["batch_size"]
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}.")
        if params["attribute_target"] and not method.supports_attribute_target:
            raise ValueError(f"The method {method.method_name!r} cannot attribute the target (attribute_target=True).")
        if generated is not None and params["generation_args"] and not params["generate_from_target_prefix"]:
            warnings.warn(
                f"generation_args {sorted(params['generation_args'])} are ignored: the targets are given "
                "(generated_texts), so nothing is generated.",
                stacklevel=4,
            )
        fn_id = params.pop("attributed_fn")
        request = cls(
            input_texts=inputs,
            generated_texts=generated,
            attributed_fn_id=fn_id,
            attributed_fn=get_step_function(fn_id, "attribute(): attributed_fn"),
            **params,
        )
        request._route(kwargs)
        return request

    def _route(self, kwargs: dict[str, Any]) -> None:
        self.attribution_args = dict(kwargs.pop("attribution_args", None) or {})
        self.attributed_fn_args = dict(kwargs.pop("attributed_fn_args", None) or {})
        shared_step_args = dict(kwargs.pop("step_scores_args", None) or {})
        method_params = self.method.attribute_params()
        fn = self.attributed_fn if self.method.uses_attributed_fn else None
        routed = route_kwargs(method_params, fn, self.step_scores, kwargs)
        self.attribution_args.update(routed.attribution_args)
        self.attributed_fn_args.update(routed.attributed_fn_args)
        self.step_scores_args = {name: {**shared_step_args, **args} for name, args in routed.step_scores_args.items()}
        self.contrast_args = routed.contrast_args
        unknown = set(self.attribution_args) - method_params
        if unknown:
            raise ValueError(
                f"attribution_args {sorted(unknown)} are not accepted by {self.method.method_name!r}; valid: "
                f"{sorted(method_params)}."
            )
        warn_unused(routed.unused, stacklevel=6)

    def info(self, model_info: dict[str, Any], generated: list[str]) -> dict[str, Any]:
        """The ``info`` dictionary stored in the output (``model_info``: the model's names and classes)."""
        fn = self.attributed_fn
        return {
            **model_info,
            "input_texts": self.input_texts,
            "generated_texts": generated,
            "generation_args": self.generation_args,
            "constrained_decoding": self.generated_texts is not None,
            "generate_from_target_prefix": self.generate_from_target_prefix,
            "include_eos_baseline": self.include_eos_baseline,
            "attributed_fn": getattr(fn, "__name__", str(self.attributed_fn_id)),
            "attribution_args": _jsonable(self.attribution_args),
            "attributed_fn_args": _jsonable(self.attributed_fn_args),
            "step_scores_args": _jsonable(self.step_scores_args),
            "attribution_method": self.method.method_name,
            "attr_pos_start": self.attr_pos_start,
            "attr_pos_end": self.attr_pos_end,
            "attribute_target": self.attribute_target,
            "step_scores": self.step_scores,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)

"""The architecture-independent part of an attributable model: method management and ``attribute()``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from ..attr.feat.base import FeatureAttribution
from ..utils.errors import MissingAttributionMethodError
from ..utils.features import call_model_feature

logger = logging.getLogger(__name__)


class AttributionModel:
    """A model that can be attributed. Subclasses implement tokenisation, generation and forward passes.

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "saliency")  # doctest: +SKIP
        >>> out = model.attribute("Hello, my name is", generation_args={"max_new_tokens": 5})  # doctest: +SKIP
        >>> out.show()  # doctest: +SKIP
    """

    model: Any
    tokenizer: Any
    is_encoder_decoder: bool = False
    default_attributed_fn_id: str = "probability"

    def __init__(self) -> None:
        self.attribution_method: FeatureAttribution | None = None
        self._device = "cpu"
        self.config = None

    # ------------------------------------------------------------------ setup and device
    def setup(self, device: str | None = None, attribution_method: str | None = None, **kwargs: Any) -> None:
        """Move the model to ``device`` (default: CUDA if available), set eval mode and the default method."""
        from ..utils.torch_utils import get_default_device

        self.device = device or get_default_device()
        self.model.eval()
        self.model.zero_grad(set_to_none=True)
        self.attribution_method = self._load_method(attribution_method, **kwargs) if attribution_method else None

    @property
    def device(self) -> str:
        """The device the model runs on."""
        return self._device

    @device.setter
    def device(self, new_device: str | torch.device) -> None:
        name = str(new_device)
        if name.split(":", maxsplit=1)[0] not in ("cpu", "cuda", "mps"):
            raise ValueError(f"Unknown device {name!r}: use 'cpu', 'cuda' (optionally 'cuda:N') or 'mps'.")
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"Device {name!r} was requested but CUDA is not available on this machine.")
        self._device = name
        self._move_model(name)

    def _move_model(self, device: str) -> None:
        self.model.to(device)

    @contextmanager
    def _on_device(self, device: str | None):
        previous = self.device
        if device is None or device == previous:
            yield
            return
        self.device = device
        try:
            yield
        finally:
            self.device = previous

    # ------------------------------------------------------------------ methods
    def _load_method(self, method: str, **kwargs: Any) -> FeatureAttribution:
        return FeatureAttribution.load(method, attribution_model=self, **kwargs)

    def get_attribution_method(
        self, method: str | None = None, override_default_attribution: bool = False, **kwargs: Any
    ) -> FeatureAttribution:
        """Return the method to use: ``method`` if given (made default with ``override_default_attribution``)."""
        if method is None:
            if self.attribution_method is None:
                raise MissingAttributionMethodError()
            return self.attribution_method
        if self.attribution_method is not None and self.attribution_method.method_name == method and not kwargs:
            return self.attribution_method
        instance = self._load_method(method, **kwargs)
        if override_default_attribution or self.attribution_method is None:
            self.attribution_method = instance
        return instance

    # ------------------------------------------------------------------ attribution
    def attribute(
        self,
        input_texts: str | Sequence[str],
        generated_texts: str | Sequence[str] | None = None,
        method: str | None = None,
        override_default_attribution: bool | None = False,
        attr_pos_start: int | None = None,
        attr_pos_end: int | None = None,
        show_progress: bool = True,
        pretty_progress: bool = True,
        output_step_attributions: bool = False,
        attribute_target: bool = False,
        step_scores: list[str] | None = None,
        include_eos_baseline: bool = False,
        attributed_fn: str | Callable | None = None,
        device: str | None = None,
        batch_size: int | None = None,
        generate_from_target_prefix: bool = False,
        skip_special_tokens: bool = False,
        clean_special_chars: bool = False,
        generation_args: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        """Attribute the generation of ``input_texts`` (or the given ``generated_texts``) to the input tokens.

        Args:
            input_texts: Prompt(s) for decoder-only models, source sentence(s) for encoder-decoder models.
            generated_texts: Target text(s) to attribute instead of generating (decoder-only: must continue the
                prompt at token level).
            method: Attribution method id for this call (default: the model's method).
            override_default_attribution: Make ``method`` the model's default.
            attr_pos_start: First target position to attribute (default: after the prompt / decoder start).
            attr_pos_end: End (exclusive) of the attributed target positions; negative values count from the end.
            show_progress: Show a progress bar.
            pretty_progress: Accepted for compatibility (the bar is always a rich one).
            output_step_attributions: Also return per-step outputs in ``out.step_attributions``.
            attribute_target: Encoder-decoder models: also attribute the target prefix.
            step_scores: Step function ids to compute at every attributed position.
            include_eos_baseline: Use UNK in the baseline at EOS positions too.
            attributed_fn: Step function id or callable to attribute (default ``"probability"``).
            device: Run this call on another device, then move the model back.
            batch_size: Attribute the inputs in batches of this size (default: all at once).
            generate_from_target_prefix: Encoder-decoder models: continue generation from ``generated_texts``.
            skip_special_tokens: Strip special tokens from the texts and tokenise without adding them.
            clean_special_chars: Make output tokens readable (``▁Hello`` -> ``Hello``).
            generation_args: Keyword arguments for ``model.generate`` (e.g. ``{"max_new_tokens": 10}``).
            **kwargs: Routed by name to the method (e.g. ``n_steps``), the attributed function and the step
                functions (e.g. ``contrast_targets``). ``truncate_inputs=True`` truncates inputs longer than the
                model's positions instead of raising :class:`~inseq.utils.errors.InputTooLongError`.

        Returns:
            A :class:`~inseq.data.FeatureAttributionOutput`.

        Example:
            >>> import inseq
            >>> model = inseq.load_model(inseq.examples.get_example_model_path("toy-gpt2-ioi"), "saliency")  # doctest: +SKIP
            >>> out = model.attribute("When Mary and John went to the store, John gave a drink to")  # doctest: +SKIP
        """
        from ..attr.runner import AttributionRequest, run_attribution
        from ..attr.validation import check_attribute_flags

        started = time.perf_counter()
        check_attribute_flags(
            show_progress=show_progress,
            pretty_progress=pretty_progress,
            output_step_attributions=output_step_attributions,
            override_default_attribution=override_default_attribution,
            clean_special_chars=clean_special_chars,
        )
        request = AttributionRequest.build(
            self,
            input_texts=input_texts,
            generated_texts=generated_texts,
            method=self.get_attribution_method(method, bool(override_default_attribution)),
            attr_pos_start=attr_pos_start,
            attr_pos_end=attr_pos_end,
            attribute_target=attribute_target,
            step_scores=step_scores,
            include_eos_baseline=include_eos_baseline,
            attributed_fn=attributed_fn or self.default_attributed_fn_id,
            batch_size=batch_size,
            generate_from_target_prefix=generate_from_target_prefix,
            skip_special_tokens=skip_special_tokens,
            generation_args=generation_args,
            kwargs=kwargs,
        )
        with self._on_device(device), _frozen(self.model):
            out = run_attribution(
                self, request, show_progress=show_progress, output_step_attributions=output_step_attributions
            )
        if clean_special_chars:
            for seq in out.sequence_attributions:
                seq.source = self.clean_tokens(seq.source)
                seq.target = self.clean_tokens(seq.target)
        out.info["exec_time"] = time.perf_counter() - started
        return out

    def evaluate(self, out: Any, metrics: str | list[str] | None = None, **options: Any) -> Any:
        """Measure how faithful the attributions of ``out`` (an output of this model) are.

        See :func:`inseq.evaluate` for the metrics and options.

        Example:
            >>> out = model.attribute("Hello world", method="occlusion")  # doctest: +SKIP
            >>> model.evaluate(out, metrics=["comprehensiveness"]).summary()  # doctest: +SKIP
        """
        return call_model_feature("evaluate", self, out, metrics=metrics, **options)


@contextmanager
def _frozen(module: torch.nn.Module):
    """Stop tracking parameter gradients while attributing (only input gradients are needed)."""
    flags = [p.requires_grad for p in module.parameters()]
    try:
        for p in module.parameters():
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)

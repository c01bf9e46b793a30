"""The architecture-independent part of an attributable model: method management and ``attribute()``."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from ..attr.feat.base import FeatureAttribution
from ..utils.errors import MissingAttributionMethodError, UnknownAttributionMethodError
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
            raise ValueError(
                f"Unknown device {name!r} (device={new_device!r}): use 'cpu', 'cuda' (optionally 'cuda:N') or 'mps'."
            )
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
        if not isinstance(method, str):
            from ..attr.feat import list_feature_attribution_methods

            raise UnknownAttributionMethodError(method, list_feature_attribution_methods(), param="method")
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
        from ..attr.request import AttributionRequest
        from ..attr.validation import check_attribute_flags

        started = time.perf_counter()
        check_attribute_flags(
            show_progress=show_progress,
            pretty_progress=pretty_progress,
            output_step_attributions=output_step_attributions,
            override_default_attribution=override_default_attribution,
            clean_special_chars=clean_special_chars,
        )
        method_obj = self.get_attribution_method(method, bool(override_default_attribution))
        input_texts, generated_texts = self._chat_inputs(input_texts, generated_texts)
        request = AttributionRequest.build(
            self,
            input_texts=input_texts,
            generated_texts=generated_texts,
            method=method_obj,
            attr_pos_start=attr_pos_start,
            attr_pos_end=attr_pos_end,
            attribute_target=self._check_attribute_target(attribute_target),
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
            out = self._run_pipeline(request, show_progress, output_step_attributions)
        if clean_special_chars:
            for seq in out.sequence_attributions:
                seq.source = self.clean_tokens(seq.source)
                seq.target = self.clean_tokens(seq.target)
        out.info["exec_time"] = time.perf_counter() - started
        return out

    # ------------------------------------------------------------------ the pipeline
    def _chat_inputs(self, input_texts: Any, generated_texts: Any) -> tuple[Any, Any]:
        """Conversations (lists of ``{"role", "content"}`` dicts) formatted with the chat template; a generated text
        that does not start with its formatted conversation is taken as the reply and appended to it."""
        if not _is_conversation(input_texts) and not (
            isinstance(input_texts, list | tuple) and input_texts and all(_is_conversation(c) for c in input_texts)
        ):
            return input_texts, generated_texts
        conversations = [input_texts] if _is_conversation(input_texts) else list(input_texts)
        prompts = [self.format_chat(c) for c in conversations]
        if generated_texts is None:
            return prompts, None
        targets = [generated_texts] if isinstance(generated_texts, str) else list(generated_texts)
        if len(targets) == len(prompts) and all(isinstance(g, str) for g in targets):
            targets = [g if g.startswith(p) else p + g for p, g in zip(prompts, targets)]
        return prompts, targets

    def _check_attribute_target(self, attribute_target: bool) -> bool:
        """``attribute_target`` as this architecture reads it (decoder-only models always attribute the prefix)."""
        if attribute_target is True and not self.is_encoder_decoder:
            warnings.warn(
                "attribute_target is only meaningful for encoder-decoder models: decoder-only models always "
                "attribute the whole prefix.",
                stacklevel=3,
            )
            return False
        return attribute_target

    def _run_pipeline(self, request: Any, show_progress: bool, output_step_attributions: bool) -> Any:
        """Texts -> examples -> batches -> the engine, one batch at a time -> one merged output."""
        from ..attr.api import attribute_batch
        from ..data.attribution import merge_attributions
        from ..utils.progress import progress_bar

        examples = self.prepare_examples(
            request.input_texts,
            request.generated_texts,
            request.generation_args,
            request.skip_special_tokens,
            request.generate_from_target_prefix,
            truncate_inputs=request.truncate_inputs,
        )
        size = request.batch_size or len(examples)
        outputs = []
        with progress_bar(show_progress) as bar:
            for lo in range(0, len(examples), size):
                group = list(range(lo, min(lo + size, len(examples))))
                chosen = [examples[i] for i in group]
                batch = self.build_batch(
                    chosen, request.attr_pos_start, request.attr_pos_end, request.include_eos_baseline
                )
                advance = bar.task(
                    f"Attributing with {request.method.method_name} ({batch.size} seq.)",
                    batch.grid_end - batch.grid_start,
                )
                contrast = self._contrast_batch(request, chosen, group)
                outputs.append(
                    attribute_batch(self, batch, request, contrast, group, advance, output_step_attributions)
                )
        n_forwards = sum(o.info.pop("n_forwards", 0) for o in outputs)
        out = outputs[0] if len(outputs) == 1 else merge_attributions(outputs)
        out.info.update(request.info(self.info, [ex.generated_text for ex in examples]))
        out.info["n_forwards"] = n_forwards
        out.info["input_texts"] = [ex.input_text for ex in examples]  # inputs given as ids are stored as their text
        out.info["output_step_attributions"] = output_step_attributions
        return out

    def _contrast_batch(self, request: Any, examples: list[Any], group: list[int]) -> Any:
        """The batch of ``examples`` with their contrastive sources and/or targets (None when not contrastive)."""
        args, total = request.contrast_args, len(request.input_texts)
        targets = _select("contrast_targets", args.get("contrast_targets"), group, total)
        sources = _select("contrast_sources", args.get("contrast_sources"), group, total)
        if targets is None and sources is None:
            return None
        if sources is not None and not self.is_encoder_decoder:
            raise ValueError("contrast_sources is only supported for encoder-decoder models; use contrast_targets.")
        contrast_examples = self.contrast_examples(examples, sources, targets, request.skip_special_tokens)
        return self.build_batch(contrast_examples, None, None, False)

    def evaluate(self, out: Any, metrics: str | list[str] | None = None, **options: Any) -> Any:
        """Measure how faithful the attributions of ``out`` (an output of this model) are.

        See :func:`inseq.evaluate` for the metrics and options.

        Example:
            >>> out = model.attribute("Hello world", method="occlusion")  # doctest: +SKIP
            >>> model.evaluate(out, metrics=["comprehensiveness"]).summary()  # doctest: +SKIP
        """
        return call_model_feature("evaluate", self, out, metrics=metrics, **options)

    def attribute_sources(self, context: Any = None, query: str | None = None, **options: Any) -> Any:
        """Attribute a response to the sources (sentences, documents, chat turns) of its context.

        See :func:`inseq.sources.attribute_sources` for the options (``method``, ``n_ablations``, ``messages``...).

        Example:
            >>> out = model.attribute_sources(["Mary cup", "John hat"], "John", template="Pairs: {context}. {query}")  # doctest: +SKIP
            >>> out.to_dataframe()  # doctest: +SKIP
        """
        return call_model_feature("attribute_sources", self, context, query, **options)


def _is_conversation(value: Any) -> bool:
    """Whether ``value`` is one conversation: a non-empty list of dicts with a ``role``."""
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _select(name: str, values: Any, indices: list[int], total: int) -> list | None:
    """The contrastive texts of the examples at ``indices`` (one text per input of the call)."""
    if values is None:
        return None
    values = [values] if isinstance(values, str) else list(values)
    if len(values) != total:
        raise ValueError(
            f"{name} has {len(values)} texts but {total} inputs are attributed: pass one contrastive text per input."
        )
    return [values[i] for i in indices]


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

"""The engine's entry point: one batch in, its attribution output out.

The façade (:meth:`inseq.models.AttributionModel.attribute`) turns texts into examples and examples into batches;
:func:`attribute_batch` runs everything else of one batch on the model's port (tensors only): the contrastive
forward, the method, the step scores, and the output objects.

Example:
    >>> import inseq
    >>> from inseq.attr.request import AttributionRequest
    >>> model = inseq.load_model(inseq.testing.get_tiny_model_path("gpt2"), "saliency")  # doctest: +SKIP
    >>> request = AttributionRequest.build(model, input_texts=["a b"], ...)  # doctest: +SKIP
    >>> batch = model.build_batch(model.prepare_examples(["a b"], None, {"max_new_tokens": 2}), None, None, False)  # doctest: +SKIP
    >>> out = attribute_batch(model, batch, request)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .contrast import build_contrast, contrast_token_labels
from .engine import compute_step_scores, make_context
from .outputs import build_output
from .scorer import Scorer

if TYPE_CHECKING:
    from ..data.attribution import FeatureAttributionOutput
    from ..data.batch import AttributionBatch
    from .port import AttributionModelPort
    from .request import AttributionRequest


def attribute_batch(
    port: AttributionModelPort,
    batch: AttributionBatch,
    request: AttributionRequest,
    contrast_batch: AttributionBatch | None = None,
    indices: list[int] | None = None,
    progress: Callable[[float], None] | None = None,
    output_step_attributions: bool = False,
) -> FeatureAttributionOutput:
    """Attribute one batch: contrast, method, step scores and output, all on one forward path (the output's
    ``info`` holds only ``n_forwards``, the forwards it ran).

    Args:
        port: The model.
        batch: The batch to attribute.
        request: The validated call.
        contrast_batch: The batch's examples with their contrastive sources/targets, when a contrastive function
            is used with ``contrast_sources`` / ``contrast_targets``.
        indices: Index of each example among the call's inputs (default: ``0 .. batch.size - 1``).
        progress: Advanced by the number of attributed positions as they are done.
        output_step_attributions: Also build per-step outputs.
    """
    forward_path = Scorer(port)
    indices = list(range(batch.size)) if indices is None else indices
    contrast = build_contrast(
        forward_path, batch, contrast_batch, request.contrast_args, indices, len(request.input_texts)
    )
    ctx = make_context(
        port,
        batch,
        request.attributed_fn,
        request.attributed_fn_args,
        request.attribute_target,
        contrast,
        request.attribution_args.get("max_chunk_size"),
        forward_path,
    )
    ctx.progress = progress
    result = request.method.compute(ctx, **request.attribution_args)
    scores = compute_step_scores(ctx, request.step_scores, request.step_scores_args, contrast)
    labels = contrast_token_labels(batch, contrast_batch, contrast)
    out = build_output(request.method, ctx, result, scores, output_step_attributions, labels)
    out.info["n_forwards"] = forward_path.n_forwards
    return out

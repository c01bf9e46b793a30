"""Running ``model.attribute`` with the options of an :class:`~inseq.pipelines.args.AttributeExtendedArgs`.

Example:
    >>> out = attribute_texts(model, ["Hello"], None, AttributeExtendedArgs(model_name_or_path=model))  # doctest: +SKIP
    >>> out = aggregate_outputs(out, aggregators=["spans", "mean"])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models.run_options import generation_kwargs_with_language, load_model_from_args
from ..utils.errors import InseqError
from .args import AttributeBaseArgs, AttributeExtendedArgs

if TYPE_CHECKING:
    from ..data import FeatureAttributionOutput
    from ..models import AttributionModel


class PipelineError(InseqError, ValueError):
    """Invalid options or data for an attribution run (the message names the bad value and what is valid)."""


def load_run_model(args: AttributeBaseArgs) -> AttributionModel:
    """The model of ``args``: an already loaded one, or loaded from ``model_name_or_path``.

    Raises:
        PipelineError: No model was given.
    """
    return load_model_from_args(args, PipelineError)


def aggregate_outputs(
    out: FeatureAttributionOutput,
    selectors: list[int] | None = None,
    aggregators: list[str] | None = None,
    normalize_attributions: bool = False,
    rescale_attributions: bool = False,
) -> FeatureAttributionOutput:
    """Aggregate ``out`` with each aggregator in turn (paired with the selector at the same position, if any).

    Args:
        out: The attribution output.
        selectors: ``select_idx`` values, one per aggregator (or None).
        aggregators: Aggregator or aggregation function ids.
        normalize_attributions: Normalize while aggregating.
        rescale_attributions: Rescale while aggregating.

    Returns:
        The aggregated output (``out`` itself when no aggregator is given).

    Raises:
        PipelineError: The numbers of selectors and aggregators differ.

    Example:
        >>> aggregate_outputs(out, aggregators=["mean"])  # doctest: +SKIP
    """
    if not aggregators:
        return out
    selectors = list(selectors or [])
    if selectors and len(selectors) != len(aggregators):
        raise PipelineError(
            f"attribution_selectors (--attribution_selectors) has {len(selectors)} values but "
            f"attribution_aggregators has {len(aggregators)}: give one selector per aggregator."
        )
    for i, aggregator in enumerate(aggregators):
        out = out.aggregate(
            aggregator=aggregator,
            normalize=normalize_attributions,
            rescale=rescale_attributions,
            select_idx=selectors[i] if selectors else None,
            do_post_aggregation_checks=False,
        )
    return out


def aggregate_with_args(out: FeatureAttributionOutput, args: AttributeBaseArgs) -> FeatureAttributionOutput:
    """:func:`aggregate_outputs` with the aggregation options of ``args``."""
    return aggregate_outputs(
        out,
        args.attribution_selectors,
        args.attribution_aggregators,
        args.normalize_attributions,
        args.rescale_attributions,
    )


def generation_kwargs_for(model: AttributionModel, args: AttributeBaseArgs) -> dict[str, Any]:
    """Generation kwargs with ``forced_bos_token_id`` set from a ``tgt_lang`` tokenizer kwarg (e.g. mBART, NLLB)."""
    return generation_kwargs_with_language(model, args.generation_kwargs, args.tokenizer_kwargs)


def attribute_texts(
    model: AttributionModel,
    input_texts: list[str],
    generated_texts: list[str] | None,
    args: AttributeExtendedArgs,
    show_progress: bool = True,
) -> FeatureAttributionOutput:
    """Run ``model.attribute`` on texts with the options of ``args``.

    Example:
        >>> attribute_texts(model, ["Hello"], None, AttributeExtendedArgs(model_name_or_path=model))  # doctest: +SKIP
    """
    return model.attribute(
        input_texts,
        generated_texts,
        attr_pos_start=args.start_pos,
        attr_pos_end=args.end_pos,
        show_progress=show_progress,
        output_step_attributions=args.output_step_attributions,
        attribute_target=args.attribute_target,
        step_scores=list(args.step_scores or []),
        include_eos_baseline=args.include_eos_baseline,
        attributed_fn=args.attributed_fn,
        batch_size=args.batch_size,
        generate_from_target_prefix=args.generate_from_target_prefix,
        generation_args=generation_kwargs_for(model, args),
        **dict(args.attribution_kwargs or {}),
    )

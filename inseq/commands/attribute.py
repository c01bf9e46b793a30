"""``inseq attribute``: attribute the generation of one or more texts.

Example:
    .. code-block:: bash

        inseq attribute -m gpt2 -a saliency -i "Hello, my name is" --generation_kwargs '{"max_new_tokens": 5}' \\
            --save_path out.json --viz_path out.html
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..utils.compat import alias_submodules
from .base import BaseCLICommand, CommandError, load_model_or_fail, setup_logging
from .cli_args import cli_arg

if TYPE_CHECKING:
    from ..data import FeatureAttributionOutput
    from ..models import AttributionModel

logger = logging.getLogger(__name__)


def _methods() -> list[str]:
    from ..attr import list_feature_attribution_methods

    return list_feature_attribution_methods()


def _step_functions() -> list[str]:
    from ..attr import list_step_functions

    return list_step_functions()


def _aggregators() -> list[str]:
    from ..data import list_aggregation_functions, list_aggregators

    return list(list_aggregators()) + list(list_aggregation_functions())


def _default_device() -> str:
    from ..models import get_default_device

    return get_default_device()


@dataclass
class AttributeBaseArgs:
    """Model, attribution method and aggregation options."""

    model_name_or_path: Any = cli_arg(
        default=None, aliases=["-m"], required=True, help="Model id on the HuggingFace Hub or local model folder."
    )
    attribution_method: str | None = cli_arg(
        default="saliency", aliases=["-a"], choices=_methods, help="Feature attribution method to use."
    )
    device: str = cli_arg(
        default_factory=_default_device, aliases=["--dev"], help="Device for the model (cpu, cuda, cuda:1...)."
    )
    attributed_fn: str | None = cli_arg(
        default=None,
        aliases=["-fn"],
        choices=_step_functions,
        help="Step function used as attribution target (default: probability).",
    )
    attribution_selectors: list[int] | None = cli_arg(
        default=None, help="Indices of the last attribution dimension to select, one per aggregator (select_idx)."
    )
    attribution_aggregators: list[str] | None = cli_arg(
        default=None,
        choices=_aggregators,
        help="Aggregators or aggregation functions applied to the attributions before saving, in order.",
    )
    normalize_attributions: bool = cli_arg(default=False, help="Normalize the attributions when aggregating.")
    rescale_attributions: bool = cli_arg(default=False, help="Rescale the attributions when aggregating.")
    model_kwargs: dict = cli_arg(default_factory=dict, help="JSON of keyword arguments for model loading.")
    tokenizer_kwargs: dict = cli_arg(
        default_factory=dict, help="JSON of keyword arguments for the tokenizer (tgt_lang sets forced_bos_token_id)."
    )
    generation_kwargs: dict = cli_arg(
        default_factory=dict, help="JSON of keyword arguments for model.generate, e.g. '{\"max_new_tokens\": 10}'."
    )
    attribution_kwargs: dict = cli_arg(
        default_factory=dict, help="JSON of keyword arguments for the attribution method and attributed function."
    )


@dataclass
class AttributeExtendedArgs(AttributeBaseArgs):
    """Attribution, display and output options."""

    attribute_target: bool = cli_arg(default=False, help="Encoder-decoder models: also attribute the target prefix.")
    generate_from_target_prefix: bool = cli_arg(
        default=False, help="Encoder-decoder models: continue generation from the generated texts used as prefix."
    )
    step_scores: list[str] = cli_arg(
        default_factory=list, choices=_step_functions, help="Step scores computed at every attributed step."
    )
    output_step_attributions: bool = cli_arg(default=False, help="Also keep the per-step attributions.")
    include_eos_baseline: bool = cli_arg(
        default=False, aliases=["--eos"], help="Use UNK in the baseline at end-of-sequence positions too."
    )
    batch_size: int = cli_arg(default=8, aliases=["-bs"], help="Number of texts attributed together.")
    aggregate_output: bool = cli_arg(default=False, help="Say that the saved output is aggregated (informational).")
    hide_attributions: bool = cli_arg(default=False, aliases=["--hide"], help="Do not show attributions in console.")
    save_path: str | None = cli_arg(default=None, aliases=["-o"], help="Path of the JSON file saving the output.")
    viz_path: str | None = cli_arg(default=None, help="Path of an HTML file with the attribution heatmaps.")
    start_pos: int | None = cli_arg(default=None, aliases=["-s"], help="First target position to attribute.")
    end_pos: int | None = cli_arg(default=None, aliases=["-e"], help="End (exclusive) of attributed positions.")
    verbose: bool = cli_arg(default=False, aliases=["-v"], help="Log INFO messages.")
    very_verbose: bool = cli_arg(default=False, aliases=["-vv"], help="Log DEBUG messages.")


@dataclass
class AttributeWithInputsArgs(AttributeExtendedArgs):
    """Texts to attribute."""

    input_texts: list[str] = cli_arg(
        default_factory=list, aliases=["-i"], required=True, help="Input texts (prompts or source sentences)."
    )
    generated_texts: list[str] | None = cli_arg(
        default=None,
        aliases=["-g"],
        help="Forced generated texts, one per input (decoder-only: must start with the input text).",
    )


def aggregate_attribution_scores(
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

    Example:
        >>> aggregate_attribution_scores(out, aggregators=["mean"])  # doctest: +SKIP
    """
    if not aggregators:
        return out
    selectors = list(selectors or [])
    if selectors and len(selectors) != len(aggregators):
        raise CommandError(
            f"--attribution_selectors has {len(selectors)} values but --attribution_aggregators has "
            f"{len(aggregators)}: give one selector per aggregator."
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


def generation_kwargs_for(model: AttributionModel, args: AttributeBaseArgs) -> dict[str, Any]:
    """Generation kwargs with ``forced_bos_token_id`` set from a ``tgt_lang`` tokenizer kwarg (e.g. mBART, NLLB)."""
    gen = dict(args.generation_kwargs or {})
    tgt_lang = (args.tokenizer_kwargs or {}).get("tgt_lang")
    if tgt_lang and "forced_bos_token_id" not in gen:
        tokenizer = model.tokenizer
        lang_ids = getattr(tokenizer, "lang_code_to_id", None)
        token_id = lang_ids.get(tgt_lang) if isinstance(lang_ids, dict) else None
        if token_id is None:
            token_id = tokenizer.convert_tokens_to_ids(tgt_lang)
        gen["forced_bos_token_id"] = token_id
    return gen


def attribute_with_model(
    model: AttributionModel,
    input_texts: list[str],
    generated_texts: list[str] | None,
    args: AttributeExtendedArgs,
    show_progress: bool = True,
) -> FeatureAttributionOutput:
    """Run ``model.attribute`` with the options of ``args``."""
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


def show_and_save(out: FeatureAttributionOutput, args: AttributeExtendedArgs) -> FeatureAttributionOutput:
    """Show ``out`` (unless hidden), write the HTML view and the (aggregated) JSON file when asked."""
    if not args.hide_attributions:
        out.show(display=True)
    if args.viz_path:
        html = out.show(display=False, return_html=True)
        path = Path(args.viz_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html or "", encoding="utf-8")
        logger.info("Saved the visualization to %s", path)
    if args.save_path:
        if args.attribution_aggregators:
            out = aggregate_attribution_scores(
                out,
                args.attribution_selectors,
                args.attribution_aggregators,
                args.normalize_attributions,
                args.rescale_attributions,
            )
        path = Path(args.save_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        out.save(path, overwrite=True)
        what = "aggregated attributions" if args.aggregate_output or args.attribution_aggregators else "attributions"
        print(f"Saved {what} to {path}")
    return out


def attribute(input_texts: list[str], generated_texts: list[str] | None, args: AttributeExtendedArgs):
    """Load the model, attribute the texts, show and save the output.

    Returns:
        The (possibly aggregated) :class:`~inseq.data.FeatureAttributionOutput`.

    Example:
        >>> args = AttributeWithInputsArgs(model_name_or_path="gpt2", input_texts=["Hello"])  # doctest: +SKIP
        >>> out = attribute(args.input_texts, None, args)  # doctest: +SKIP
    """
    if generated_texts is not None and len(generated_texts) != len(input_texts):
        raise CommandError(
            f"--generated_texts has {len(generated_texts)} texts but --input_texts has {len(input_texts)}: "
            "give one generated text per input."
        )
    model = load_model_or_fail(
        args.model_name_or_path, args.attribution_method, args.device, args.model_kwargs, args.tokenizer_kwargs
    )
    out = attribute_with_model(model, input_texts, generated_texts, args)
    return show_and_save(out, args)


class AttributeCommand(BaseCLICommand):
    """``inseq attribute``."""

    _name = "attribute"
    _help = "Perform feature attribution on one or multiple sentences."
    _dataclasses = (AttributeWithInputsArgs,)

    @staticmethod
    def run(args: tuple[AttributeWithInputsArgs]) -> int:
        (attr_args,) = args
        setup_logging(attr_args.verbose, attr_args.very_verbose)
        attribute(attr_args.input_texts, attr_args.generated_texts, attr_args)
        return 0


# inseq 0.7 paths: inseq.commands.attribute.attribute / .attribute_args
alias_submodules(__name__, "attribute", "attribute_args")

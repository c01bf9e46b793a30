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
from typing import TYPE_CHECKING

from ..pipelines.args import AttributeExtendedArgs
from ..utils.options import cli_arg
from .base import BaseCLICommand, CommandError, evaluate_saved, load_model_or_fail, setup_logging

if TYPE_CHECKING:
    from ..data import FeatureAttributionOutput

logger = logging.getLogger(__name__)


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
            from ..pipelines.attribution import aggregate_outputs

            out = aggregate_outputs(
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
    from ..pipelines.attribution import attribute_texts

    model = load_model_or_fail(
        args.model_name_or_path, args.attribution_method, args.device, args.model_kwargs, args.tokenizer_kwargs
    )
    out = attribute_texts(model, input_texts, generated_texts, args)
    shown = show_and_save(out, args)
    if args.evaluate:
        evaluate_saved(model, out, args.evaluate, args.save_path)
    return shown


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


__all__ = [
    "AttributeCommand",
    "AttributeExtendedArgs",
    "AttributeWithInputsArgs",
    "attribute",
    "show_and_save",
]

"""``inseq attribute-sources``: which sources (sentences, documents, chat turns) of a context a response used.

The algorithm lives in :mod:`inseq.sources`; this module parses the options, calls it and prints the result.

Example:
    .. code-block:: bash

        inseq attribute-sources -m gpt2 --context "Paris is in France. Rome is in Italy." \\
            --query "Where is Rome?" --method ablation --n_ablations 32 --save_path sources.json --evaluate
"""

from __future__ import annotations

from ..sources.args import AttributeSourcesArgs
from .base import BaseCLICommand, CommandError, setup_logging


class AttributeSourcesCommand(BaseCLICommand):
    """``inseq attribute-sources``."""

    _name = "attribute-sources"
    _help = "Attribute a response to the sources of its context (ContextCite-style ablations, leave-one-out, ...)."
    _dataclasses = (AttributeSourcesArgs,)

    @staticmethod
    def run(args: tuple[AttributeSourcesArgs]) -> int:
        (src_args,) = args
        setup_logging()
        from ..sources.attribute import run_attribute_sources
        from ..utils.errors import InvalidArgumentError

        try:
            out = run_attribute_sources(src_args)
        except InvalidArgumentError as err:
            raise CommandError(str(err)) from err
        if not src_args.hide:
            out.show()
        print(out.to_dataframe(top_k=src_args.top_k).to_string(index=False))
        if src_args.evaluate:
            print(out.evaluate().format())
        if src_args.save_path:
            print(f"Saved the source attribution to {src_args.save_path}")
        if src_args.viz_path:
            print(f"Saved the view to {src_args.viz_path}")
        return 0


__all__ = ["AttributeSourcesCommand"]

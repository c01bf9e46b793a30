"""``inseq attribute-context``: PECoRe context attribution from the command line.

The algorithm lives in :mod:`inseq.context`; this module parses the options and calls it (the library renders the
console view and writes ``--save_path`` / ``--viz_path``).

Example:
    .. code-block:: bash

        inseq attribute-context -m gpt2 --input_context_text "Paris is in France." \\
            --input_current_text "Paris is the capital of" --output_current_text "France" --save_path out.json

    >>> from inseq.commands.attribute_context import attribute_context
    >>> out = attribute_context(model_name_or_path="gpt2", input_current_text="Hi", show_viz=False)  # doctest: +SKIP
"""

from __future__ import annotations

from ..context import (
    CONTRASTIVE_METRICS,
    AttributeContextArgs,
    AttributeContextInputArgs,
    AttributeContextMethodArgs,
    AttributeContextOutput,
    AttributeContextOutputArgs,
    CCIOutput,
    attribute_context,
    select_scores,
    visualize_attribute_context,
)
from .base import BaseCLICommand, setup_logging


class AttributeContextCommand(BaseCLICommand):
    """``inseq attribute-context``."""

    _name = "attribute-context"
    _help = "Detect and attribute context dependence in generation models (PECoRe)."
    _dataclasses = (AttributeContextArgs,)

    @staticmethod
    def run(args: tuple[AttributeContextArgs]) -> int:
        (ctx_args,) = args
        setup_logging()
        attribute_context(ctx_args)
        return 0


__all__ = [
    "CONTRASTIVE_METRICS",
    "AttributeContextArgs",
    "AttributeContextCommand",
    "AttributeContextInputArgs",
    "AttributeContextMethodArgs",
    "AttributeContextOutput",
    "AttributeContextOutputArgs",
    "CCIOutput",
    "attribute_context",
    "select_scores",
    "visualize_attribute_context",
]

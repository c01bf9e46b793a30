"""``inseq attribute-context``: PECoRe context attribution from the command line.

The algorithm lives in :mod:`inseq.context`; this module parses the options and calls it (the library renders the
console view and writes ``--save_path`` / ``--viz_path``). The library's PECoRe names are re-exported here, loaded
on first use.

Example:
    .. code-block:: bash

        inseq attribute-context -m gpt2 --input_context_text "Paris is in France." \\
            --input_current_text "Paris is the capital of" --output_current_text "France" --save_path out.json

    >>> from inseq.commands.attribute_context import attribute_context
    >>> out = attribute_context(model_name_or_path="gpt2", input_current_text="Hi", show_viz=False)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ..context.args import (
    AttributeContextArgs,
    AttributeContextInputArgs,
    AttributeContextMethodArgs,
    AttributeContextOutputArgs,
)
from ..utils.lazy import lazy_exports
from .base import BaseCLICommand, setup_logging

_REEXPORTED = (
    "CONTRASTIVE_METRICS",
    "AttributeContextOutput",
    "CCIOutput",
    "attribute_context",
    "select_scores",
    "visualize_attribute_context",
)
_lazy_getattr, __dir__ = lazy_exports(__name__, {name: f"..context:{name}" for name in _REEXPORTED})


def __getattr__(name: str) -> Any:
    return _lazy_getattr(name)


class AttributeContextCommand(BaseCLICommand):
    """``inseq attribute-context``."""

    _name = "attribute-context"
    _help = "Detect and attribute context dependence in generation models (PECoRe)."
    _dataclasses = (AttributeContextArgs,)

    @staticmethod
    def run(args: tuple[AttributeContextArgs]) -> int:
        from ..context import attribute_context

        (ctx_args,) = args
        setup_logging()
        attribute_context(ctx_args)
        return 0


__all__ = [
    "AttributeContextArgs",
    "AttributeContextCommand",
    "AttributeContextInputArgs",
    "AttributeContextMethodArgs",
    "AttributeContextOutputArgs",
]
__all__.extend(_REEXPORTED)

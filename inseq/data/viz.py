"""Import-compatibility alias: the views live in :mod:`inseq.viz`."""

from ..viz import show_attributions, show_granular_attributions, show_token_attributions

__all__ = ["show_attributions", "show_granular_attributions", "show_token_attributions"]

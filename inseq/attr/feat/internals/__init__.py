"""The internals family: methods reading or perturbing model internals (attention weights, value zeroing)."""

from .attention import AttentionWeightsAttribution, InternalsAttribution
from .value_zeroing import ValueZeroingAttribution

__all__ = ["AttentionWeightsAttribution", "InternalsAttribution", "ValueZeroingAttribution"]

"""The LRP family: ``attnlrp`` and ``cp_lrp``, input x modified gradient under LRP rules placed on any architecture."""

from .methods import AttnLRPAttribution, CPLRPAttribution
from .rules import lrp_rules

__all__ = ["AttnLRPAttribution", "CPLRPAttribution", "lrp_rules"]

"""The perturbation family: occlusion, LIME and ReAGent, on the perturbed-forward kernel (:mod:`.kernel`)."""

from .lime import LimeAttribution
from .occlusion import OcclusionAttribution, PerturbationAttribution
from .reagent import ReagentAttribution

__all__ = ["LimeAttribution", "OcclusionAttribution", "PerturbationAttribution", "ReagentAttribution"]

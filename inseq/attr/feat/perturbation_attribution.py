"""inseq 0.7 path of the perturbation methods (temporary re-export)."""

from . import *  # noqa: F403
from . import PerturbationAttributionRegistry  # noqa: F401

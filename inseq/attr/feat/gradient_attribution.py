"""inseq 0.7 path of the gradient methods (temporary re-export)."""

from . import *  # noqa: F403
from . import GradientAttributionRegistry  # noqa: F401

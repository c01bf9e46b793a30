"""inseq 0.7 path of the internals methods (temporary re-export)."""

from . import *  # noqa: F403
from . import InternalsAttributionRegistry  # noqa: F401

"""inseq 0.7 path of the method base class (temporary re-export)."""

from .base import *  # noqa: F403
from .base import DummyAttribution, FeatureAttribution, MethodResult, list_feature_attribution_methods  # noqa: F401

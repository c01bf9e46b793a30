"""Faithfulness evaluation of attributions of generated text, per generated token, with a random control.

``evaluate(model, out)`` perturbs the inputs of every attributed step of ``out`` according to its attribution scores
and measures how the model's probability of the generated token reacts (comprehensiveness, sufficiency, their soft
variants, deletion and insertion curves, leave-one-out correlation), plus the model-randomization sanity check. Each
number comes with the same metric for random rankings of the same tokens.

``python -m inseq.evaluate`` writes the faithfulness table of every method on the shipped toy models.

Example:
    >>> from inseq.evaluate import list_faithfulness_metrics
    >>> list_faithfulness_metrics()[:2]
    ['comprehensiveness', 'sufficiency']
"""

from ..utils.features import MODEL_FEATURES
from .evaluate import evaluate, evaluate_and_save, faithfulness_path
from .metrics import (
    DEFAULT_FRACTIONS,
    METRICS,
    FaithfulnessMetric,
    StepView,
    describe_metric,
    get_metric,
    list_faithfulness_metrics,
    spearman,
)
from .output import FaithfulnessOutput

# ``model.evaluate(out, ...)`` calls this entry point (the model class cannot import this package)
MODEL_FEATURES.register("evaluate", evaluate, overwrite=True)

__all__ = [
    "DEFAULT_FRACTIONS",
    "METRICS",
    "FaithfulnessMetric",
    "FaithfulnessOutput",
    "StepView",
    "describe_metric",
    "evaluate",
    "evaluate_and_save",
    "faithfulness_path",
    "get_metric",
    "list_faithfulness_metrics",
    "spearman",
]

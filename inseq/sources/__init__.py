"""Source attribution: which documents, sentences or chat turns of a context a response used.

:func:`attribute_sources` splits a context into sources (or takes them as a list, or takes the messages of a
conversation), then scores each source by ablating it (ContextCite's random ablations and LASSO surrogate, or exact
leave-one-out), by attention, or with any token-level attribution method summed over the source's tokens. Every
forward runs on the engine's one forward path, batched, with the prefix shared by every ablation run once. The result
(:class:`SourceAttributionOutput`) shows the context coloured by score, rescores any part of the response without new
forwards, evaluates itself (LDS and top-k drop, each next to a random control), and saves as JSON.

Example:
    >>> import inseq
    >>> model = inseq.load_model(inseq.examples.get_example_model_path("toy-gpt2-ioi"), "saliency")  # doctest: +SKIP
    >>> out = model.attribute_sources(["Mary cup", "John hat", "Tom key"], "John", template="Pairs: {context}. {query}",
    ...     chat_template=False)  # doctest: +SKIP
    >>> out.to_dataframe()  # doctest: +SKIP
"""

from ..utils.features import MODEL_FEATURES
from .attribute import DEFAULT_TEMPLATE, attribute_sources
from .output import SourceAttributionOutput, load_source_attributions
from .split import SOURCE_TYPES, Source, split_sources

MODEL_FEATURES.register("attribute_sources", attribute_sources, overwrite=True)

__all__ = [
    "DEFAULT_TEMPLATE",
    "SOURCE_TYPES",
    "Source",
    "SourceAttributionOutput",
    "attribute_sources",
    "load_source_attributions",
    "split_sources",
]

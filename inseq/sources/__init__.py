"""Source attribution: which documents, sentences or chat turns of a context a response used.

:func:`attribute_sources` splits a context into sources (or takes them as a list, or takes the messages of a
conversation), then scores each source by ablating it (ContextCite's random ablations and LASSO surrogate, or exact
leave-one-out), by attention, or with any token-level attribution method summed over the source's tokens. Every
forward runs on the engine's one forward path, batched, with the prefixes the ablations share run once. The result
(:class:`SourceAttributionOutput`) shows the context coloured by score, rescores any part of the response without new
forwards, evaluates itself (LDS and top-k drop, each next to a random control), and saves as JSON.

Example:
    >>> import inseq
    >>> model = inseq.load_model(inseq.examples.get_example_model_path("toy-gpt2-ioi"), "saliency")  # doctest: +SKIP
    >>> out = model.attribute_sources(["Mary cup", "John hat", "Tom key"], "John", template="Pairs: {context}. {query}",
    ...     chat_template=False)  # doctest: +SKIP
    >>> out.to_dataframe()  # doctest: +SKIP
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

# loaded on first use: the option dataclass (``inseq.sources.args``) imports without torch
_EXPORTS = {
    "AttributeSourcesArgs": ".args:AttributeSourcesArgs",
    "DEFAULT_TEMPLATE": ".args:DEFAULT_TEMPLATE",
    "SOURCE_TYPES": ".split:SOURCE_TYPES",
    "Source": ".split:Source",
    "split_sources": ".split:split_sources",
    "SourceAttributionOutput": ".output:SourceAttributionOutput",
    "load_source_attributions": ".output:load_source_attributions",
    "attribute_sources": ".attribute:attribute_sources",
    "run_attribute_sources": ".attribute:run_attribute_sources",
    "evaluate_sources": ".evaluation:evaluate_sources",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "AttributeSourcesArgs",
    "DEFAULT_TEMPLATE",
    "SOURCE_TYPES",
    "Source",
    "SourceAttributionOutput",
    "attribute_sources",
    "evaluate_sources",
    "load_source_attributions",
    "run_attribute_sources",
    "split_sources",
]

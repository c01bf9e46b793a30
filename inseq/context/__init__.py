"""Context attribution with PECoRe (Sarti et al., 2024): which generated tokens depend on the context, and on which
context tokens.

1. **CTI** (context-sensitive target identification): every current output token is scored with a contrastive
   step function (default ``kl_divergence``) comparing the model's predictions with and without the context; tokens
   with ``|score| >= mean + λ·std`` are selected (:mod:`inseq.context.cti`).
2. **CCI** (contextual cues imputation): each selected token is attributed to the context tokens with the chosen
   attribution method and target function (:mod:`inseq.context.cci`).

Everything works at token level: the output is the tokens the model generated after the prompt (never the prompt,
a BOS token or EOS), for decoder-only models with or without BOS, chat-formatted prompts and encoder-decoder models.

Example:
    >>> import inseq
    >>> from inseq.context import attribute_context
    >>> model = inseq.load_model(inseq.examples.get_example_model_path("toy-gpt2-ioi"), "saliency")  # doctest: +SKIP
    >>> out = attribute_context(
    ...     model_name_or_path=model,
    ...     input_context_text="Alice Bob Tom Anna.",
    ...     input_current_text="Alice Bob",
    ...     output_current_text="Tom Anna.",
    ...     show_viz=False,
    ... )  # doctest: +SKIP
    >>> out.cci_scores[0].cti_token  # doctest: +SKIP
    'ĠTom'
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

# loaded on first use: the option dataclasses (``inseq.context.args``) import without torch
_EXPORTS = {
    **{
        name: f".args:{name}"
        for name in (
            "CONTRASTIVE_METRICS",
            "AttributeContextArgs",
            "AttributeContextInputArgs",
            "AttributeContextMethodArgs",
            "AttributeContextModelArgs",
            "AttributeContextOutputArgs",
            "ContextAttributionError",
        )
    },
    "AttributeContextOutput": ".outputs:AttributeContextOutput",
    "CCIOutput": ".outputs:CCIOutput",
    "select_scores": ".outputs:select_scores",
    "attribute_context": ".pecore:attribute_context",
    "visualize_attribute_context": ".viz:visualize_attribute_context",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "CONTRASTIVE_METRICS",
    "AttributeContextArgs",
    "AttributeContextInputArgs",
    "AttributeContextMethodArgs",
    "AttributeContextModelArgs",
    "AttributeContextOutput",
    "AttributeContextOutputArgs",
    "CCIOutput",
    "ContextAttributionError",
    "attribute_context",
    "select_scores",
    "visualize_attribute_context",
]

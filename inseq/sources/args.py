"""Options of ``inseq attribute-sources`` (and :func:`run_attribute_sources`), as a dataclass of command-line fields.

Example:
    >>> args = AttributeSourcesArgs(model_name_or_path="gpt2", context="One. Two.", query="Which?")
    >>> args.method, args.n_ablations
    ('ablation', 64)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..utils.options import cli_arg

DEFAULT_TEMPLATE = "Context: {context}\n\nQuery: {query}"  # ContextCite's default


def _method_choices() -> list[str]:
    from ..attr.feat.base import list_feature_attribution_methods

    return ["ablation", "leave_one_out", "attention", *(m for m in list_feature_attribution_methods() if m != "dummy")]


@dataclass
class AttributeSourcesArgs:
    """Model, context, response and method of a source attribution, plus what to do with the result.

    Example:
        >>> args = AttributeSourcesArgs(model_name_or_path="gpt2", context="A. B.", query="Which?")
        >>> args.method
        'ablation'
    """

    model_name_or_path: Any = cli_arg(
        default=None, aliases=["-m"], required=True, help="Model id on the HuggingFace Hub or local model folder."
    )
    context: str | None = cli_arg(default=None, help="The context, split into sources by --source_type.")
    context_file: str | None = cli_arg(
        default=None, help="A UTF-8 text file holding the context (instead of --context)."
    )
    sources: list[str] | None = cli_arg(default=None, help="The sources, in order (instead of --context).")
    messages_file: str | None = cli_arg(
        default=None, help='A JSON file holding a conversation: a list of {"role": ..., "content": ...} objects.'
    )
    query: str | None = cli_arg(default=None, help="The query, put into --template.")
    template: str = cli_arg(default=DEFAULT_TEMPLATE, help="Prompt template with {context} (and {query}) fields.")
    separator: str = cli_arg(default=" ", help="Joins a list of sources, and the kept sources of an ablated context.")
    source_type: str | None = cli_arg(
        default=None,
        choices=["sentence", "paragraph", "line", "word", "message"],
        help="How a context is split (default: sentence; message for --messages_file).",
    )
    chat_template: str = cli_arg(
        default="auto",
        help="auto: the tokenizer's chat template when it has one; plain: no chat formatting; chat: require it; "
        "anything else: a Jinja chat template.",
    )
    response: str | None = cli_arg(default=None, help="The response to attribute (default: generated).")
    method: str = cli_arg(default="ablation", choices=_method_choices, help="How sources are scored.")
    n_ablations: int = cli_arg(default=64, help="Random ablations of --method ablation.")
    keep_prob: float = cli_arg(default=0.5, help="Probability that an ablation keeps each source.")
    seed: int = cli_arg(default=0, help="Seed of the ablations.")
    batch_size: int | None = cli_arg(default=None, help="Ablated prompts per forward (default: the memory budgets).")
    device: str | None = cli_arg(default=None, aliases=["--dev"], help="Device of the model (default: CUDA if any).")
    model_kwargs: dict = cli_arg(default_factory=dict, help="JSON of keyword arguments for model loading.")
    tokenizer_kwargs: dict = cli_arg(default_factory=dict, help="JSON of keyword arguments for the tokenizer.")
    generation_kwargs: dict = cli_arg(default_factory=dict, help="JSON of generation arguments.")
    evaluate: bool = cli_arg(default=False, help="Also measure LDS and top-k drop, next to a random control.")
    top_k: int = cli_arg(default=5, help="Best sources printed.")
    save_path: str | None = cli_arg(default=None, aliases=["-o"], help="Save the result as JSON here.")
    viz_path: str | None = cli_arg(default=None, help="Save the HTML view here.")
    hide: bool = cli_arg(default=False, help="Do not print the view.")

    def chat_option(self) -> bool | str | None:
        """``chat_template`` as :func:`attribute_sources` takes it.

        Example:
            >>> AttributeSourcesArgs(chat_template="plain").chat_option()
            False
        """
        return {"auto": None, "plain": False, "chat": True}.get(self.chat_template, self.chat_template)

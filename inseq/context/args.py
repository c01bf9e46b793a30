"""Options of PECoRe context attribution (:func:`inseq.context.attribute_context`, ``inseq attribute-context``).

The field names, defaults and help texts are inseq 0.7's; the command line builds its options from them.

Example:
    >>> args = AttributeContextArgs(model_name_or_path="gpt2", input_current_text="Paris is the capital of")
    >>> args.context_sensitivity_metric, args.attribution_method
    ('kl_divergence', 'saliency')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..models.run_options import (
    AttributeBaseArgs,
)
from ..utils.errors import InseqError
from ..utils.options import check_cli_options, cli_arg


def contrastive_metric_choices() -> tuple[str, ...]:
    """Step functions usable as CTI metric: the contrastive ones (``CONTRASTIVE_METRICS``).

    Example:
        >>> "kl_divergence" in contrastive_metric_choices()
        True
    """
    from ..attr.step_functions import CONTRASTIVE_STEP_FUNCTIONS

    return CONTRASTIVE_STEP_FUNCTIONS


def __getattr__(name: str) -> Any:
    if name == "CONTRASTIVE_METRICS":  # computed on use: this module imports without torch
        return contrastive_metric_choices()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ContextAttributionError(InseqError, ValueError):
    """Invalid PECoRe inputs or options (the message names the bad value and what is valid).

    Example:
        >>> issubclass(ContextAttributionError, ValueError)
        True
    """


@dataclass
class AttributeContextModelArgs(AttributeBaseArgs):
    """Model, attribution method (used for CCI) and aggregation options.

    Example:
        >>> AttributeContextModelArgs(model_name_or_path="gpt2").attribution_method
        'saliency'
    """


@dataclass
class AttributeContextInputArgs:
    """Inputs and outputs, with and without context.

    Example:
        >>> args = AttributeContextInputArgs(input_current_text="Tom", input_context_text="Pairs: Mary cup.")
        >>> args.input_context_text, args.input_template
        ('Pairs: Mary cup.', None)
    """

    input_current_text: str = cli_arg(default="", required=True, help="Current input text (the query).")
    input_context_text: str | None = cli_arg(default=None, help="Input context (e.g. previous sentences, documents).")
    input_template: str | None = cli_arg(
        default=None,
        help='Template joining the input context and current text (default "{context} {current}"); may be a chat '
        "template rendering with {context} and {current} placeholders.",
    )
    output_context_text: str | None = cli_arg(default=None, help="Output context (forced prefix of the output).")
    output_current_text: str | None = cli_arg(
        default=None, help="Output current text, forced if given (otherwise generated)."
    )
    output_template: str | None = cli_arg(
        default=None, help='Template joining the output context and current text (default "{context} {current}").'
    )
    contextless_input_current_text: str = cli_arg(
        default="{current}", help="Template of the contextless input, with a {current} placeholder."
    )
    contextless_output_current_text: str = cli_arg(
        default="{current}", help="Template of the contextless output, with a {current} placeholder."
    )


@dataclass
class AttributeContextMethodArgs(AttributeContextModelArgs):
    """Attribution and selection options.

    Example:
        >>> args = AttributeContextMethodArgs(model_name_or_path="gpt2")
        >>> args.context_sensitivity_metric, args.context_sensitivity_std_threshold
        ('kl_divergence', 1.0)
    """

    context_sensitivity_metric: str = cli_arg(
        default="kl_divergence", choices=contrastive_metric_choices, help="Contrastive step function used for CTI."
    )
    handle_output_context_strategy: Literal["manual", "auto", "pre"] = cli_arg(
        default="manual",
        help="How to split a generated output into context and current parts: manual (prompt), auto (aligner "
        "model, needs the Hub) or pre (must be given with --output_context_text / --output_current_text).",
    )
    contextless_output_next_tokens: list[str] = cli_arg(
        default_factory=list, help="Contextless next tokens used as contrast targets, one per CTI token."
    )
    prompt_user_for_contextless_output_next_tokens: bool = cli_arg(
        default=False, help="Ask for the contextless next tokens (terminal only)."
    )
    special_tokens_to_keep: list[str] = cli_arg(default_factory=list, help="Special tokens kept in the CTI scores.")
    decoder_input_output_separator: str = cli_arg(
        default=" ",
        help="Separator between the input and a forced output of decoder-only models (a generated output keeps "
        "the separator the model generated).",
    )
    context_sensitivity_std_threshold: float = cli_arg(
        default=1.0, help="CTI selects tokens with |score| >= mean + threshold * std."
    )
    context_sensitivity_topk: int | None = cli_arg(default=None, help="Keep at most this many CTI tokens.")
    attribution_std_threshold: float = cli_arg(
        default=1.0, help="CCI highlights context tokens with |score| >= mean + threshold * std."
    )
    attribution_topk: int | None = cli_arg(default=None, help="Highlight at most this many context tokens.")


@dataclass
class AttributeContextOutputArgs:
    """Output options.

    Example:
        >>> AttributeContextOutputArgs(save_path="ctx.json").show_viz
        True
    """

    show_intermediate_outputs: bool = cli_arg(default=False, help="Show the CTI and CCI attribution outputs.")
    save_path: str | None = cli_arg(default=None, aliases=["-o"], help="Path of the JSON file saving the output.")
    add_output_info: bool = cli_arg(default=True, help="Save the arguments in the output info.")
    viz_path: str | None = cli_arg(default=None, help="Path of an HTML file with the console visualization.")
    show_viz: bool = cli_arg(default=True, help="Show the visualization in the console.")


@dataclass
class AttributeContextArgs(AttributeContextOutputArgs, AttributeContextMethodArgs, AttributeContextInputArgs):
    """All PECoRe options (inseq 0.7's ``AttributeContextArgs``).

    Example:
        >>> AttributeContextArgs(model_name_or_path="gpt2", input_current_text="Hi").show_viz
        True
    """


def resolve_args(
    args: AttributeContextArgs | dict[str, Any] | None, overrides: dict[str, Any]
) -> AttributeContextArgs:
    """Merge ``args`` (a dataclass or a dictionary) with keyword overrides into a validated dataclass.

    Raises:
        TypeError: An unknown argument name.
        ContextAttributionError: Empty current input, unknown metric.

    Example:
        >>> resolve_args({"model_name_or_path": "gpt2"}, {"input_current_text": "Hi"}).input_current_text
        'Hi'
    """
    from dataclasses import fields

    names = [f.name for f in fields(AttributeContextArgs)]
    values = {n: getattr(args, n) for n in names} if isinstance(args, AttributeContextArgs) else dict(args or {})
    values.update(overrides)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise TypeError(f"Unknown attribute_context argument(s): {', '.join(unknown)}. Valid: {', '.join(names)}.")
    check_cli_options(values)
    resolved = AttributeContextArgs(**values)
    if not isinstance(resolved.input_current_text, str) or not resolved.input_current_text.strip():
        raise ContextAttributionError(
            f"input_current_text (--input_current_text) must be a non-empty text, got {resolved.input_current_text!r}."
        )
    if resolved.context_sensitivity_metric not in contrastive_metric_choices():
        raise ContextAttributionError(
            f"context_sensitivity_metric={resolved.context_sensitivity_metric!r} is not contrastive; valid: "
            f"{', '.join(contrastive_metric_choices())}."
        )
    if resolved.handle_output_context_strategy not in ("manual", "auto", "pre"):
        raise ContextAttributionError(
            f"handle_output_context_strategy={resolved.handle_output_context_strategy!r}; valid: manual, auto, pre."
        )
    return resolved

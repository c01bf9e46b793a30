"""The two sequences PECoRe compares (with and without context), laid out at token level.

For decoder-only models the attributed sequence is ``prompt + separator + output`` and the prompt is the input;
for encoder-decoder models the input is the source and the output is the target. This module is the only place
where that difference is spelled out; CTI and CCI work on :class:`PecoreSequence` positions.

Example:
    >>> filled = fill_template("{context} {current}", "It rains.", "Take an umbrella")
    >>> filled.text, filled.context, filled.current
    ('It rains. Take an umbrella', (0, 9), (10, 26))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .args import ContextAttributionError
from .tokens import TokenizedText

if TYPE_CHECKING:
    from ..models import AttributionModel

logger = logging.getLogger(__name__)


@dataclass
class FilledTemplate:
    """A template with its placeholders filled, and the character spans of the context and current parts."""

    text: str
    context: tuple[int, int] | None
    current: tuple[int, int]


def fill_template(template: str, context: str | None, current: str, is_output: bool = False) -> FilledTemplate:
    """Fill ``{context}`` and ``{current}`` in ``template`` and record where they landed.

    A suffix after ``{current}`` is normal in input templates (e.g. the end of a chat turn); in output templates it
    becomes part of the attributed output, which is reported with a warning.

    Raises:
        ContextAttributionError: ``{current}`` is missing, a placeholder repeats, or ``{context}`` follows it.
    """
    if template.count("{current}") != 1 or template.count("{context}") > 1:
        raise ContextAttributionError(
            f"The template {template!r} must contain {{current}} exactly once and {{context}} at most once."
        )
    cur_at = template.index("{current}")
    ctx_at = template.find("{context}")
    if ctx_at > cur_at:
        raise ContextAttributionError(f"In the template {template!r}, {{context}} must come before {{current}}.")
    if is_output and template[cur_at + len("{current}") :].strip():
        logger.warning("The template %r has a suffix after {current}: it is kept in the output.", template)
    head, tail = template[:cur_at], template[cur_at + len("{current}") :]
    context_span = None
    if ctx_at >= 0:
        context = context or ""
        head = template[:ctx_at] + context + head[ctx_at + len("{context}") :]
        context_span = (ctx_at, ctx_at + len(context))
    return FilledTemplate(head + current + tail, context_span, (len(head), len(head) + len(current)))


@dataclass
class PecoreSequence:
    """One side of PECoRe: the texts given to ``model.attribute`` and the token positions of each part.

    Attributes:
        input_text: The ``input_texts`` argument (decoder-only: a token-level prefix of the target).
        target: The ``generated_texts`` argument with its ids (decoder-only: prompt + output).
        source: Encoder-decoder only: the source text with its ids.
        output_offset: Character offset of the output in ``target.text`` (at the start of its first token).
        output_current: Target positions of the current output.
        output_context: Target positions of the output context (empty when there is none).
        input_context: Positions of the input context, in ``source`` ids (encoder-decoder) or ``target`` ids.
    """

    input_text: str
    target: TokenizedText
    source: TokenizedText | None
    output_offset: int
    output_current: range
    output_context: range
    input_context: range

    @property
    def input_holder(self) -> TokenizedText:
        """The tokenized text holding the input (the source, or the target of a decoder-only model)."""
        return self.source if self.source is not None else self.target

    def contrast_kwargs(self) -> dict[str, Any]:
        """``model.attribute`` keyword arguments using this sequence as the contrastive side."""
        kwargs: dict[str, Any] = {"contrast_targets": self.target.text}
        if self.source is not None:
            kwargs["contrast_sources"] = self.source.text
        return kwargs

    def output_text(self, n_tokens: int) -> str:
        """The output text (input excluded) covering the first ``n_tokens`` target tokens."""
        return self.target.prefix_text(n_tokens)[self.output_offset :]


def build_sequence(
    model: AttributionModel, inputs: FilledTemplate, outputs: FilledTemplate, separator: str
) -> PecoreSequence:
    """Tokenize an input and an output as the model attributes them, and locate their parts.

    Args:
        model: The model.
        inputs: The filled input template.
        outputs: The filled output template.
        separator: Decoder-only models: text between the input and the output.

    Raises:
        ContextAttributionError: The input has no token-level prefix usable as a decoder-only prompt.
    """
    if model.is_encoder_decoder:
        source = TokenizedText.build(model, inputs.text)
        target = TokenizedText.build(model, outputs.text, as_targets=True)
        offset, input_text = 0, inputs.text
    else:
        source = None
        target = TokenizedText.build(model, inputs.text + separator + outputs.text)
        offset = len(inputs.text) + len(separator)
        input_text = target.prompt_text(len(inputs.text))
        if input_text is None:
            raise ContextAttributionError(
                f"The input {inputs.text!r} has no prefix that the tokenizer keeps as a prefix of the whole "
                f"sequence {target.text!r}; pass a decoder_input_output_separator (e.g. ' ')."
            )
    holder = source if source is not None else target
    input_context = holder.span(*inputs.context) if inputs.context else range(0)
    output_context = (
        target.span(offset + outputs.context[0], offset + outputs.context[1]) if outputs.context else range(0)
    )
    current = target.span(offset + outputs.current[0], offset + outputs.current[1])
    if outputs.current[1] == len(outputs.text):  # trailing special tokens (e.g. EOS) belong to the current output
        current = range(current.start, len(target.ids))
    if source is None:
        token_start = len(target.prefix_text(output_context.start if output_context else current.start))
        if token_start < len(inputs.text):  # an output glued to the last prompt word starts with their shared token
            offset = token_start
    return PecoreSequence(input_text, target, source, offset, current, output_context, input_context)

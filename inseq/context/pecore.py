"""PECoRe (Sarti et al., 2024): detect which generated tokens depend on the context (CTI), then which context tokens
they depend on (CCI).

Example:
    >>> from inseq.context import attribute_context
    >>> out = attribute_context(
    ...     model_name_or_path="gpt2",
    ...     input_context_text="The cat is black.",
    ...     input_current_text="The cat is",
    ...     output_current_text="black",
    ...     show_viz=False,
    ... )  # doctest: +SKIP
    >>> out.cci_scores[0].cti_token  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from ..models.run_options import generation_kwargs_with_language, load_model_from_args
from .args import AttributeContextArgs, ContextAttributionError, resolve_args
from .cci import ask_user, run_cci
from .cti import run_cti
from .outputs import AttributeContextOutput, select_scores
from .sequences import FilledTemplate, PecoreSequence, build_sequence, fill_template
from .tokens import continuation_text

if TYPE_CHECKING:
    from ..models import AttributionModel


@dataclass
class PecoreTexts:
    """The filled input and output templates, with and without context."""

    contextual_input: FilledTemplate
    contextless_input: FilledTemplate
    contextual_output: FilledTemplate
    contextless_output: FilledTemplate
    output_context: str | None
    output_current: str
    separator: str


def load_context_model(args: AttributeContextArgs) -> AttributionModel:
    """The model of ``args``: an already loaded one, or loaded from ``model_name_or_path``."""
    return load_model_from_args(args, ContextAttributionError)


def generation_kwargs(model: AttributionModel, args: AttributeContextArgs) -> dict[str, Any]:
    """Generation kwargs, with ``forced_bos_token_id`` set from a ``tgt_lang`` tokenizer kwarg (mBART, NLLB)."""
    return generation_kwargs_with_language(model, args.generation_kwargs, args.tokenizer_kwargs)


def special_token_ids(model: AttributionModel, keep: list[str]) -> set[int]:
    """Ids of the special tokens that are dropped from outputs and CTI scores (all but ``keep``)."""
    kept = set(model.tokenizer.convert_tokens_to_ids(list(keep))) if keep else set()
    return set(model.special_tokens_ids) - kept


def generate_continuation(
    model: AttributionModel, input_text: str, output_prefix: str, gen: dict[str, Any], special_ids: set[int]
) -> str:
    """Text the model generates after ``input_text`` (and a forced output prefix), special tokens removed.

    Only the new tokens are decoded, in the context of the tokens before them: a BOS token, the prompt and an EOS
    token never leak into the output text.
    """
    if model.is_encoder_decoder and output_prefix:
        out = model.attribute(
            input_text,
            output_prefix,
            method="dummy",
            generate_from_target_prefix=True,
            generation_args=gen,
            show_progress=False,
        )
    else:
        prompt = input_text + output_prefix if output_prefix else input_text
        out = model.attribute(prompt, method="dummy", generation_args=gen, show_progress=False)
    ids = [t.id for t in out[0].target]
    start = out[0].attr_pos_start
    if model.is_encoder_decoder and output_prefix:
        start += len(
            model.encode(output_prefix, as_targets=True, add_special_tokens=False, add_bos_token=False).input_ids[0]
        )
    new_ids = [i for i in ids[start:] if i not in special_ids]
    return continuation_text(model, ids[:start], new_ids)


def _split_output_context(args: AttributeContextArgs, generated: str) -> tuple[str, str]:
    if args.handle_output_context_strategy == "auto":
        raise ContextAttributionError(
            "handle_output_context_strategy='auto' needs the sentence-transformers/LaBSE aligner model, which is not "
            "available offline; pass output_context_text (--output_context_text) with 'pre', or use 'manual'."
        )
    if args.handle_output_context_strategy == "pre":
        raise ContextAttributionError(
            f"The generated output {generated!r} must be split into context and current parts: pass "
            "output_context_text (--output_context_text, strategy 'pre'), or drop {context} from the output template."
        )
    output_context = ask_user(f"Generated output: {generated!r}. Type its context part:")
    if not generated.startswith(output_context):
        raise ContextAttributionError(f"{output_context!r} is not a prefix of the generated output {generated!r}.")
    return output_context, generated[len(output_context) :].strip()


def _output_texts(
    model: AttributionModel, args: AttributeContextArgs, input_text: str, template: str, special_ids: set[int]
) -> tuple[str | None, str, str]:
    """The output context, the output current text and the separator actually between input and output."""
    separator = "" if model.is_encoder_decoder else args.decoder_input_output_separator
    if args.output_current_text is not None:
        return args.output_context_text, args.output_current_text, separator
    prefix = ""
    if args.output_context_text is not None and "{context}" in template:
        prefix = template[: template.index("{current}")].replace("{context}", args.output_context_text).rstrip()
    gen_prefix = separator + prefix if prefix and not model.is_encoder_decoder else prefix
    generated = generate_continuation(model, input_text, gen_prefix, generation_kwargs(model, args), special_ids)
    if model.is_encoder_decoder or prefix:
        generated = generated.strip()
    elif separator and generated.startswith(separator):
        generated = generated[len(separator) :]
    else:  # the continuation is glued to the prompt: no separator was generated
        separator = ""
    if "{context}" in template and args.output_context_text is None:
        output_context, generated = _split_output_context(args, generated)
        return output_context, generated, separator
    return args.output_context_text, generated, separator


def prepare_texts(model: AttributionModel, args: AttributeContextArgs, special_ids: set[int]) -> PecoreTexts:
    """Fill the templates, generating the output with context when it is not given."""
    if args.handle_output_context_strategy == "auto" and args.output_context_text is None and args.output_template:
        _split_output_context(args, "")
    input_template = args.input_template or ("{context} {current}" if args.input_context_text else "{current}")
    contextual_input = fill_template(input_template, args.input_context_text, args.input_current_text)
    contextless_input = fill_template(args.contextless_input_current_text, None, args.input_current_text)
    output_template = args.output_template or ("{context} {current}" if args.output_context_text else "{current}")
    output_context, output_current, separator = _output_texts(
        model, args, contextual_input.text, output_template, special_ids
    )
    return PecoreTexts(
        contextual_input=contextual_input,
        contextless_input=contextless_input,
        contextual_output=fill_template(output_template, output_context, output_current, is_output=True),
        contextless_output=fill_template(args.contextless_output_current_text, None, output_current, is_output=True),
        output_context=output_context,
        output_current=output_current,
        separator=separator,
    )


def _info(args: AttributeContextArgs) -> dict[str, Any]:
    info = {f.name: getattr(args, f.name) for f in fields(args)}
    info["model_name_or_path"] = str(getattr(args.model_name_or_path, "model_name", args.model_name_or_path))
    return json.loads(json.dumps(info, default=str))


def _sequences(model: AttributionModel, texts: PecoreTexts) -> tuple[PecoreSequence, PecoreSequence]:
    contextual = build_sequence(model, texts.contextual_input, texts.contextual_output, texts.separator)
    contextless = build_sequence(model, texts.contextless_input, texts.contextless_output, texts.separator)
    return contextual, contextless


def attribute_context(
    args: AttributeContextArgs | dict[str, Any] | None = None, **kwargs: Any
) -> AttributeContextOutput:
    """Run PECoRe context attribution and return an :class:`AttributeContextOutput`.

    Args:
        args: An :class:`AttributeContextArgs`, or a dictionary of its fields; keyword arguments override them.
            ``model_name_or_path`` may also be an already loaded :class:`~inseq.models.AttributionModel`.
        **kwargs: Fields of :class:`AttributeContextArgs`.

    Returns:
        The CTI scores of every current output token and the CCI scores of the selected ones.

    Raises:
        ContextAttributionError: Invalid inputs or options.

    Example:
        >>> out = attribute_context(
        ...     model_name_or_path="gpt2",
        ...     input_context_text="The cat is black.",
        ...     input_current_text="The cat is",
        ...     output_current_text="black",
        ...     show_viz=False,
        ... )  # doctest: +SKIP
    """
    a = resolve_args(args, kwargs)
    model = load_context_model(a)
    special_ids = special_token_ids(model, a.special_tokens_to_keep)
    texts = prepare_texts(model, a, special_ids)
    contextual, contextless = _sequences(model, texts)
    cti = run_cti(model, contextless, contextual, a.context_sensitivity_metric, special_ids)
    if a.show_intermediate_outputs:
        cti.output.show(display=True)
    result = AttributeContextOutput(
        input_context=a.input_context_text,
        input_context_tokens=contextual.input_holder.tokens(contextual.input_context) or None,
        output_context=texts.output_context,
        output_context_tokens=contextual.target.tokens(contextual.output_context) or None,
        output_current=texts.output_current,
        output_current_tokens=cti.tokens,
        cti_scores=cti.scores,
        info=_info(a) if a.add_output_info else None,
    )
    selected = select_scores(cti.scores, a.context_sensitivity_std_threshold, a.context_sensitivity_topk)
    for rank, index in enumerate(selected):
        result.cci_scores.append(run_cci(model, a, contextless, contextual, cti, index, rank))
    if a.save_path:
        result.save(a.save_path)
    if a.show_viz or a.viz_path:
        from .viz import visualize_attribute_context

        visualize_attribute_context(result, a, model_name=str(getattr(model, "model_name", "")))
    return result

"""CCI (contextual cues imputation): attribute one context-sensitive token to the context tokens.

The contextual sequence is attributed at the single target position of the token (``attr_pos_start`` /
``attr_pos_end``), so the prefix the model conditions on is exactly the one it generated. With a contrastive
attributed function, the contrast is the token the model predicts without context after the same output prefix
(generated, given in ``contextless_output_next_tokens``, or asked for), aligned with the attributed position.

Example:
    >>> cci = run_cci(model, args, contextless, contextual, cti, index=0, rank=0, special_ids=set())  # doctest: +SKIP
    >>> cci.input_context_scores  # doctest: +SKIP
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

from .args import AttributeContextArgs, ContextAttributionError
from .cti import CTIResult, model_offset
from .outputs import CCIOutput
from .sequences import PecoreSequence
from .tokens import TokenizedText, continuation_text, locate

if TYPE_CHECKING:
    from ..models import AttributionModel


def ask_user(prompt: str) -> str:
    """Read an answer from the terminal.

    Raises:
        ContextAttributionError: stdin is not a terminal.
    """
    if not sys.stdin or not sys.stdin.isatty():
        raise ContextAttributionError(
            f"{prompt} Cannot prompt: stdin is not a terminal; use handle_output_context_strategy='pre' "
            "(--handle_output_context_strategy pre) or pass the tokens explicitly."
        )
    return input(prompt + " ")


def aligned_position(contextless: PecoreSequence, contextual: PecoreSequence, position: int) -> int:
    """Contextual position right-aligned with a contextless one (the alignment CTI uses)."""
    shifted = position + len(contextual.target.ids) - len(contextless.target.ids)
    return min(max(shifted, 0), len(contextual.target.ids) - 1)


#: Generation options that make no sense when generating a single token.
_MULTI_TOKEN_KWARGS = ("min_new_tokens", "min_length", "max_length", "forced_eos_token_id")


def _single_token_generation(generation_kwargs: dict[str, Any]) -> dict[str, Any]:
    gen = {k: v for k, v in generation_kwargs.items() if k not in _MULTI_TOKEN_KWARGS}
    gen["max_new_tokens"] = 1
    return gen


def contextless_next_token(
    model: AttributionModel, contextless: PecoreSequence, position: int, generation_kwargs: dict[str, Any]
) -> int:
    """Id of the token the model generates without context after the first ``position`` target tokens."""
    prefix = contextless.target.prefix_text(position)
    gen = _single_token_generation(generation_kwargs)
    if contextless.source is None:
        out = model.attribute(prefix, method="dummy", generation_args=gen, show_progress=False)
    else:
        out = model.attribute(
            contextless.source.text,
            prefix,
            method="dummy",
            generate_from_target_prefix=True,
            generation_args=gen,
            show_progress=False,
        )
    return out[0].target[-1].id


def _next_token_id(
    model: AttributionModel, args: AttributeContextArgs, contextless: PecoreSequence, position: int, rank: int
) -> int:
    if rank < len(args.contextless_output_next_tokens):
        return model.tokenizer.convert_tokens_to_ids(args.contextless_output_next_tokens[rank])
    if args.prompt_user_for_contextless_output_next_tokens:
        token = contextless.target.tokens([position])[0]
        return model.tokenizer.convert_tokens_to_ids(ask_user(f"Contextless next token for {token!r}:"))
    return contextless_next_token(model, contextless, position, dict(args.generation_kwargs or {}))


def contrast_kwargs(
    model: AttributionModel,
    args: AttributeContextArgs,
    contextless: PecoreSequence,
    original_position: int,
    position: int,
    rank: int,
    offset: int,
) -> tuple[dict[str, Any], str, str]:
    """Contrastive ``model.attribute`` kwargs for a CCI step, the contrast token and the contextless output text.

    Args:
        model: The model.
        args: The PECoRe options.
        contextless: The contextless sequence.
        original_position: Contextual target position being attributed (model coordinates).
        position: Contextless target position of the same token.
        rank: Rank of the token among the selected ones (indexes ``contextless_output_next_tokens``).
        offset: Model target position of target id 0.
    """
    next_id = _next_token_id(model, args, contextless, position, rank)
    prefix_ids = contextless.target.ids[:position]
    text = contextless.target.prefix_text(position) + continuation_text(model, prefix_ids, [next_id])
    contrast = TokenizedText.build(model, text, contextless.target.as_targets)
    contrast_position = position
    if contrast.ids[: position + 1] != [*prefix_ids, next_id]:  # the token merged with its prefix
        specials = set(model.special_tokens_ids)
        contrast_position = max(i for i, t in enumerate(contrast.ids) if t not in specials or i == 0)
    kwargs: dict[str, Any] = {
        "contrast_targets": text,
        "contrast_targets_alignments": [(original_position, offset + contrast_position)],
        "contrast_force_inputs": args.attributed_fn == "kl_divergence"
        or next_id == contextless.target.ids[min(position, len(contextless.target.ids) - 1)],
    }
    if contextless.source is not None:
        kwargs["contrast_sources"] = contextless.source.text
    return kwargs, model.tokenizer.convert_ids_to_tokens(next_id), text[contextless.output_offset :]


def _aggregate(out: Any, args: AttributeContextArgs) -> Any:
    if not args.attribution_aggregators:
        return out[0].aggregate()
    selectors = list(args.attribution_selectors or [])
    if selectors and len(selectors) != len(args.attribution_aggregators):
        raise ContextAttributionError(
            f"attribution_selectors has {len(selectors)} values but attribution_aggregators has "
            f"{len(args.attribution_aggregators)}: give one selector per aggregator."
        )
    for i, aggregator in enumerate(args.attribution_aggregators):
        out = out.aggregate(
            aggregator=aggregator,
            normalize=args.normalize_attributions,
            rescale=args.rescale_attributions,
            select_idx=selectors[i] if selectors else None,
            do_post_aggregation_checks=False,
        )
    return out[0]


def _column(scores: Any, rows: range, offset: int) -> list[float | None] | None:
    if scores is None or not rows:
        return None
    column = scores[:, -1] if scores.dim() > 1 else scores
    if offset + rows.stop > column.shape[0]:
        raise ContextAttributionError(
            f"The aggregated CCI scores have {column.shape[0]} rows but context tokens go up to row "
            f"{offset + rows.stop - 1}: use aggregators that keep one row per token."
        )
    values = column[offset + rows.start : offset + rows.stop].tolist()
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


def context_scores(
    seq: Any, contextual: PecoreSequence, offset: int
) -> tuple[list[float | None] | None, list[float | None] | None]:
    """Input-context and output-context scores of an aggregated CCI sequence output."""
    if contextual.source is not None:
        source_offset = model_offset_in(seq.source, contextual.source.ids)
        input_scores = _column(seq.source_attributions, contextual.input_context, source_offset)
    else:
        input_scores = _column(seq.target_attributions, contextual.input_context, offset)
    output_scores = _column(seq.target_attributions, contextual.output_context, offset)
    return input_scores, output_scores


def _shown(values: list[Any], limit: int = 24) -> str:
    if len(values) <= limit:
        return repr(values)
    return "[" + ", ".join(repr(v) for v in values[:limit]) + f", ... ({len(values)} in all)]"


def model_offset_in(tokens: list[Any], ids: list[int]) -> int:
    """Position of ``ids`` within a list of output tokens.

    Raises:
        ContextAttributionError: ``ids`` are not in the tokens (the model tokenized the source differently from
            ``model.encode``), naming both the ids and the tokens, instead of reading the scores at a wrong offset.

    Example:
        >>> from inseq.utils.typing import TokenWithId
        >>> model_offset_in([TokenWithId("<s>", 0), TokenWithId("a", 5), TokenWithId("b", 6)], [5, 6])
        1
    """
    model_ids = [t.id for t in tokens]
    found = locate(model_ids, ids)
    if found is None:
        raise ContextAttributionError(
            f"The attributed source ids {_shown(model_ids)} (tokens {_shown([t.token for t in tokens])}) do not "
            f"contain the encoded source ids {_shown(list(ids))}: the model tokenized the source differently from "
            "model.encode, so the context scores cannot be located."
        )
    return found


def run_cci(
    model: AttributionModel,
    args: AttributeContextArgs,
    contextless: PecoreSequence,
    contextual: PecoreSequence,
    cti: CTIResult,
    index: int,
    rank: int,
) -> CCIOutput:
    """Attribute the CTI token ``cti.positions[index]`` (the ``rank``-th selected one) in the contextual sequence."""
    from ..attr.step_functions import is_contrastive_step_function

    position = aligned_position(contextless, contextual, cti.positions[index])
    target_position = cti.offset + position
    fn = args.attributed_fn or "probability"
    extra: dict[str, Any] = {}
    contrast_token = contextless_output = None
    if is_contrastive_step_function(fn):
        extra, contrast_token, contextless_output = contrast_kwargs(
            model, args, contextless, target_position, cti.positions[index], rank, cti.offset
        )
    out = model.attribute(
        contextual.input_text,
        contextual.target.text,
        method=args.attribution_method,
        attributed_fn=fn,
        attr_pos_start=target_position,
        attr_pos_end=target_position + 1,
        attribute_target=contextual.source is not None and bool(contextual.output_context),
        show_progress=False,
        **dict(args.attribution_kwargs or {}),
        **extra,
    )
    if args.show_intermediate_outputs:
        out.show(display=True)
    seq = _aggregate(out, args)
    model_offset(seq, contextual.target.ids[: position + 1])
    input_scores, output_scores = context_scores(seq, contextual, cti.offset)
    return CCIOutput(
        cti_idx=index,
        cti_token=cti.tokens[index],
        cti_score=cti.scores[index],
        contextual_output=contextual.output_text(position + 1),
        contrast_token=contrast_token,
        contextless_output=contextless_output,
        input_context_scores=input_scores,
        output_context_scores=output_scores,
    )

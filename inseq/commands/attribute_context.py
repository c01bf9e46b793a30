"""``inseq attribute-context``: detect and attribute context usage in generation (PECoRe, Sarti et al. 2024).

1. **CTI** (context-sensitive target identification): the output generated *with* context is scored token by token
   with a contrastive metric (default ``kl_divergence``) comparing the model's predictions without the context (main
   input) and with it (``contrast_sources`` / ``contrast_targets``), using the ``dummy`` method. Tokens with
   ``|score| >= mean + λ·std`` (λ = ``--context_sensitivity_std_threshold``, optional top-k) are selected.
2. **CCI** (contextual cues imputation): for each selected token, the contextual prefix ending with it is attributed
   with ``--attribution_method`` / ``--attributed_fn``; contrastive functions compare against the token the model
   predicts without context. The scores of the input-context and output-context tokens are extracted.

Example:
    .. code-block:: bash

        inseq attribute-context -m gpt2 --input_context_text "Paris is in France." \\
            --input_current_text "Paris is the capital of" --output_current_text "France" --save_path out.json

    >>> from inseq.commands.attribute_context import attribute_context
    >>> out = attribute_context(model_name_or_path="gpt2", input_current_text="Hi", show_viz=False)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .attribute import AttributeBaseArgs, aggregate_attribution_scores, generation_kwargs_for
from .base import BaseCLICommand, CommandError, load_model_or_fail, setup_logging
from .cli_args import cli_arg
from .validation import check_cli_options

logger = logging.getLogger(__name__)

CONTRASTIVE_METRICS = (
    "contrast_logits",
    "contrast_prob",
    "contrast_logits_diff",
    "contrast_prob_diff",
    "pcxmi",
    "kl_divergence",
    "in_context_pvi",
)


@dataclass
class AttributeContextInputArgs:
    """Inputs and outputs, with and without context."""

    input_current_text: str = cli_arg(default="", required=True, help="Current input text (the query).")
    input_context_text: str | None = cli_arg(default=None, help="Input context (e.g. previous sentences, documents).")
    input_template: str | None = cli_arg(
        default=None, help='Template joining the input context and current text (default "{context} {current}").'
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
class AttributeContextMethodArgs(AttributeBaseArgs):
    """Attribution and selection options."""

    context_sensitivity_metric: str = cli_arg(
        default="kl_divergence", choices=CONTRASTIVE_METRICS, help="Contrastive step function used for CTI."
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
        default=" ", help="Separator between the input and the output of decoder-only models."
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
    """Output options."""

    show_intermediate_outputs: bool = cli_arg(default=False, help="Show the CTI and CCI attribution outputs.")
    save_path: str | None = cli_arg(default=None, aliases=["-o"], help="Path of the JSON file saving the output.")
    add_output_info: bool = cli_arg(default=True, help="Save the arguments in the output info.")
    viz_path: str | None = cli_arg(default=None, help="Path of an HTML file with the console visualization.")
    show_viz: bool = cli_arg(default=True, help="Show the visualization in the console.")


@dataclass
class AttributeContextArgs(AttributeContextOutputArgs, AttributeContextMethodArgs, AttributeContextInputArgs):
    """All ``attribute-context`` options."""


@dataclass
class CCIOutput:
    """Contextual cues imputation result for one context-sensitive token.

    Example:
        >>> CCIOutput(cti_idx=2, cti_token="Ġcat", cti_score=0.5, contextual_output="the cat").cti_token
        'Ġcat'
    """

    cti_idx: int
    cti_token: str
    cti_score: float
    contextual_output: str
    contrast_token: str | None = None
    contextless_output: str | None = None
    input_context_scores: list[float] | None = None
    output_context_scores: list[float] | None = None


@dataclass
class AttributeContextOutput:
    """Result of :func:`attribute_context`.

    Example:
        >>> out = AttributeContextOutput(output_current="a b", output_current_tokens=["a", "b"], cti_scores=[0.1, 0.9])
        >>> AttributeContextOutput.from_dict(out.to_dict()) == out
        True
    """

    input_context: str | None = None
    input_context_tokens: list[str] | None = None
    output_context: str | None = None
    output_context_tokens: list[str] | None = None
    output_current: str | None = None
    output_current_tokens: list[str] | None = None
    cti_scores: list[float] | None = None
    cci_scores: list[CCIOutput] = field(default_factory=list)
    info: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dictionary."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttributeContextOutput:
        """Rebuild an output from :meth:`to_dict`."""
        data = dict(data)
        data["cci_scores"] = [CCIOutput(**c) for c in data.get("cci_scores") or []]
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> AttributeContextOutput:
        """Read a file written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def mean_cti_score(self) -> float:
        """Mean CTI score."""
        return float(sum(self.cti_scores) / len(self.cti_scores)) if self.cti_scores else float("nan")

    def std_cti_score(self) -> float:
        """Standard deviation (unbiased) of the CTI scores."""
        return _stats(self.cti_scores or [])[1]


# ---------------------------------------------------------------------------------------------------------- helpers


def _stats(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def select_scores(scores: list[float], std_threshold: float = 1.0, topk: int | None = None) -> list[int]:
    """Indices of the scores with ``|score| >= mean + std_threshold * std``, ranked by ``|score|``, top-k kept.

    Mean and (unbiased) standard deviation are those of the scores themselves, as in inseq's PECoRe.

    Example:
        >>> select_scores([0.1, 0.2, 5.0, 0.1, 0.15])
        [2]
        >>> select_scores([1.0, 3.0, 2.0], std_threshold=0.0, topk=1)
        [1]
    """
    if not scores:
        return []
    mean, std = _stats([float(s) for s in scores])
    threshold = mean + std_threshold * std
    selected = [i for i, s in enumerate(scores) if abs(s) >= threshold]
    selected.sort(key=lambda i: -abs(scores[i]))
    return selected[:topk] if topk is not None else selected


def _format_template(template: str, context: str | None, current: str) -> str:
    if "{current}" not in template:
        raise CommandError(f"the template {template!r} must contain a {{current}} placeholder.")
    if "{context}" in template and template.index("{context}") > template.index("{current}"):
        raise CommandError(f"in the template {template!r}, {{context}} must come before {{current}}.")
    if not template.rstrip().endswith("{current}"):
        logger.warning("The template %r has a suffix after {current}: it is kept in the output.", template)
    return template.replace("{context}", context or "").replace("{current}", current)


def _count_tokens(model: Any, text: str, as_targets: bool = False) -> int:
    if not text:
        return 0
    return len(model.encode(text, as_targets=as_targets, add_special_tokens=False).input_ids[0])


def _leading_specials(tokens: list[Any], special_ids: set[int]) -> int:
    n = 0
    while n < len(tokens) and tokens[n].id in special_ids:
        n += 1
    return n


def _ask(prompt: str) -> str:
    if not sys.stdin or not sys.stdin.isatty():
        raise CommandError(
            f"{prompt} Cannot prompt: stdin is not a terminal; use --handle_output_context_strategy pre."
        )
    return input(prompt + " ")


# ---------------------------------------------------------------------------------------------------------- main


def attribute_context(args: AttributeContextArgs | dict[str, Any] | None = None, **kwargs: Any):
    """Run PECoRe context attribution and return an :class:`AttributeContextOutput`.

    Args:
        args: An :class:`AttributeContextArgs`, or a dictionary of its fields; keyword arguments override them.
            ``model_name_or_path`` may also be an already loaded :class:`~inseq.models.AttributionModel`.

    Example:
        >>> out = attribute_context(
        ...     model_name_or_path="gpt2",
        ...     input_context_text="The cat is black.",
        ...     input_current_text="The cat is",
        ...     output_current_text="black",
        ...     show_viz=False,
        ... )  # doctest: +SKIP
        >>> out.cci_scores[0].cti_token  # doctest: +SKIP
    """
    from ..models import AttributionModel

    if isinstance(args, AttributeContextArgs):
        values = {f.name: getattr(args, f.name) for f in fields(AttributeContextArgs)}
    else:
        values = dict(args or {})
    values.update(kwargs)
    unknown = sorted(set(values) - {f.name for f in fields(AttributeContextArgs)})
    if unknown:
        raise TypeError(f"Unknown attribute_context argument(s): {', '.join(unknown)}.")
    if "device" not in values:
        from ..models import get_default_device

        values["device"] = get_default_device()
    a = AttributeContextArgs(**values)
    check_cli_options(values)
    if not a.input_current_text or not a.input_current_text.strip():
        raise CommandError("--input_current_text must be a non-empty text.")
    if a.handle_output_context_strategy == "auto" and a.output_context_text is None and a.output_template:
        raise CommandError(
            "--handle_output_context_strategy auto needs the sentence-transformers/LaBSE aligner model, which is not "
            "available offline; use 'pre' with --output_context_text/--output_current_text, or 'manual'."
        )
    if isinstance(a.model_name_or_path, AttributionModel):
        model = a.model_name_or_path
    else:
        model = load_model_or_fail(
            a.model_name_or_path, a.attribution_method, a.device, a.model_kwargs, a.tokenizer_kwargs
        )
    is_enc_dec = model.is_encoder_decoder
    sep = a.decoder_input_output_separator if not is_enc_dec else ""
    input_template = a.input_template or ("{context} {current}" if a.input_context_text else "{current}")
    output_template = a.output_template or ("{context} {current}" if a.output_context_text else "{current}")
    input_full = _format_template(input_template, a.input_context_text, a.input_current_text)
    contextless_input = _format_template(a.contextless_input_current_text, None, a.input_current_text)

    # Output: forced, or generated with context then split into context / current parts.
    output_context, output_current = a.output_context_text, a.output_current_text
    if output_current is None:
        gen = model.attribute(
            input_full, method="dummy", show_progress=False, generation_args=generation_kwargs_for(model, a)
        )
        generated = gen.info["generated_texts"][0]
        if not is_enc_dec:
            generated = generated[len(input_full) :] if generated.startswith(input_full) else generated
            generated = generated[len(sep) :] if sep and generated.startswith(sep) else generated
        if "{context}" in output_template and output_context is None:
            if a.handle_output_context_strategy == "auto":
                raise CommandError(
                    "--handle_output_context_strategy auto needs the sentence-transformers/LaBSE aligner model, "
                    "which is not available offline; pass --output_context_text with 'pre', or use 'manual'."
                )
            if a.handle_output_context_strategy == "pre":
                raise CommandError(
                    f"the generated output {generated!r} must be split into context and current parts: pass "
                    "--output_context_text (strategy 'pre'), or drop {context} from --output_template."
                )
            output_context = _ask(f"Generated output: {generated!r}. Type its context part:")
            output_current = generated[len(output_context) :].strip()
        else:
            output_current = generated.strip() if is_enc_dec else generated
    output_full = _format_template(output_template, output_context, output_current)
    contextless_output = _format_template(a.contextless_output_current_text, None, output_current)
    if not is_enc_dec:
        output_full = input_full + sep + output_full
        contextless_output = contextless_input + sep + contextless_output

    # 1. CTI
    metric = a.context_sensitivity_metric
    contrast: dict[str, Any] = {"contrast_targets": output_full}
    if is_enc_dec:
        contrast["contrast_sources"] = input_full
    cti = model.attribute(
        contextless_input,
        contextless_output,
        method="dummy",
        step_scores=[metric],
        attribute_target=is_enc_dec,
        show_progress=False,
        **contrast,
    )
    cti_seq = cti[0]
    special_ids = set(model.special_tokens_ids) - set(model.tokenizer.convert_tokens_to_ids(a.special_tokens_to_keep))
    start = cti_seq.attr_pos_start
    positions = [
        p for p in range(start, start + len(cti_seq.step_scores[metric])) if cti_seq.target[p].id not in special_ids
    ]
    raw_scores = cti_seq.step_scores[metric].tolist()
    cti_scores = [float(raw_scores[p - start]) for p in positions]
    cti_tokens = [cti_seq.target[p].token for p in positions]
    if a.show_intermediate_outputs:
        cti.show(display=True)

    # 2. CCI
    selected = select_scores(cti_scores, a.context_sensitivity_std_threshold, a.context_sensitivity_topk)
    result = AttributeContextOutput(
        input_context=a.input_context_text,
        output_context=output_context,
        output_current=output_current,
        output_current_tokens=cti_tokens,
        cti_scores=cti_scores,
        info=_info(a) if a.add_output_info else None,
    )
    n_in_ctx = _count_tokens(
        model, input_template.split("{current}")[0].replace("{context}", a.input_context_text or "").rstrip()
    )
    n_out_ctx = 0
    if output_context:
        n_out_ctx = _count_tokens(
            model, output_template.split("{current}")[0].replace("{context}", output_context).rstrip(), True
        )
    for rank, idx in enumerate(selected):
        result.cci_scores.append(
            _cci(
                model,
                a,
                cti_seq,
                positions[idx],
                idx,
                cti_scores[idx],
                input_full,
                output_full,
                contextless_input,
                special_ids,
                n_in_ctx,
                n_out_ctx,
                rank,
                result,
            )
        )
    if a.save_path:
        result.save(a.save_path)
    if a.show_viz or a.viz_path:
        visualize_attribute_context(result, a, model_name=str(getattr(model, "model_name", "")))
    return result


def _tail_text(model: Any, ids: list[int]) -> str:
    return model.tokenizer.decode(ids, skip_special_tokens=True) if ids else ""


def _strip_tail(text: str, tail: str) -> str:
    if tail and text.endswith(tail):
        return text[: -len(tail)].rstrip()
    if tail.strip() and text.rstrip().endswith(tail.strip()):
        return text.rstrip()[: -len(tail.strip())].rstrip()
    return text


def _cci(
    model: Any,
    a: AttributeContextArgs,
    cti_seq: Any,
    pos: int,
    idx: int,
    score: float,
    input_full: str,
    output_full: str,
    contextless_input: str,
    special_ids: set[int],
    n_in_ctx: int,
    n_out_ctx: int,
    rank: int,
    result: AttributeContextOutput,
) -> CCIOutput:
    """Attribute the contextual prefix ending with the CTI token at target position ``pos``."""
    from ..attr.step_functions import is_contrastive_step_function

    is_enc_dec = model.is_encoder_decoder
    target_ids = [t.id for t in cti_seq.target]
    tail_ids = [i for i in target_ids[pos + 1 :] if i not in special_ids]
    tail = _tail_text(model, tail_ids)
    contextual_prefix = _strip_tail(output_full, tail)
    attributed_fn = a.attributed_fn or "probability"
    extra: dict[str, Any] = {}
    contrast_token = contextless_text = None
    if is_contrastive_step_function(attributed_fn):
        import torch

        prefix_ids = target_ids[:pos]
        if rank < len(a.contextless_output_next_tokens):
            next_id = model.tokenizer.convert_tokens_to_ids(a.contextless_output_next_tokens[rank])
        elif a.prompt_user_for_contextless_output_next_tokens:
            next_id = model.tokenizer.convert_tokens_to_ids(
                _ask(f"Contextless next token for {cti_seq.target[pos].token!r}:")
            )
        else:
            with torch.no_grad():
                ids = torch.tensor([prefix_ids], device=model.device)
                if is_enc_dec:
                    enc = model.encode(contextless_input)
                    logits = model.model(
                        input_ids=enc.input_ids.to(model.device),
                        attention_mask=enc.attention_mask.to(model.device),
                        decoder_input_ids=ids,
                    ).logits
                else:
                    logits = model.model(input_ids=ids).logits
            next_id = int(logits[0, -1].argmax())
        contrast_token = model.tokenizer.convert_ids_to_tokens(next_id)
        contextless_text = model.tokenizer.decode(
            [i for i in prefix_ids if i not in special_ids] + [next_id], skip_special_tokens=True
        )
        extra["contrast_targets"] = contextless_text
        if is_enc_dec:
            extra["contrast_sources"] = contextless_input
        extra["contrast_force_inputs"] = attributed_fn == "kl_divergence" or next_id == target_ids[pos]
    out = model.attribute(
        input_full,
        contextual_prefix,
        method=a.attribution_method,
        attributed_fn=attributed_fn,
        attr_pos_start=-1,
        attribute_target=is_enc_dec,
        show_progress=False,
        **dict(a.attribution_kwargs or {}),
        **extra,
    )
    if a.attribution_aggregators:
        out = aggregate_attribution_scores(
            out, a.attribution_selectors, a.attribution_aggregators, a.normalize_attributions, a.rescale_attributions
        )
    if a.show_intermediate_outputs:
        out.show(display=True)
    seq = out[0].aggregate() if not a.attribution_aggregators else out[0]
    src = seq.source_attributions
    tgt = seq.target_attributions
    in_scores = out_scores = None
    if is_enc_dec:
        offset = _leading_specials(seq.source, special_ids)
        col = src[:, -1] if src.dim() > 1 else src
        in_scores = col[offset : offset + n_in_ctx].tolist() if n_in_ctx else None
        in_tokens = [t.token for t in seq.source[offset : offset + n_in_ctx]]
        if n_out_ctx and tgt is not None:
            toff = _leading_specials(seq.target, special_ids)
            tcol = tgt[:, -1] if tgt.dim() > 1 else tgt
            out_scores = tcol[toff : toff + n_out_ctx].tolist()
            result.output_context_tokens = [t.token for t in seq.target[toff : toff + n_out_ctx]]
    else:
        offset = _leading_specials(seq.target, special_ids)
        tcol = tgt[:, -1] if tgt.dim() > 1 else tgt
        in_scores = tcol[offset : offset + n_in_ctx].tolist() if n_in_ctx else None
        in_tokens = [t.token for t in seq.target[offset : offset + n_in_ctx]]
        if n_out_ctx:
            n_prompt = offset + _count_tokens(model, input_full)
            out_scores = tcol[n_prompt : n_prompt + n_out_ctx].tolist()
            result.output_context_tokens = [t.token for t in seq.target[n_prompt : n_prompt + n_out_ctx]]
    if n_in_ctx:
        result.input_context_tokens = in_tokens
    clean = [None if isinstance(v, float) and math.isnan(v) else v for v in (in_scores or [])]
    return CCIOutput(
        cti_idx=idx,
        cti_token=cti_seq.target[pos].token,
        cti_score=score,
        contextual_output=contextual_prefix,
        contrast_token=contrast_token,
        contextless_output=contextless_text,
        input_context_scores=clean if in_scores is not None else None,
        output_context_scores=out_scores,
    )


def _info(a: AttributeContextArgs) -> dict[str, Any]:
    info = {f.name: getattr(a, f.name) for f in fields(a)}
    info["model_name_or_path"] = str(getattr(a.model_name_or_path, "model_name", a.model_name_or_path))
    return json.loads(json.dumps(info, default=str))


# ---------------------------------------------------------------------------------------------------------- viz


def visualize_attribute_context(
    output: AttributeContextOutput, args: AttributeContextArgs | None = None, model_name: str = ""
) -> str:
    """Print the PECoRe result on a rich console (when ``show_viz``) and save HTML to ``viz_path``.

    CTI tokens are shown in bold dodger_blue1 as ``tok(score)``, context tokens above the CCI threshold in bold green.

    Returns:
        The exported HTML.
    """
    from rich.console import Console
    from rich.markup import escape

    show = args.show_viz if args is not None else True
    import io

    console = Console(record=True, width=120, file=None if show else io.StringIO(), color_system="truecolor")
    std_t = args.context_sensitivity_std_threshold if args else 1.0
    attr_t = args.attribution_std_threshold if args else 1.0
    topk = args.attribution_topk if args else None
    metric = args.context_sensitivity_metric if args else "kl_divergence"
    method = args.attribution_method if args else ""
    fn = (args.attributed_fn or "probability") if args else "probability"
    console.print(f"[bold]Context attribution (PECoRe)[/bold] model={escape(model_name)}")
    console.print(
        f"CTI: metric={metric}, |score| >= mean + {std_t}·std; CCI: method={method}, target={fn}, "
        f"context tokens with |score| >= mean + {attr_t}·std" + (f" (top {topk})" if topk else "")
    )
    if output.input_context:
        console.print(f"[bold]Input context:[/bold] {escape(output.input_context)}")
    if output.output_context:
        console.print(f"[bold]Output context:[/bold] {escape(output.output_context)}")
    console.print(f"[bold]Output current:[/bold] {escape(output.output_current or '')}")
    if not output.cci_scores:
        console.print("No context-sensitive tokens were found.")
    tokens = output.output_current_tokens or []
    for cci in output.cci_scores:
        parts = []
        for i, tok in enumerate(tokens):
            if i == cci.cti_idx:
                parts.append(f"[bold dodger_blue1]{escape(tok)}({cci.cti_score:.3f})[/]")
            else:
                parts.append(escape(tok))
        console.print(f"\n[bold]Context-sensitive token {escape(cci.cti_token)}:[/bold] " + " ".join(parts))
        if cci.contrast_token is not None:
            console.print(f"Contrast (contextless) token: {escape(cci.contrast_token)}")
        for label, ctx_tokens, scores in (
            ("Input context", output.input_context_tokens, cci.input_context_scores),
            ("Output context", output.output_context_tokens, cci.output_context_scores),
        ):
            if not ctx_tokens or not scores:
                continue
            values = [0.0 if s is None else float(s) for s in scores]
            chosen = set(select_scores(values, attr_t, topk))
            rendered = [
                f"[bold green]{escape(t)}({v:.3f})[/]" if j in chosen else escape(t)
                for j, (t, v) in enumerate(zip(ctx_tokens, values))
            ]
            console.print(f"{label}: " + " ".join(rendered))
    html = console.export_html()
    if args is not None and args.viz_path:
        path = Path(args.viz_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    return html


class AttributeContextCommand(BaseCLICommand):
    """``inseq attribute-context``."""

    _name = "attribute-context"
    _help = "Detect and attribute context dependence in generation models (PECoRe)."
    _dataclasses = (AttributeContextArgs,)

    @staticmethod
    def run(args: tuple[AttributeContextArgs]) -> int:
        (ctx_args,) = args
        setup_logging()
        attribute_context(ctx_args)
        return 0


__all__ = [
    "AttributeContextArgs",
    "AttributeContextOutput",
    "CCIOutput",
    "attribute_context",
    "select_scores",
    "visualize_attribute_context",
]

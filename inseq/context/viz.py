"""Console (rich) and HTML rendering of a PECoRe result.

CTI tokens are shown in bold dodger_blue1 as ``tok(score)``, context tokens above the CCI threshold in bold green.

Example:
    >>> out = AttributeContextOutput(output_current="a b", output_current_tokens=["a", "b"], cti_scores=[0.1, 0.9])
    >>> "Output current" in visualize_attribute_context(out, show=False)
    True
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from .args import AttributeContextArgs
from .outputs import AttributeContextOutput, CCIOutput, select_scores


def _header(output: AttributeContextOutput, args: AttributeContextArgs, model_name: str) -> list[str]:
    from rich.markup import escape

    topk = f" (top {args.attribution_topk})" if args.attribution_topk else ""
    lines = [
        f"[bold]Context attribution (PECoRe)[/bold] model={escape(model_name)}",
        f"CTI: metric={args.context_sensitivity_metric}, |score| >= mean + {args.context_sensitivity_std_threshold}·std;"
        f" CCI: method={args.attribution_method}, target={args.attributed_fn or 'probability'}, context tokens "
        f"with |score| >= mean + {args.attribution_std_threshold}·std{topk}",
    ]
    if output.input_context:
        lines.append(f"[bold]Input context:[/bold] {escape(output.input_context)}")
    if output.output_context:
        lines.append(f"[bold]Output context:[/bold] {escape(output.output_context)}")
    lines.append(f"[bold]Output current:[/bold] {escape(output.output_current or '')}")
    if not output.cci_scores:
        lines.append("No context-sensitive tokens were found.")
    return lines


def _highlighted_context(
    label: str, tokens: list[str] | None, scores: list[float | None] | None, args: AttributeContextArgs
) -> str | None:
    from rich.markup import escape

    if not tokens or not scores:
        return None
    values = [0.0 if s is None else float(s) for s in scores]
    chosen = set(select_scores(values, args.attribution_std_threshold, args.attribution_topk))
    rendered = [
        f"[bold green]{escape(t)}({v:.3f})[/]" if j in chosen else escape(t)
        for j, (t, v) in enumerate(zip(tokens, values))
    ]
    return f"{label}: " + " ".join(rendered)


def _cci_lines(output: AttributeContextOutput, cci: CCIOutput, args: AttributeContextArgs) -> list[str]:
    from rich.markup import escape

    parts = [
        f"[bold dodger_blue1]{escape(tok)}({cci.cti_score:.3f})[/]" if i == cci.cti_idx else escape(tok)
        for i, tok in enumerate(output.output_current_tokens or [])
    ]
    lines = [f"\n[bold]Context-sensitive token {escape(cci.cti_token)}:[/bold] " + " ".join(parts)]
    if cci.contrast_token is not None:
        lines.append(f"Contrast (contextless) token: {escape(cci.contrast_token)}")
    for label, tokens, scores in (
        ("Input context", output.input_context_tokens, cci.input_context_scores),
        ("Output context", output.output_context_tokens, cci.output_context_scores),
    ):
        line = _highlighted_context(label, tokens, scores, args)
        if line is not None:
            lines.append(line)
    return lines


def visualize_attribute_context(
    output: AttributeContextOutput,
    args: AttributeContextArgs | None = None,
    model_name: str = "",
    show: bool | None = None,
) -> str:
    """Print the PECoRe result on a rich console and return it as HTML (also saved to ``args.viz_path``).

    Args:
        output: The result of :func:`inseq.context.attribute_context`.
        args: The options used (thresholds, method names, ``show_viz``, ``viz_path``); defaults when None.
        model_name: Model name shown in the header.
        show: Print on the console (default: ``args.show_viz``, True without args).

    Returns:
        The exported HTML.

    Example:
        >>> import inseq
        >>> from inseq.context import attribute_context
        >>> model = inseq.load_model(inseq.examples.get_example_model_path("toy-gpt2-ioi"), "saliency")  # doctest: +SKIP
        >>> out = attribute_context(model, input_context_text="Pairs: Mary cup John hat.", input_current_text="John",
        ...                         show_viz=False)  # doctest: +SKIP
        >>> html = visualize_attribute_context(out, show=False)  # doctest: +SKIP
    """
    from rich.console import Console

    opts = args if args is not None else AttributeContextArgs(model_name_or_path=model_name or None, device="cpu")
    show = opts.show_viz if show is None else show
    file: Any = None if show else io.StringIO()
    console = Console(record=True, width=120, file=file, color_system="truecolor")
    for line in _header(output, opts, model_name):
        console.print(line)
    for cci in output.cci_scores:
        for line in _cci_lines(output, cci, opts):
            console.print(line)
    html = console.export_html()
    if args is not None and args.viz_path:
        path = Path(args.viz_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    return html

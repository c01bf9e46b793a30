"""Views of attribution outputs: rich console heatmaps in terminals, HTML heatmaps in notebooks.

``show_granular_attributions`` and ``show_token_attributions`` are simple fallbacks for inseq's treescope views (no
treescope dependency): they render the default-aggregated 2-D heatmap.

Example:
    >>> html = show_attributions(out.sequence_attributions, display=False, return_html=True)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .console import render_console
from .heatmap import build_tables, to_2d, value_range
from .html import render_html
from .validation import check_show_args

__all__ = ["in_notebook", "show_attributions", "show_granular_attributions", "show_token_attributions"]


def in_notebook() -> bool:
    """True when running inside an IPython kernel (Jupyter, Colab...)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _is_sequence_output(value: Any) -> bool:
    # viz draws data without importing inseq.data: outputs are recognised by their fields
    return hasattr(value, "source_attributions") and hasattr(value, "target") and hasattr(value, "attr_pos_start")


def _as_sequences(attributions: Any) -> list[Any]:
    if hasattr(attributions, "sequence_attributions"):
        return list(attributions.sequence_attributions)
    if _is_sequence_output(attributions):
        return [attributions]
    if isinstance(attributions, Sequence) and attributions and all(_is_sequence_output(a) for a in attributions):
        return list(attributions)
    raise TypeError(
        "show_attributions expects a FeatureAttributionSequenceOutput, a list of them or a FeatureAttributionOutput, "
        f"got {type(attributions).__name__}."
    )


def show_attributions(
    attributions: Any,
    min_val: float | None = None,
    max_val: float | None = None,
    display: bool = True,
    return_html: bool = False,
    replace_char: dict[str, str] | None = None,
    console: Any = None,
) -> str | None:
    """Show 2-D attribution heatmaps (one per side and example) with a shared colour scale.

    Attributions with more than two dimensions are first aggregated with their default aggregator.

    Args:
        attributions: a sequence output, a list of them, or a ``FeatureAttributionOutput``.
        min_val: lower end of the colour scale (default ``-max_val``).
        max_val: upper end of the colour scale (default: largest value over all examples, at least 0).
        display: print to the rich console, or display HTML when in a notebook.
        return_html: return the HTML string.
        replace_char: ``{substring: replacement}`` applied to token strings before rendering.
        console: a ``rich.console.Console`` to print to (default: a new one).

    Returns:
        The HTML when ``return_html`` is True, else None.

    Example:
        >>> from rich.console import Console
        >>> show_attributions(seq, console=Console(record=True))  # doctest: +SKIP
    """
    check_show_args(min_val, max_val, display, return_html, replace_char)
    sequences = [to_2d(a) for a in _as_sequences(attributions)]
    vmin, vmax = value_range(sequences, min_val, max_val)
    tables = [build_tables(a, replace_char) for a in sequences]
    html = render_html(tables, vmin, vmax) if (return_html or (display and in_notebook())) else None
    if display:
        if in_notebook():
            from IPython.display import HTML
            from IPython.display import display as ipython_display

            ipython_display(HTML(html))
        else:
            render_console(tables, vmin, vmax, console)
    return html if return_html else None


def show_granular_attributions(
    attributions: Any,
    max_show_size: int = 20,
    min_val: float | None = None,
    max_val: float | None = None,
    show_dim: int | str | None = None,
    slice_dims: dict | None = None,
    display: bool = True,
    return_html: bool = False,
    return_figure: bool = False,
) -> str | None:
    """Fallback for inseq's treescope N-D view: shows the default-aggregated 2-D heatmap.

    ``max_show_size``, ``show_dim`` and ``slice_dims`` are accepted for compatibility and ignored.

    Raises:
        NotImplementedError: for ``return_figure=True`` (treescope figures are not supported).
    """
    _check_figure(return_html, return_figure)
    return show_attributions(attributions, min_val, max_val, display=display, return_html=return_html)


def show_token_attributions(
    attributions: Any,
    min_val: float | None = None,
    max_val: float | None = None,
    display: bool = True,
    return_html: bool = False,
    return_figure: bool = False,
    replace_char: dict[str, str] | None = None,
    wrap_after: int | str | list | None = None,
    step_score_highlight: str | None = None,
) -> str | None:
    """Fallback for inseq's treescope token view: shows the default-aggregated 2-D heatmap.

    ``replace_char`` is applied to tokens; ``wrap_after`` and ``step_score_highlight`` are accepted and ignored.

    Raises:
        NotImplementedError: for ``return_figure=True`` (treescope figures are not supported).
    """
    _check_figure(return_html, return_figure)
    return show_attributions(
        attributions, min_val, max_val, display=display, return_html=return_html, replace_char=replace_char
    )


def _check_figure(return_html: bool, return_figure: bool) -> None:
    if return_html and return_figure:
        raise ValueError("return_html and return_figure are mutually exclusive.")
    if return_figure:
        raise NotImplementedError("return_figure needs treescope, which this implementation does not use.")

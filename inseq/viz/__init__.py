"""Views of attribution outputs: console heatmaps, HTML reports, token and granular views, matplotlib figures.

* :func:`show_attributions`: 2-D heatmaps (rich console in terminals, HTML in notebooks or with ``return_html``).
* :func:`show_token_attributions`: the generated text with one expandable node per token (inseq 0.7's token view).
* :func:`show_granular_attributions`: N-D arrays with the extra dimensions selectable (inseq 0.7's granular view).
* :func:`plot_attributions` / :func:`save_plots`: matplotlib figures.

The HTML views are self-contained (no network, no extra dependency). ``inseq.viz`` draws data only: it reads output
objects by their attributes and never imports :mod:`inseq.data` at run time.

Example:
    >>> html = show_attributions(out.sequence_attributions, display=False, return_html=True)  # doctest: +SKIP
    >>> html = show_token_attributions(out, display=False, return_html=True, wrap_after=".")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from .console import render_console, render_grid
from .figure import plot_attributions, save_plots
from .granular import granular_panels, granular_view_html, panel_grid
from .heatmap import build_tables, to_2d, value_range
from .html import html_page, render_html
from .tokens import check_wrap_after, token_nodes, token_view_console, token_view_html
from .validation import check_show_args, check_view_dims

if TYPE_CHECKING:
    from ..data.attribution import FeatureAttributionOutput, FeatureAttributionSequenceOutput

    Attributions = (
        FeatureAttributionSequenceOutput | Sequence[FeatureAttributionSequenceOutput] | FeatureAttributionOutput
    )
else:
    Attributions = Any

__all__ = [
    "html_page",
    "in_notebook",
    "plot_attributions",
    "save_plots",
    "show_attributions",
    "show_granular_attributions",
    "show_token_attributions",
]


def in_notebook() -> bool:
    """True when running inside an IPython kernel (Jupyter, Colab...).

    Example:
        >>> in_notebook()  # a script or a terminal
        False
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _is_sequence_output(obj: Any) -> bool:
    return hasattr(obj, "attributions_ndim") and hasattr(obj, "target") and hasattr(obj, "step_scores")


def _as_sequences(attributions: Any) -> tuple[list[Any], Mapping[str, Any] | None]:
    """The sequence outputs to show and the run info (when given a ``FeatureAttributionOutput``)."""
    if hasattr(attributions, "sequence_attributions"):
        return list(attributions.sequence_attributions), getattr(attributions, "info", None)
    if _is_sequence_output(attributions):
        return [attributions], None
    if isinstance(attributions, Sequence) and not isinstance(attributions, str):
        if all(_is_sequence_output(a) for a in attributions):
            return list(attributions), None
    raise TypeError(
        "Expected a FeatureAttributionSequenceOutput, a list of them or a FeatureAttributionOutput, "
        f"got {type(attributions).__name__}."
    )


def _texts(info: Mapping[str, Any] | None, n: int) -> list[dict[str, str]] | None:
    """Per example ``{"Input text": ..., "Generated text": ...}`` from the run info, when it has them."""
    if not info:
        return None
    texts: list[dict[str, str]] = [{} for _ in range(n)]
    for key, label in (("input_texts", "Input text"), ("generated_texts", "Generated text")):
        values = info.get(key)
        values = [values] if isinstance(values, str) else values
        if isinstance(values, (list, tuple)) and len(values) == n:
            for text, value in zip(texts, values):
                text[label] = str(value)
    return texts


def _emit(html: str | None, fallback: Any) -> None:
    """Display ``html`` in a notebook, else call ``fallback()`` (console rendering)."""
    if in_notebook():
        from IPython.display import HTML
        from IPython.display import display as ipython_display

        ipython_display(HTML(html))
    else:
        fallback()


def _check_figure(return_html: bool, return_figure: bool) -> None:
    if return_html and return_figure:
        raise ValueError("return_html and return_figure are mutually exclusive.")
    if return_figure:
        raise NotImplementedError(
            "return_figure is not available for this view: it is self-contained HTML (no treescope figure). "
            "Use return_html=True, or .plot() for a matplotlib figure."
        )


def show_attributions(
    attributions: Attributions,
    min_val: float | None = None,
    max_val: float | None = None,
    display: bool = True,
    return_html: bool = False,
    replace_char: dict[str, str] | None = None,
    console: Console | None = None,
    transpose: bool | None = None,
    info: Mapping[str, Any] | None = None,
) -> str | None:
    """Show 2-D attribution heatmaps (one per side and example) with a shared colour scale.

    Attributions with more than two dimensions are first aggregated with their default aggregator. In a terminal the
    heatmaps are split into column blocks that fit the console width (or transposed when that needs fewer blocks).

    Args:
        attributions: a sequence output, a list of them, or a ``FeatureAttributionOutput``.
        min_val: lower end of the colour scale (default ``-max_val``).
        max_val: upper end of the colour scale (default: largest value over all examples, at least 0).
        display: print to the rich console, or display HTML when in a notebook.
        return_html: return the HTML string.
        replace_char: ``{substring: replacement}`` applied to token strings before rendering.
        console: a ``rich.console.Console`` to print to (default: a new one).
        transpose: console only: generated tokens as rows (True), never (False), or when it reads better (None).
        info: run information for the HTML header (default: the output's ``info`` when given an output).

    Returns:
        The HTML when ``return_html`` is True, else None.

    Example:
        >>> from rich.console import Console
        >>> show_attributions(seq, console=Console(width=120))  # doctest: +SKIP
    """
    check_show_args(min_val, max_val, display, return_html, replace_char)
    seqs, out_info = _as_sequences(attributions)
    info = out_info if info is None else info
    sequences = [to_2d(a) for a in seqs]
    vmin, vmax = value_range(sequences, min_val, max_val)
    tables = [build_tables(a, replace_char) for a in sequences]
    html = None
    if return_html or (display and in_notebook()):
        html = render_html(tables, vmin, vmax, info=info, texts=_texts(info, len(sequences)))
    if display:
        _emit(html, lambda: render_console(tables, vmin, vmax, console, transpose=transpose))
    return html if return_html else None


def show_token_attributions(
    attributions: Attributions,
    min_val: float | None = None,
    max_val: float | None = None,
    display: bool = True,
    return_html: bool = False,
    return_figure: bool = False,
    replace_char: dict[str, str] | None = None,
    wrap_after: int | str | list[str] | tuple[str, ...] | None = None,
    step_score_highlight: str | None = None,
    console: Console | None = None,
    info: Mapping[str, Any] | None = None,
) -> str | None:
    """Show the generated text with one expandable node per generated token (inseq 0.7's token view).

    Expanding a token shows the source tokens and the target prefix highlighted by their attribution to it. N-D
    attributions are aggregated to 2-D first (default aggregator). In a terminal, a rich version is printed.

    Args:
        attributions: a sequence output, a list of them, or a ``FeatureAttributionOutput``.
        min_val: lower end of the colour scale (default ``-max_val``).
        max_val: upper end of the colour scale (default: largest value over all examples, at least 0).
        display: show the view (notebook HTML, or rich text in a terminal).
        return_html: return the self-contained HTML.
        return_figure: not supported (no treescope figure); raises.
        replace_char: ``{substring: replacement}`` applied to tokens (e.g. ``{"Ġ": " ", "▁": " "}``).
        wrap_after: new line after every n tokens (int), after a given token (str) or any of several (list/tuple).
        step_score_highlight: colour the generated tokens by this step score (greens if all >= 0, else brown-green).
        console: a ``rich.console.Console`` for the terminal version.
        info: run information for the header (default: the output's ``info``).

    Returns:
        The HTML when ``return_html`` is True, else None.

    Raises:
        ValueError: for an unknown ``step_score_highlight`` or a non-positive ``wrap_after``.
        NotImplementedError: for ``return_figure=True``.

    Example:
        >>> html = show_token_attributions(out, display=False, return_html=True, step_score_highlight="probability")  # doctest: +SKIP
    """
    check_show_args(min_val, max_val, display, return_html, replace_char)
    _check_figure(return_html, return_figure)
    check_wrap_after(wrap_after)
    seqs, out_info = _as_sequences(attributions)
    info = out_info if info is None else info
    sequences = [to_2d(a) for a in seqs]
    vmin, vmax = value_range(sequences, min_val, max_val)
    nodes = [token_nodes(a, replace_char, wrap_after, step_score_highlight) for a in sequences]
    html = None
    if return_html or (display and in_notebook()):
        html = token_view_html(nodes, vmin, vmax, step_score_highlight, info)
    if display:
        _emit(html, lambda: token_view_console(nodes, vmin, vmax, step_score_highlight, console))
    return html if return_html else None


def show_granular_attributions(
    attributions: Attributions,
    max_show_size: int = 20,
    min_val: float | None = None,
    max_val: float | None = None,
    show_dim: int | str | None = None,
    slice_dims: dict[int | str, tuple[int, int]] | None = None,
    display: bool = True,
    return_html: bool = False,
    return_figure: bool = False,
    replace_char: dict[str, str] | None = None,
    console: Console | None = None,
    info: Mapping[str, Any] | None = None,
) -> str | None:
    """Show the attributions without aggregating them: N-D heatmaps with selectable extra dimensions.

    Rows are attributed tokens, columns generated tokens. One extra dimension is spread inside each column
    (``show_dim``, else the first one with at most ``max_show_size`` entries); the others get sliders.

    Args:
        attributions: a sequence output, a list of them, or a ``FeatureAttributionOutput``.
        max_show_size: largest extra dimension spread inside columns automatically.
        min_val: lower end of the colour scale (default ``-max_val``).
        max_val: upper end of the colour scale (default: largest value, at least 0).
        show_dim: extra dimension (index >= 2 or name, e.g. ``"Attention Head"``) to spread inside the columns.
        slice_dims: ``{dimension (index or name): (start, end)}`` parts of dimensions to keep.
        display: show the view (notebook HTML, or the first slice as console heatmaps in a terminal).
        return_html: return the self-contained HTML (sliders work offline).
        return_figure: not supported (no treescope figure); raises.
        replace_char: ``{substring: replacement}`` applied to tokens.
        console: a ``rich.console.Console`` for the terminal version.
        info: run information for the header (default: the output's ``info``).

    Returns:
        The HTML when ``return_html`` is True, else None.

    Raises:
        ValueError: for an unknown dimension, bad slice bounds or a non-positive ``max_show_size``.
        NotImplementedError: for ``return_figure=True``.

    Example:
        >>> html = show_granular_attributions(out, display=False, return_html=True, show_dim="Attention Head")  # doctest: +SKIP
    """
    _check_figure(return_html, return_figure)
    check_view_dims(show_dim, slice_dims, max_show_size)
    seqs, out_info = _as_sequences(attributions)
    info = out_info if info is None else info
    vmin, vmax = value_range(seqs, min_val, max_val)
    panels = [granular_panels(a, max_show_size, show_dim, slice_dims, replace_char) for a in seqs]
    html = None
    if return_html or (display and in_notebook()):
        html = granular_view_html(panels, vmin, vmax, info)
    if display:
        _emit(html, lambda: _granular_console(panels, vmin, vmax, console))
    return html if return_html else None


def _granular_console(panels_per_example: list[list[Any]], vmin: float, vmax: float, console: Console | None) -> None:
    console = console or Console()
    sliced = False
    for panels in panels_per_example:
        console.print("\n")
        for panel in panels:
            render_grid(panel_grid(panel), vmin, vmax, console)
            sliced = sliced or bool(panel.sliders)
    if sliced:
        console.print(
            Text(
                "Only the first slice of each slider dimension is printed. Interactive view: "
                "show_granular(return_html=True) and open the HTML in a browser, or use a notebook.",
                style="italic",
            )
        )

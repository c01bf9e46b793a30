"""Regenerate the pictures of docs/views.md with inseq's own views (needs Chromium for the HTML screenshots).

Run from the repository root: ``python docs/images/make_images.py``. Uses the toy models shipped with inseq (offline).
"""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

import inseq
from inseq.viz import html_page
from inseq.viz.browser import screenshot

HERE = Path(__file__).resolve().parent
GPT2 = str(inseq.examples.get_example_model_path("toy-gpt2-ioi"))
MARIAN = str(inseq.examples.get_example_model_path("toy-marian-translation"))
PROMPT = "When Mary and John went to the store, John gave a drink to"


def sources_image() -> None:
    """The source attribution view of docs/sources.md (the toy key-value task, leave-one-out)."""
    model = inseq.load_model(GPT2, "saliency")
    out = model.attribute_sources(
        ["Mary cup", "John hat", "Tom key", "Anna pen"],
        "Tom",
        template="Pairs: {context}. {query}",
        chat_template=False,
        method="leave_one_out",
    )
    screenshot(html_page(out._repr_html_()), HERE / "sources.png", width=700, height=330)


def main() -> None:
    saliency = inseq.load_model(GPT2, "saliency")
    out = saliency.attribute(
        PROMPT, generation_args={"max_new_tokens": 3}, step_scores=["probability"], show_progress=False
    )
    long = saliency.attribute(
        "Alice Bob Tom Anna. Alice Bob",
        generation_args={"max_new_tokens": 40, "min_new_tokens": 40},
        step_scores=["probability"],
        show_progress=False,
    )
    console = Console(width=120, record=True, file=io.StringIO())
    inseq.show_attributions(long, console=console)
    svg = console.export_svg(title="inseq console heatmap (120 columns)")
    screenshot(html_page(svg), HERE / "console.png", width=1500, height=1300)

    screenshot(html_page(out.show(display=False, return_html=True)), HERE / "heatmap.png", width=1100, height=760)
    tokens = out.show_tokens(
        display=False, return_html=True, replace_char={"Ġ": " "}, step_score_highlight="probability"
    )
    click = "document.querySelector('details.tv-node summary').click();"
    screenshot(html_page(tokens), HERE / "tokens.png", width=1000, height=260, script=click)

    attention = inseq.load_model(MARIAN, "attention")
    translation = attention.attribute("ka blen brok dask ti fen.", step_scores=["probability"], show_progress=False)
    granular = translation.show_granular(display=False, return_html=True, show_dim="Attention Head")
    screenshot(html_page(granular), HERE / "granular.png", width=900, height=330)

    out[0].plot(replace_char={"Ġ": " "}, title="Saliency, toy IOI model").savefig(HERE / "figure.png", dpi=110)
    long[0].plot(replace_char={"Ġ": " "}).savefig(HERE / "figure_long.png", dpi=80)


if __name__ == "__main__":
    main()
    sources_image()

"""The main job: attribute a generation end to end and write an HTML report.

Run ``python -m inseq.demo`` (or ``make demo``). By default it uses the toy GPT-2 shipped with inseq, whose correct
attribution is known (the indirect object of an IOI sentence); ``--model`` accepts any model id or folder.

Example:
    >>> from inseq.demo import main
    >>> main(["--output", "/tmp/inseq-demo.html", "--quiet"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_PROMPT = "When Mary and John went to the store, John gave a drink to"


def _default_model() -> str:
    from .examples import get_example_model_path

    return str(get_example_model_path("toy-gpt2-ioi"))


def build_parser() -> argparse.ArgumentParser:
    """The demo's command-line options."""
    parser = argparse.ArgumentParser(prog="python -m inseq.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Model id or folder (default: the shipped toy GPT-2).")
    parser.add_argument("--method", default="integrated_gradients", help="Attribution method id.")
    parser.add_argument("--prompt", default=None, help="Input text (default: an IOI sentence for the toy model).")
    parser.add_argument("--max-new-tokens", type=int, default=3, help="Number of tokens to generate.")
    parser.add_argument("--output", default="outputs/demo.html", help="Where to write the HTML report.")
    parser.add_argument("--quiet", action="store_true", help="Do not print the console heatmap.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Load a model, generate, attribute with a gradient method and step scores, show and save the report."""
    args = build_parser().parse_args(argv)
    import inseq

    model_path = args.model or _default_model()
    model = inseq.load_model(model_path, args.method)
    prompt = args.prompt
    if prompt is None:
        prompt = DEFAULT_PROMPT if args.model is None else "Hello, my name is"
    out = model.attribute(
        prompt,
        step_scores=["probability", "entropy"],
        generation_args={"max_new_tokens": args.max_new_tokens, "do_sample": False},
        show_progress=not args.quiet,
    )
    if not args.quiet:
        out.show()
    html = out.show(display=False, return_html=True)
    target = Path(args.output)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"<html><head><meta charset='utf-8'><title>inseq report</title></head><body>{html}</body></html>"
    )
    print(f"Generated: {out.info['generated_texts'][0]!r}")
    print(f"HTML report written to {target.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

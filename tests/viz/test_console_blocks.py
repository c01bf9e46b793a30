"""Console heatmaps never go blank: every generated token shows at 80, 120 and 200 columns, whatever the length."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from viz_samples import decoder_only, encoder_decoder, gen_tokens

from inseq.data.attribution import FeatureAttributionOutput
from inseq.viz import show_attributions


def render(attr, width: int, **kwargs) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    show_attributions(attr, console=console, **kwargs)
    return console.export_text()


@pytest.mark.parametrize("n_tokens", [5, 50, 200])
@pytest.mark.parametrize("width", [80, 120, 200])
def test_every_generated_token_is_shown(n_tokens: int, width: int) -> None:
    text = render(decoder_only(n_tokens), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    missing = [tok for tok in gen_tokens(n_tokens) if tok not in text]
    assert missing == []
    # the step-score row is kept with every block of columns
    n_blocks = text.count("Target Saliency Heatmap")
    assert text.count("probability") == n_blocks
    assert (n_blocks > 1) == ("Full view:" in text)
    # values are shown, not just borders
    assert len(re.findall(r"-?\d\.\d\d", text)) >= n_tokens


def test_blocks_fit_and_cover_columns_in_order() -> None:
    text = render(decoder_only(50), 120)
    titles = re.findall(r"generated tokens (\d+)–(\d+) \(50 in all\)", " ".join(text.split()))
    assert len(titles) > 1
    starts = [int(a) for a, _ in titles]
    ends = [int(b) for _, b in titles]
    assert starts[0] == 3 and ends[-1] == 52
    assert all(s == e + 1 for s, e in zip(starts[1:], ends[:-1]))


def test_long_source_and_generation_transposes() -> None:
    seq = encoder_decoder(200)
    text = render(seq, 120)
    assert "Source Saliency Heatmap (transposed)" in text
    assert "↓ : Generated tokens, → : Attributed tokens" in text
    assert all(tok in text for tok in gen_tokens(200))
    assert "probability" in text and "entropy" in text
    forced = render(encoder_decoder(5), 120, transpose=True)
    assert "(transposed)" in forced
    assert "(transposed)" not in render(encoder_decoder(200), 120, transpose=False)


def test_long_and_contrastive_labels_wrap_instead_of_truncating() -> None:
    seq = decoder_only(4, prompt=("Averyveryverylongprompttoken", "x"))
    seq.target[3] = type(seq.target[3])("Ġdog → Ġcat", -1)
    seq.target[2] = type(seq.target[2])("line\nbreak", 5)
    text = render(seq, 80)
    assert "…" not in text
    labels = "".join(line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│"))
    assert "Averyveryverylongprompttoken" in labels
    header_lines = [line.split("┃") for line in text.splitlines() if line.startswith("┃")]
    headers = ["".join(parts[col].strip() for parts in header_lines) for col in range(3, 7)]
    assert headers[0] == "2line\\nbreak" and headers[1] == "3Ġdog →Ġcat"  # "Ġdog →" / "Ġcat" on two lines


def test_output_level_show_prints_all_sequences() -> None:
    out = FeatureAttributionOutput([decoder_only(3, seed=0), decoder_only(60, seed=1)])
    console = Console(width=100, record=True, file=io.StringIO())
    show_attributions(out, console=console)
    text = console.export_text()
    assert all(tok in text for tok in gen_tokens(60))

"""Tests of the ``inseq`` command line (tiny random models, offline)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from inseq.commands.attribute_context import (
    AttributeContextOutput,
    CCIOutput,
    attribute_context,
    select_scores,
)
from inseq.commands.attribute_dataset import Manifest
from inseq.commands.cli import main
from inseq.commands.cli_args import InseqArgumentParser, cli_arg
from inseq.data import FeatureAttributionOutput

GEN = '{"max_new_tokens": 3, "min_new_tokens": 3}'


def run_cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        [sys.executable, "-m", "inseq.commands.cli", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def check_html(path: Path) -> None:
    class Checker(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []
            self.seen: set[str] = set()

        def handle_starttag(self, tag, attrs):
            self.seen.add(tag)
            if tag not in {"meta", "br", "link", "img", "hr", "input"}:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            if tag in {"meta", "br", "link", "img", "hr", "input"}:
                return
            assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
            self.stack.pop()

    checker = Checker()
    checker.feed(path.read_text(encoding="utf-8"))
    checker.close()
    assert not checker.stack, checker.stack
    assert checker.seen


# ------------------------------------------------------------------------------------------------ argument layer


@dataclass
class _Args:
    name: str = cli_arg(default="x", aliases=["-n"], help="Name.")
    on: bool = cli_arg(default=True, help="On.")
    off: bool = cli_arg(default=False, help="Off.")
    values: list[int] | None = cli_arg(default=None, help="Values.")
    kw: dict = cli_arg(default_factory=dict, help="JSON.")
    mode: str = cli_arg(default="a", choices=["a", "b"], help="Mode.")


def _parse(*argv: str) -> _Args:
    parser = InseqArgumentParser(prog="t")
    parser.add_dataclass_arguments(_Args)
    return parser.parse_args_into_dataclasses(list(argv))[0]


def test_argument_layer() -> None:
    assert _parse() == _Args()
    a = _parse("-n", "y", "--no_on", "--off", "--values", "1", "2", "--kw", '{"a": 1}', "--mode", "b")
    assert a == _Args(name="y", on=False, off=True, values=[1, 2], kw={"a": 1}, mode="b")
    assert _parse("--off", "false", "--on", "no").off is False
    assert _parse("--off", "yes").off is True


@pytest.mark.parametrize("argv", [["--mode", "c"], ["--kw", "[1]"], ["--off", "maybe"], ["--values", "x"]])
def test_argument_layer_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as err:
        _parse(*argv)
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and argv[0] in lines[0]


def test_no_command_and_help(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 1
    assert "attribute-dataset" in capsys.readouterr().out
    with pytest.raises(SystemExit) as err:
        main(["attribute", "--help"])
    assert err.value.code == 0
    help_text = capsys.readouterr().out
    for option in (
        "--model_name_or_path",
        "-m",
        "--attribution_method",
        "-a",
        "--input_texts",
        "-i",
        "--save_path",
        "--viz_path",
        "--start_pos",
        "--end_pos",
        "-bs",
        "--eos",
        "--hide",
        "--dev",
        "--generation_kwargs",
        "--attribution_aggregators",
        "--attribution_selectors",
        "--normalize_attributions",
        "--verbose",
    ):
        assert option in help_text
    with pytest.raises(SystemExit):
        main(["attribute-dataset", "--help"])
    assert "--output_dir" in capsys.readouterr().out


def test_model_load_error(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["attribute", "-m", str(tmp_path / "missing"), "-i", "hello", "--hide"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and "could not load" in err[0]


# ------------------------------------------------------------------------------------------------ attribute


def test_attribute_subprocess(tiny_gpt2_path: Path, tmp_path: Path) -> None:
    save, viz = tmp_path / "out.json", tmp_path / "out.html"
    proc = run_cli(
        "attribute",
        "-m",
        str(tiny_gpt2_path),
        "-i",
        "hello world",
        "the cat",
        "--generation_kwargs",
        GEN,
        "--step_scores",
        "probability",
        "-o",
        str(save),
        "--viz_path",
        str(viz),
        "--dev",
        "cpu",
    )
    assert proc.returncode == 0, proc.stderr
    out = FeatureAttributionOutput.load(save)
    assert len(out) == 2 and "probability" in out[0].step_scores
    assert out.info["input_texts"] == ["hello world", "the cat"]
    check_html(viz)


def test_attribute_bad_option_subprocess(tiny_gpt2_path: Path) -> None:
    proc = run_cli("attribute", "-m", str(tiny_gpt2_path), "-i", "x", "-a", "not_a_method")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--attribution_method" in lines[0] and "saliency" in lines[0] and "not_a_method" in lines[0]


def test_attribute_in_process_options(tiny_marian_path: Path, tmp_path: Path) -> None:
    save = tmp_path / "agg.json"
    rc = main(
        [
            "attribute",
            "-m",
            str(tiny_marian_path),
            "-i",
            "hello world",
            "-g",
            "the cat sat",
            "--attribute_target",
            "--step_scores",
            "probability",
            "-o",
            str(save),
            "--attribution_aggregators",
            "spans",
            "--hide",
            "--batch_size",
            "1",
        ]
    )
    assert rc == 0
    out = FeatureAttributionOutput.load(save)
    assert out[0].target_attributions is not None and out.info["attribute_target"] is True


# ------------------------------------------------------------------------------------------------ attribute-dataset


def _write_dataset(path: Path, texts: list[str]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "text"])
        writer.writeheader()
        for i, t in enumerate(texts):
            writer.writerow({"id": i, "text": t})


def test_attribute_dataset_resume_and_bad_rows(tiny_gpt2_path: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data.csv"
    texts = ["hello world", "the cat", "", "a dog", "the " * 300, "some text"]
    _write_dataset(data, texts)
    outdir, merged = tmp_path / "run", tmp_path / "merged.json"
    base = [
        "attribute-dataset",
        "-m",
        str(tiny_gpt2_path),
        "-d",
        str(data),
        "-in",
        "text",
        "--generation_kwargs",
        GEN,
        "--output_dir",
        str(outdir),
        "-o",
        str(merged),
        "--hide",
        "-bs",
        "2",
    ]
    assert main([*base, "--max_rows", "3"]) == 0  # "interrupted" after 3 rows
    manifest = Manifest.load(outdir)
    assert manifest is not None and not manifest.finished
    assert len(manifest.done) + len(manifest.skipped) == 3 and not merged.exists()
    # an unfinished run is not silently restarted
    assert main(base) == 1
    assert "--resume" in capsys.readouterr().err
    first_files = {idx: (outdir / name).stat().st_mtime_ns for idx, name in manifest.done.items()}
    assert main([*base, "--resume"]) == 0
    manifest = Manifest.load(outdir)
    assert manifest.finished
    assert sorted(manifest.done) == [0, 1, 3, 5] and sorted(manifest.skipped) == [2, 4]
    assert "empty" in manifest.skipped[2] and "too long" in manifest.skipped[4]
    for idx, mtime in first_files.items():  # rows done before the interruption were not redone
        assert (outdir / manifest.done[idx]).stat().st_mtime_ns == mtime
    out = FeatureAttributionOutput.load(merged)
    assert len(out) == 4
    for seq in out:  # each merged row: its prompt, 3 generated tokens, one finite score column per generated token
        assert seq.source and [t.id for t in seq.target[: len(seq.source)]] == [t.id for t in seq.source]
        assert len(seq.target) == len(seq.source) + 3 and seq.attr_pos_start == len(seq.source)
        assert seq.target_attributions is not None and seq.target_attributions.shape[:2] == (len(seq.target), 3)
        assert seq.target_attributions[: len(seq.source)].isfinite().all()
    assert out.info["input_texts"] == [texts[i] for i in (0, 1, 3, 5)]
    summary = capsys.readouterr().out
    assert "skipped row 2 (line 4 of data.csv)" in summary and "skipped row 4 (line 6 of data.csv)" in summary
    # a finished run is not redone
    assert main([*base, "--resume"]) == 0
    assert "(0 in this run)" in capsys.readouterr().out


def test_attribute_dataset_jsonl_generated(tiny_marian_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    rows = [{"src": "hello world", "tgt": "the cat"}, {"src": "a dog", "tgt": "a dog sat"}]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    merged = tmp_path / "m.json"
    rc = main(
        [
            "attribute-dataset",
            "-m",
            str(tiny_marian_path),
            "-d",
            str(data),
            "-in",
            "src",
            "-gen",
            "tgt",
            "-o",
            str(merged),
            "--hide",
            "--viz_path",
            str(tmp_path / "v.html"),
        ]
    )
    assert rc == 0
    out = FeatureAttributionOutput.load(merged)
    assert out.info["generated_texts"] == ["the cat", "a dog sat"]
    check_html(tmp_path / "v.html")


# ------------------------------------------------------------------------------------------------ attribute-context


def test_select_scores_by_construction() -> None:
    scores = [0.01, 0.02, 0.015, 2.5, 0.01, 0.03]  # token 3 is context-sensitive by construction
    assert select_scores(scores, 1.0) == [3]
    assert select_scores([0.1, -3.0, 0.2, 0.1], 1.0) == [1]  # |score| is used
    assert select_scores([1.0, 2.0, 3.0], 0.0, topk=2) == [2, 1]
    assert select_scores([0.5], 1.0) == [0] and select_scores([], 1.0) == []


def test_attribute_context_output_roundtrip() -> None:
    out = AttributeContextOutput(
        input_context="ctx",
        input_context_tokens=["c"],
        output_current="a b",
        output_current_tokens=["a", "b"],
        cti_scores=[0.1, 0.9],
        cci_scores=[CCIOutput(1, "b", 0.9, "a b", input_context_scores=[0.5])],
        info={"x": 1},
    )
    assert AttributeContextOutput.from_dict(json.loads(json.dumps(out.to_dict()))) == out


@pytest.fixture(scope="module")
def gpt2_model(tiny_gpt2_path: Path):
    import inseq

    return inseq.load_model(str(tiny_gpt2_path), "saliency")


def test_attribute_context_decoder_only_context_dependence(gpt2_model, tmp_path: Path) -> None:
    # The contextual and contextless outputs share all tokens; the CTI token is the one with the largest
    # context-sensitivity score, and every CCI entry has one score per input-context token.
    out = attribute_context(
        model_name_or_path=gpt2_model,
        input_context_text="dog dog dog dog dog dog",
        input_current_text="the cat",
        output_current_text="sat on the mat",
        context_sensitivity_topk=1,
        context_sensitivity_std_threshold=0.0,
        show_viz=False,
        viz_path=str(tmp_path / "c.html"),
        save_path=str(tmp_path / "c.json"),
    )
    assert len(out.cti_scores) == len(out.output_current_tokens) > 0
    best = max(range(len(out.cti_scores)), key=lambda i: abs(out.cti_scores[i]))
    assert [c.cti_idx for c in out.cci_scores] == [best]
    assert len(out.cci_scores[0].input_context_scores) == len(out.input_context_tokens)
    assert "".join(out.input_context_tokens).replace("Ġ", " ").strip() == "dog dog dog dog dog dog"
    assert AttributeContextOutput.load(tmp_path / "c.json") == out
    html = (tmp_path / "c.html").read_text()
    assert "#0087ff" in html.lower()  # bold dodger_blue1 CTI token
    check_html(tmp_path / "c.html")


def test_attribute_context_contrastive_and_output_context(gpt2_model) -> None:
    out = attribute_context(
        model_name_or_path=gpt2_model,
        input_context_text="the dog",
        input_current_text="the cat",
        output_context_text="a dog",
        output_current_text="sat on",
        attributed_fn="contrast_prob_diff",
        context_sensitivity_std_threshold=0.0,
        context_sensitivity_topk=1,
        show_viz=False,
    )
    cci = out.cci_scores[0]
    assert cci.contrast_token is not None and cci.contextless_output is not None
    assert len(cci.output_context_scores) == len(out.output_context_tokens) == 2


def test_attribute_context_pre_needs_split(gpt2_model) -> None:
    from inseq.commands.base import CommandError

    with pytest.raises(CommandError, match="output_context_text"):
        attribute_context(
            model_name_or_path=gpt2_model,
            input_current_text="the cat",
            output_template="{context} {current}",
            handle_output_context_strategy="pre",
            generation_kwargs=json.loads(GEN),
            show_viz=False,
        )
    with pytest.raises(CommandError, match="offline"):
        attribute_context(
            model_name_or_path=gpt2_model,
            input_current_text="the cat",
            output_template="{context} {current}",
            handle_output_context_strategy="auto",
            show_viz=False,
        )


def test_attribute_context_subprocess_encoder_decoder(tiny_marian_path: Path, tmp_path: Path) -> None:
    save, viz = tmp_path / "ctx.json", tmp_path / "ctx.html"
    proc = run_cli(
        "attribute-context",
        "-m",
        str(tiny_marian_path),
        "--input_context_text",
        "the dog is here",
        "--input_current_text",
        "the cat",
        "--handle_output_context_strategy",
        "pre",
        "--generation_kwargs",
        GEN,
        "--context_sensitivity_std_threshold",
        "0",
        "-o",
        str(save),
        "--viz_path",
        str(viz),
        "--dev",
        "cpu",
    )
    assert proc.returncode == 0, proc.stderr
    out = AttributeContextOutput.load(save)
    assert out.cci_scores and out.input_context_tokens
    assert all(len(c.input_context_scores) == len(out.input_context_tokens) for c in out.cci_scores)
    assert out.info["model_name_or_path"] == str(tiny_marian_path)
    check_html(viz)

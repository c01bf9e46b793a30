"""Evaluation reached from the face, the model, ``explain`` and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import inseq
from inseq.commands.cli import main


def test_face_model_and_explain(tiny_gpt2_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = inseq.load_model(str(tiny_gpt2_path), "saliency")
    out = model.attribute("a b c", generation_args={"max_new_tokens": 2}, show_progress=False)
    via_model = model.evaluate(out, metrics=["comprehensiveness"], random_seeds=1)
    via_face = inseq.evaluate(model, out, metrics=["comprehensiveness"], random_seeds=1)
    assert isinstance(via_model, inseq.FaithfulnessOutput)
    assert via_model.summary().equals(via_face.summary())
    assert "comprehensiveness" in inseq.list_faithfulness_metrics()
    inseq.explain("loo_correlation")
    assert "leave-one-out" in capsys.readouterr().out.lower()


def test_cli_evaluate_writes_metrics_next_to_the_attributions(tiny_gpt2_path: Path, tmp_path: Path) -> None:
    save = tmp_path / "out.json"
    argv = ["attribute", "-m", str(tiny_gpt2_path), "-a", "saliency", "-i", "a b c", "--hide"]
    argv += ["--generation_kwargs", '{"max_new_tokens": 2}', "--save_path", str(save)]
    assert main([*argv, "--evaluate", "comprehensiveness", "loo_correlation"]) == 0
    metrics = json.loads((tmp_path / "out.faithfulness.json").read_text())
    assert "comprehensiveness" in json.dumps(metrics) and "loo_correlation" in json.dumps(metrics)


def test_cli_evaluate_errors(tiny_gpt2_path: Path, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    argv = ["attribute", "-m", str(tiny_gpt2_path), "-a", "saliency", "-i", "a b", "--hide"]
    argv += ["--generation_kwargs", '{"max_new_tokens": 1}']
    assert main([*argv, "--evaluate", "all"]) == 1
    assert "--save_path" in capsys.readouterr().err
    assert main([*argv, "--save_path", str(tmp_path / "o.json"), "--evaluate", "no_such_metric"]) == 1
    assert "no_such_metric" in capsys.readouterr().err

"""The dataset run as a library function: bad rows with their true line numbers, resumption, atomic files."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

import inseq
from inseq.data import FeatureAttributionOutput
from inseq.pipelines import (
    AttributeExtendedArgs,
    DatasetRunArgs,
    LoadDatasetArgs,
    Manifest,
    PipelineError,
    attribute_dataset,
    load_rows,
)

dataset_module = importlib.import_module("inseq.pipelines.attribute_dataset")

GEN = {"max_new_tokens": 2, "min_new_tokens": 2}


@pytest.fixture(scope="module")
def model(tiny_gpt2_path: Path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_gpt2_path), "saliency")


def _args(model, **kwargs) -> AttributeExtendedArgs:
    return AttributeExtendedArgs(model_name_or_path=model, device="cpu", generation_kwargs=GEN, batch_size=2, **kwargs)


def test_bad_jsonl_lines_are_skipped_with_their_line_numbers(model, tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    lines = ['{"text": "hello world"}', "", '{"text": "the cat"', '["not", "an object"]', "", '{"text": ""}']
    lines += ['{"other": "x"}', '{"text": "a dog"}']
    data.write_text("\n".join(lines) + "\n")
    rows = load_rows(LoadDatasetArgs(dataset_name=str(data), input_text_field="text"))
    assert [r.line for r in rows] == [1, 3, 4, 6, 7, 8]  # blank lines are not rows but still count as lines
    result = attribute_dataset(
        _args(model, save_path=str(tmp_path / "m.json")),
        LoadDatasetArgs(dataset_name=str(data), input_text_field="text"),
        DatasetRunArgs(output_dir=str(tmp_path / "run")),
        show_progress=False,
    )
    assert result.done == 2 and result.remaining == 0
    assert result.lines == {1: 3, 2: 4, 3: 6, 4: 7}
    assert "invalid JSON" in result.skipped[1] and "JSON object" in result.skipped[2]
    assert "empty" in result.skipped[3] and "'text'" in result.skipped[4]
    assert result.skip_label(1) == "row 1 (line 3 of data.jsonl)"
    assert FeatureAttributionOutput.load(tmp_path / "m.json").info["input_texts"] == ["hello world", "a dog"]
    assert Manifest.load(tmp_path / "run").lines == result.lines


def test_csv_line_numbers_follow_multiline_records(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text('id,text\n0,"first\nsecond line"\n1,\n2,"ok",extra\n3,fine\n')
    rows = load_rows(LoadDatasetArgs(dataset_name=str(data), input_text_field="text"))
    assert [r.line for r in rows] == [2, 4, 5, 6]
    assert rows[2].error is not None and "3 fields" in rows[2].error
    assert rows[3].data == {"id": "3", "text": "fine"}


def test_interrupted_run_resumes_without_redoing_rows(model, tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"text": t}) for t in ["a cat", "the dog", "one more", "last one"]))
    dataset = LoadDatasetArgs(dataset_name=str(data), input_text_field="text")
    run = DatasetRunArgs(output_dir=str(tmp_path / "run"))
    calls = {"n": 0}
    real = dataset_module.attribute_texts

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process is killed during the second batch
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset_module, "attribute_texts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        attribute_dataset(_args(model), dataset, run, show_progress=False)
    manifest = Manifest.load(tmp_path / "run")
    assert sorted(manifest.done) == [0, 1] and not manifest.finished
    assert not [p for p in (tmp_path / "run").rglob("*") if ".tmp" in p.name]  # no half-written file
    first = {i: (tmp_path / "run" / name).stat().st_mtime_ns for i, name in manifest.done.items()}
    with pytest.raises(PipelineError, match="resume"):
        attribute_dataset(_args(model), dataset, run, show_progress=False)
    monkeypatch.setattr(dataset_module, "attribute_texts", real)
    resumed = DatasetRunArgs(output_dir=str(tmp_path / "run"), resume=True)
    result = attribute_dataset(_args(model), dataset, resumed, merge=True, show_progress=False)
    assert result.attributed_now == 2 and result.done == 4 and result.remaining == 0
    assert [s.source is not None for s in result.merged] == [True] * 4
    for index, mtime in first.items():
        assert (tmp_path / "run" / manifest.done[index]).stat().st_mtime_ns == mtime
    with pytest.raises(PipelineError, match="other options"):
        attribute_dataset(_args(model, step_scores=["probability"]), dataset, resumed, show_progress=False)


def test_missing_column_is_an_error(model, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("id,sentence\n0,hello\n")
    with pytest.raises(PipelineError, match="sentence"):
        attribute_dataset(
            _args(model), LoadDatasetArgs(dataset_name=str(data), input_text_field="text"), show_progress=False
        )

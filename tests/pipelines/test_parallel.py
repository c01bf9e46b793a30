"""Data-parallel dataset runs: torchrun processes, a killed rank, resumption with another world size, merging.

The torchrun tests launch real processes (gloo on CPU) in a subprocess; the others run the ranks one after the
other in this process (a :class:`Shard` whose collectives are no-ops), which is how a resumed run with another
world size sees the folder.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import inseq
from inseq.commands.cli import main as cli_main
from inseq.data import FeatureAttributionOutput
from inseq.pipelines import (
    AttributeExtendedArgs,
    DatasetRunArgs,
    LoadDatasetArgs,
    Manifest,
    PipelineError,
    attribute_dataset,
)
from inseq.pipelines.manifest import SHARDS_DIR, shard_manifest_path
from inseq.pipelines.merge import merge_dataset
from inseq.pipelines.sharding import FAULT_ENV, Shard

dataset_module = importlib.import_module("inseq.pipelines.attribute_dataset")

GEN = {"max_new_tokens": 2, "min_new_tokens": 2}
TEXTS = ["a cat", "the dog", "one more", "last one", "hello world", "x y z", "my friend"]


class SequentialShard(Shard):
    """A rank of a parallel run whose collectives are no-ops: the ranks run one after the other in this process."""

    def barrier(self) -> None:
        return None

    def from_rank0(self, value):
        return value


@pytest.fixture(scope="module")
def model(tiny_gpt2_path: Path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_gpt2_path), "saliency")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in TEXTS) + "\n")
    return path


def _args(model, **kwargs) -> AttributeExtendedArgs:
    return AttributeExtendedArgs(model_name_or_path=model, device="cpu", generation_kwargs=GEN, batch_size=1, **kwargs)


def _dataset(path: Path) -> LoadDatasetArgs:
    return LoadDatasetArgs(dataset_name=str(path), input_text_field="text")


def _as_rank(monkeypatch, rank: int, world: int) -> None:
    monkeypatch.setattr(dataset_module, "shard_from_env", lambda: SequentialShard(rank, world))


def _reference(model, data: Path, tmp_path: Path) -> FeatureAttributionOutput:
    save = tmp_path / "single.json"
    attribute_dataset(
        _args(model, save_path=str(save)),
        _dataset(data),
        DatasetRunArgs(output_dir=str(tmp_path / "single")),
        show_progress=False,
    )
    return FeatureAttributionOutput.load(save)


def _assert_same_rows(out: FeatureAttributionOutput, ref: FeatureAttributionOutput) -> None:
    assert len(out.sequence_attributions) == len(ref.sequence_attributions)
    for got, want in zip(out.sequence_attributions, ref.sequence_attributions, strict=True):
        assert got.source == want.source and got.target == want.target
        for name in ("source_attributions", "target_attributions", "step_scores"):
            a, b = getattr(got, name), getattr(want, name)
            if isinstance(a, dict):
                assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
            elif a is None:
                assert b is None
            else:
                assert torch.equal(a.nan_to_num(), b.nan_to_num()) and torch.equal(a.isnan(), b.isnan())
    assert out.info["input_texts"] == ref.info["input_texts"]


def _torchrun(
    nproc: int, argv: list[str], env: dict[str, str] | None = None, launcher: str = "torchrun"
) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node nproc -m inseq.commands.cli ARGV`` with this checkout importable
    (``launcher="accelerate"``: ``accelerate launch --multi_gpu --num_processes nproc``, which runs on CPU too)."""
    root = str(Path(inseq.__file__).resolve().parents[1])
    full_env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    full_env.update({"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})})
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    if launcher == "accelerate":
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", f"--num_processes={nproc}"]
        command += ["--num_machines=1", "--mixed_precision=no", "--dynamo_backend=no"]
    command += ["-m", "inseq.commands.cli", *argv]
    return subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=180, check=False)


def _cli_argv(model_path: Path, data: Path, run: Path, save: Path, *extra: str) -> list[str]:
    return [
        "attribute-dataset", "-m", str(model_path), "-d", str(data), "-in", "text", "--output_dir", str(run),
        "--save_path", str(save), "--hide", "--device", "cpu", "-bs", "1", "--generation_kwargs", json.dumps(GEN),
        *extra,
    ]  # fmt: skip


def test_shard_takes_rows_by_index_modulo_world_size() -> None:
    shards = [Shard(rank, 3) for rank in range(3)]
    assert [[i for i in range(8) if s.owns(i)] for s in shards] == [[0, 3, 6], [1, 4, 7], [2, 5]]
    assert [s.assigned(8) for s in shards] == [3, 3, 2]
    assert Shard().label == "" and shards[1].label == "rank 1/3"


def test_shard_from_env_reads_the_launcher_variables(monkeypatch) -> None:
    from inseq.pipelines.sharding import shard_from_env

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert (shard_from_env().rank, shard_from_env().world_size) == (0, 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(PipelineError, match=r"RANK=5 and WORLD_SIZE=2"):
        shard_from_env()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(PipelineError, match=r"WORLD_SIZE='two'"):
        shard_from_env()


def test_resume_with_another_world_size_and_merge(model, data: Path, tmp_path: Path, monkeypatch) -> None:
    ref = _reference(model, data, tmp_path)
    run = tmp_path / "run"
    save = tmp_path / "merged.json"
    # rank 0 of 2 attributes two of its rows, then the run stops
    _as_rank(monkeypatch, 0, 2)
    first = attribute_dataset(
        _args(model, save_path=str(save)),
        _dataset(data),
        DatasetRunArgs(output_dir=str(run), max_rows=2),
        show_progress=False,
    )
    assert (first.total, first.done, first.remaining) == (4, 2, 2)
    assert first.run is not None and not first.run.finished and not save.exists()
    kept = {i: (run / n).stat().st_mtime_ns for i, n in Manifest.load(run).done.items()}
    assert sorted(kept) == [0, 2]
    # resumed by 3 processes: nobody redoes rows 0 and 2
    results = []
    for rank in (1, 2, 0):
        _as_rank(monkeypatch, rank, 3)
        results.append(
            attribute_dataset(
                _args(model, save_path=str(save)),
                _dataset(data),
                DatasetRunArgs(output_dir=str(run), resume=True),
                show_progress=False,
            )
        )
    # rank 1 of 3 owns rows 1, 4; rank 2 owns 2, 5 (2 done); rank 0 owns 0, 3, 6 (0 done)
    assert [r.attributed_now for r in results] == [2, 1, 2]
    assert [r.total for r in results] == [2, 2, 3] and all(r.remaining == 0 for r in results)
    assert [r.done for r in results] == [2, 2, 3]
    # rank 0 ran last: its final merge took every shard in
    assert results[-1].run is not None and results[-1].run.finished and results[-1].run.done == len(TEXTS)
    assert not list((run / SHARDS_DIR).glob("manifest-*.json"))
    for index, mtime in kept.items():
        assert (run / Manifest.load(run).done[index]).stat().st_mtime_ns == mtime
    _assert_same_rows(FeatureAttributionOutput.load(save), ref)


def test_merge_dataset_command_merges_an_interrupted_run(
    model, data: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    ref = _reference(model, data, tmp_path)
    run, save = tmp_path / "run", tmp_path / "merged.json"
    for rank in (0, 1):  # rank 0 finishes first: rank 1's rows are only in its shard manifest afterwards
        _as_rank(monkeypatch, rank, 2)
        attribute_dataset(
            _args(model, save_path=str(save)),
            _dataset(data),
            DatasetRunArgs(output_dir=str(run)),
            show_progress=False,
        )
    assert not save.exists() and shard_manifest_path(run, 1, 2).exists()
    assert not Manifest.load(run).finished
    assert cli_main(["merge-dataset", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Merged 1 shard manifests" in out and f"{len(TEXTS)}/{len(TEXTS)} rows attributed" in out
    assert f"saved to {save}" in out
    assert Manifest.load(run).finished and not shard_manifest_path(run, 1, 2).exists()
    _assert_same_rows(FeatureAttributionOutput.load(save), ref)
    again = merge_dataset(run, save_path=str(tmp_path / "again.json"))
    assert again.finished and again.shards == 0 and again.done == len(TEXTS)


def test_world_size_larger_than_the_dataset_is_an_error(model, data: Path, tmp_path: Path, monkeypatch) -> None:
    _as_rank(monkeypatch, 0, 10)
    with pytest.raises(PipelineError, match=r"WORLD_SIZE=10 processes for a dataset of 7 rows.*at most 7"):
        attribute_dataset(_args(model), _dataset(data), DatasetRunArgs(output_dir=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()  # refused before anything is written


def test_foreign_and_corrupt_shard_manifests_are_refused_and_kept(
    model, data: Path, tmp_path: Path, monkeypatch
) -> None:
    run = tmp_path / "run"
    for rank in (0, 1):  # another run's folder: rank 1's rows stay in its shard manifest
        _as_rank(monkeypatch, rank, 2)
        attribute_dataset(
            _args(model), _dataset(data), DatasetRunArgs(output_dir=str(tmp_path / "other")), show_progress=False
        )
    _as_rank(monkeypatch, 0, 2)
    attribute_dataset(_args(model), _dataset(data), DatasetRunArgs(output_dir=str(run), max_rows=1))
    before = sorted(p.relative_to(run) for p in run.rglob("*") if p.is_file())
    # a shard manifest of another run (other options) copied into this folder
    foreign = Manifest.load(tmp_path / "other", shard_manifest_path(tmp_path / "other", 1, 2))
    foreign.signature = {**foreign.signature, "attribution_method": "input_x_gradient"}
    foreign.path = shard_manifest_path(run, 1, 2)
    foreign.save()
    resume = DatasetRunArgs(output_dir=str(run), resume=True)
    with pytest.raises(PipelineError, match=r"manifest-w2-r1\.json belongs to a run with other options.*saliency"):
        attribute_dataset(_args(model), _dataset(data), resume)
    # a corrupt shard manifest
    foreign.path.write_text('{"signature": {}, "done": ')
    with pytest.raises(PipelineError, match=r"manifest-w2-r1\.json is corrupt.*move it out"):
        attribute_dataset(_args(model), _dataset(data), resume)
    after = sorted(p.relative_to(run) for p in run.rglob("*") if p.is_file())
    assert set(before) <= set(after)  # nothing already written is lost
    # another input in the same folder
    foreign.path.unlink()
    data.write_text(data.read_text().replace("cat", "cow"))
    with pytest.raises(PipelineError, match=r"belongs to a run on another input"):
        attribute_dataset(_args(model), _dataset(data), resume)


def test_torchrun_two_processes_match_one_process(model, tiny_gpt2_path: Path, data: Path, tmp_path: Path) -> None:
    ref = _reference(model, data, tmp_path)
    run, save = tmp_path / "run", tmp_path / "merged.json"
    proc = _torchrun(2, _cli_argv(tiny_gpt2_path, data, run, save))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[rank 0/2] Summary: 4/4 rows attributed (4 in this run)" in proc.stdout
    assert "[rank 1/2] Summary: 3/3 rows attributed (3 in this run)" in proc.stdout
    assert "All 2 ranks: 7/7 rows attributed, 0 skipped, finished." in proc.stdout
    manifest = Manifest.load(run)
    assert manifest.finished and sorted(manifest.done) == list(range(len(TEXTS)))
    assert not list((run / SHARDS_DIR).glob("*.json"))
    _assert_same_rows(FeatureAttributionOutput.load(save), ref)


def test_torchrun_killed_rank_resumes_with_every_row_once(
    model, tiny_gpt2_path: Path, data: Path, tmp_path: Path
) -> None:
    ref = _reference(model, data, tmp_path)
    run, save = tmp_path / "run", tmp_path / "merged.json"
    proc = _torchrun(2, _cli_argv(tiny_gpt2_path, data, run, save), env={FAULT_ENV: "1:1"})
    assert proc.returncode != 0  # rank 1 killed itself after its first row; torchrun stopped rank 0
    assert not save.exists()
    shard = Manifest.load(run, shard_manifest_path(run, 1, 2))
    assert shard is not None and sorted(shard.done) == [1]
    recorded = {**Manifest.load(run).done}
    for path in sorted((run / SHARDS_DIR).glob("manifest-*.json")):
        recorded.update(Manifest.load(run, path).done)
    kept = {i: (run / n).stat().st_mtime_ns for i, n in recorded.items()}
    # resumed by one process: the rows done by either rank are kept, the others attributed once
    result = attribute_dataset(
        _args(model, save_path=str(save)),
        _dataset(data),
        DatasetRunArgs(output_dir=str(run), resume=True),
        show_progress=False,
    )
    assert result.attributed_now == len(TEXTS) - len(recorded) and result.done == len(TEXTS)
    manifest = Manifest.load(run)
    assert manifest.finished and sorted(manifest.done) == list(range(len(TEXTS)))
    assert sorted(p.name for p in (run / "rows").iterdir()) == [f"row_{i:07d}.json" for i in range(len(TEXTS))]
    for index, mtime in kept.items():
        assert (run / manifest.done[index]).stat().st_mtime_ns == mtime
    _assert_same_rows(FeatureAttributionOutput.load(save), ref)


@pytest.mark.slow
def test_accelerate_launch_two_processes_match_one_process(
    model, tiny_gpt2_path: Path, data: Path, tmp_path: Path
) -> None:
    pytest.importorskip("accelerate")
    ref = _reference(model, data, tmp_path)
    run, save = tmp_path / "run", tmp_path / "merged.json"
    proc = _torchrun(2, _cli_argv(tiny_gpt2_path, data, run, save), launcher="accelerate")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[rank 0/2] Summary: 4/4 rows attributed" in proc.stdout
    assert "[rank 1/2] Summary: 3/3 rows attributed" in proc.stdout
    assert Manifest.load(run).finished
    _assert_same_rows(FeatureAttributionOutput.load(save), ref)

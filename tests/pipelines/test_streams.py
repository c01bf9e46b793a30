"""Dataset inputs read as a stream: every local format, Hugging Face ``datasets``, and the bad-input errors."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from inseq.pipelines import LoadDatasetArgs, PipelineError
from inseq.pipelines.rows import check_columns
from inseq.pipelines.streams import (
    CsvStream,
    JsonLinesStream,
    JsonStream,
    ParquetStream,
    dataset_fingerprint,
    open_stream,
)

TEXTS = ["a cat", "the dog", "one more", "last one", "hello world"]


def _args(path: Path, field: str = "text") -> LoadDatasetArgs:
    return LoadDatasetArgs(dataset_name=str(path), input_text_field=field)


def _write(tmp_path: Path, kind: str) -> Path:
    records = [{"id": i, "text": t} for i, t in enumerate(TEXTS)]
    path = tmp_path / f"data.{kind}"
    if kind == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    elif kind == "json":
        path.write_text(json.dumps(records, indent=2))
    elif kind == "csv":
        path.write_text("id,text\n" + "".join(f"{r['id']},{r['text']}\n" for r in records))
    elif kind == "parquet":
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        pq.write_table(pa.Table.from_pylist(records), path, row_group_size=2)
    return path


@pytest.mark.parametrize(
    ("kind", "stream_type"),
    [("jsonl", JsonLinesStream), ("json", JsonStream), ("csv", CsvStream), ("parquet", ParquetStream)],
)
def test_every_local_format_streams_the_same_rows(tmp_path: Path, kind: str, stream_type: type) -> None:
    stream = open_stream(_args(_write(tmp_path, kind)))
    assert isinstance(stream, stream_type)
    rows = list(stream)
    assert [r.index for r in rows] == list(range(len(TEXTS)))
    assert [r.data["text"] for r in rows] == TEXTS
    assert stream.count() == len(TEXTS)
    assert list(stream) == rows  # each iteration reads again from the start
    columns = stream.columns()
    assert columns is None or columns == ["id", "text"]
    check_columns(stream.sample(), _args(stream.path), columns)


def test_json_array_keeps_the_line_of_each_record(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('[\n  {"text": "a"},\n  {"text": "b"},\n  3,\n  {"text": "c"}\n]\n')
    rows = list(open_stream(_args(path)))
    assert [r.line for r in rows] == [2, 3, 4, 5]
    assert rows[2].data is None and "JSON object" in rows[2].error
    assert rows[3].data == {"text": "c"}


@pytest.mark.parametrize("kind", ["jsonl", "json"])
def test_streaming_memory_does_not_grow_with_rows(tmp_path: Path, kind: str) -> None:
    records = [{"text": f"row {i} " + "x" * 100} for i in range(20_000)]  # ~2.5 MB of text
    path = tmp_path / f"big.{kind}"
    path.write_text("\n".join(map(json.dumps, records)) if kind == "jsonl" else json.dumps(records))
    stream = open_stream(_args(path))
    tracemalloc.start()
    n = sum(1 for _ in stream)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 20_000
    assert peak < path.stat().st_size / 4, f"peak {peak} bytes for a {path.stat().st_size}-byte file"


def test_missing_column_names_it_and_lists_the_available_ones(tmp_path: Path) -> None:
    for kind in ("csv", "jsonl", "parquet"):
        stream = open_stream(_args(_write(tmp_path, kind), field="sentence"))
        with pytest.raises(PipelineError) as err:
            check_columns(stream.sample(), stream.args, stream.columns())
        assert "'sentence'" in str(err.value) and "input_text_field" in str(err.value)
        assert "available columns: id, text" in str(err.value)


def test_unsupported_extension_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data.xml"
    path.write_text("<rows/>")
    with pytest.raises(PipelineError, match=r"data\.xml.*'\.xml'"):
        open_stream(_args(path))


def test_fingerprint_changes_with_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "jsonl")
    before = dataset_fingerprint(open_stream(_args(path)), len(TEXTS))
    path.write_text(path.read_text().replace("cat", "cow"))
    assert dataset_fingerprint(open_stream(_args(path)), len(TEXTS)) != before


def test_hf_datasets_load_dataset_and_save_to_disk(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    path = _write(tmp_path, "jsonl")
    # load_dataset on local files (streamed)
    args = LoadDatasetArgs(
        dataset_name="json", dataset_files=[str(path)], input_text_field="text", dataset_split="train"
    )
    stream = open_stream(args)
    assert [r.data["text"] for r in stream] == TEXTS
    # a folder written by save_to_disk (memory-mapped)
    folder = tmp_path / "saved"
    datasets.Dataset.from_list([{"id": i, "text": t} for i, t in enumerate(TEXTS)]).save_to_disk(str(folder))
    stream = open_stream(LoadDatasetArgs(dataset_name=str(folder), input_text_field="text"))
    assert [r.data["text"] for r in stream] == TEXTS
    assert stream.count() == len(TEXTS) and stream.columns() == ["id", "text"]

"""Dataset rows read as a stream: one row at a time, whatever the size of the dataset.

Local JSON lines are read line by line, CSV/TSV with the ``csv`` module, Parquet in record batches with pyarrow, a
JSON array with an incremental decoder, and Hugging Face ``datasets`` either from a folder written by
``save_to_disk`` (memory-mapped) or through ``load_dataset(..., streaming=True)``. Memory does not grow with the
number of rows; the only layout read whole is a JSON *object* holding the rows (``{"data": [...]}`` or a mapping of
columns), which cannot be streamed without a streaming JSON parser: convert it to JSON lines for large files.

Example:
    >>> from inseq.pipelines.args import LoadDatasetArgs
    >>> stream = open_stream(LoadDatasetArgs(dataset_name="data.jsonl", input_text_field="text"))  # doctest: +SKIP
    >>> stream.count(), next(iter(stream)).data  # doctest: +SKIP
    (20000, {'text': 'Hello world'})
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .args import LoadDatasetArgs
from .attribution import PipelineError
from .rows import DatasetRow, local_path

__all__ = ["RowStream", "dataset_fingerprint", "open_stream"]

logger = logging.getLogger(__name__)

LOCAL_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
#: Characters read at a time by the JSON array decoder.
JSON_CHUNK = 1 << 16
#: Longest JSON array element read (characters): a longer one is reported as broken.
MAX_JSON_RECORD_CHARS = 64 << 20
#: Size above which a JSON object layout (read whole) is reported as a memory risk.
WHOLE_JSON_WARN_BYTES = 64 << 20
#: Rows looked at when no schema tells the columns.
COLUMN_SAMPLE_ROWS = 100
_PARQUET_BATCH = 256
_SAVED_DATASET_FILES = ("dataset_info.json", "state.json", "dataset_dict.json")


class RowStream:
    """The rows of a dataset, read again from the start by each iteration.

    Attributes:
        args: The dataset options.
        path: The local file read (None for ``datasets``).

    Example:
        >>> stream = open_stream(LoadDatasetArgs(dataset_name="data.csv", input_text_field="text"))  # doctest: +SKIP
        >>> stream.columns(), stream.count(), [row.index for row in stream.sample(2)]  # doctest: +SKIP
        (['id', 'text'], 3, [0, 1])
    """

    def __init__(self, args: LoadDatasetArgs, path: Path | None = None) -> None:
        self.args = args
        self.path = path

    def __iter__(self) -> Iterator[DatasetRow]:
        raise NotImplementedError

    def columns(self) -> list[str] | None:
        """The column names when the format declares them (CSV header, Parquet or ``datasets`` schema)."""
        return None

    def count(self) -> int:
        """Number of rows (read through once unless the format records it)."""
        return sum(1 for _ in self)

    def sample(self, n: int = COLUMN_SAMPLE_ROWS) -> list[DatasetRow]:
        """The first ``n`` rows."""
        return list(itertools.islice(iter(self), n))


class JsonLinesStream(RowStream):
    """JSON lines, one object a line (blank lines are no rows but count as lines)."""

    def __iter__(self) -> Iterator[DatasetRow]:
        assert self.path is not None
        with self.path.open(encoding="utf-8") as f:
            yield from _json_lines(f)

    def count(self) -> int:
        assert self.path is not None
        with self.path.open(encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())


def _json_lines(lines: Any, first_line: int = 1) -> Iterator[DatasetRow]:
    index = 0
    for line_no, line in enumerate(lines, start=first_line):
        if line.strip():
            yield parse_json_line(index, line_no, line)
            index += 1


def parse_json_line(index: int, line_no: int, text: str) -> DatasetRow:
    """One JSON-lines row: its object, or the reason it cannot be used."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return DatasetRow(index, line_no, None, f"invalid JSON ({err.msg} at column {err.colno})")
    if not isinstance(value, dict):
        return DatasetRow(index, line_no, None, f"expected a JSON object, got {type(value).__name__}")
    return DatasetRow(index, line_no, value)


class CsvStream(RowStream):
    """CSV or TSV with a header line; a record with more fields than the header is a bad row."""

    def __init__(self, args: LoadDatasetArgs, path: Path, delimiter: str) -> None:
        super().__init__(args, path)
        self.delimiter = delimiter

    def __iter__(self) -> Iterator[DatasetRow]:
        assert self.path is not None
        with self.path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=self.delimiter)
            for index, record in enumerate(reader):
                values = [v for v in record.values() if isinstance(v, str)]
                first_line = reader.line_num - sum(v.count("\n") for v in values)
                error = None
                if None in record:  # more fields than the header
                    n_fields = len(reader.fieldnames or []) + len(record[None])
                    error = f"{n_fields} fields but the header has {len(reader.fieldnames or [])}"
                data = {k: v for k, v in record.items() if k is not None} if error is None else None
                yield DatasetRow(index, first_line, data, error)

    def columns(self) -> list[str] | None:
        assert self.path is not None
        with self.path.open(newline="", encoding="utf-8") as f:
            return list(next(csv.reader(f, delimiter=self.delimiter), []))

    def count(self) -> int:
        assert self.path is not None
        with self.path.open(newline="", encoding="utf-8") as f:
            return max(sum(1 for _ in csv.reader(f, delimiter=self.delimiter)) - 1, 0)


class ParquetStream(RowStream):
    """Parquet, read in record batches (pyarrow)."""

    def _file(self) -> Any:
        try:
            import pyarrow.parquet as pq
        except ImportError as err:
            raise PipelineError("Reading parquet files needs pyarrow: pip install pyarrow") from err
        try:
            return pq.ParquetFile(self.path)
        except Exception as err:  # noqa: BLE001 - any reading failure is reported with the file
            raise PipelineError(f"{self.path}: not a readable parquet file ({type(err).__name__}: {err}).") from err

    def __iter__(self) -> Iterator[DatasetRow]:
        index = 0
        for batch in self._file().iter_batches(batch_size=_PARQUET_BATCH):
            for record in batch.to_pylist():
                yield DatasetRow(index, None, dict(record))
                index += 1

    def columns(self) -> list[str] | None:
        return list(self._file().schema_arrow.names)

    def count(self) -> int:
        return int(self._file().metadata.num_rows)


class JsonStream(RowStream):
    """A ``.json`` file: an array of objects (streamed), JSON lines, or one object holding the rows (read whole)."""

    def _layout(self) -> str:
        assert self.path is not None
        with self.path.open(encoding="utf-8") as f:
            head = ""
            while not head.strip():
                chunk = f.read(JSON_CHUNK)
                if not chunk:
                    return "empty"
                head += chunk
            if head.lstrip().startswith("["):
                return "array"
            f.seek(0)
            lines = (line for line in f if line.strip())
            first, second = next(lines, None), next(lines, None)
        if first is not None and second is not None and _is_json(first):
            return "lines"
        return "object"

    def __iter__(self) -> Iterator[DatasetRow]:
        assert self.path is not None
        layout = self._layout()
        if layout == "array":
            yield from _json_array(self.path)
        elif layout == "lines":
            with self.path.open(encoding="utf-8") as f:
                yield from _json_lines(f)
        elif layout == "object":
            yield from _json_object(self.path)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


class _JsonArrayReader:
    """A sliding window over a file: the text not yet decoded, refilled one chunk at a time."""

    def __init__(self, f: Any) -> None:
        self.f, self.buffer, self.pos, self.line, self.eof = f, "", 0, 1, False

    def fill(self) -> bool:
        """Append the next chunk (dropping what was consumed); False at the end of the file."""
        chunk = "" if self.eof else self.f.read(JSON_CHUNK)
        self.eof = not chunk
        self.buffer, self.pos = self.buffer[self.pos :] + chunk, 0
        return bool(chunk)

    def next_char(self) -> str | None:
        """The next character that is not white space (None at the end of the file)."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n":
                self.line += self.buffer[self.pos] == "\n"
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self.fill():
                return None

    def value(self, decoder: json.JSONDecoder) -> tuple[Any, str | None]:
        """The next JSON value, or ``(None, reason)`` when it cannot be decoded."""
        while True:
            try:
                value, end = decoder.raw_decode(self.buffer, self.pos)
                if not isinstance(value, dict | list) and end >= len(self.buffer) and not self.eof:
                    raise json.JSONDecodeError("incomplete value", self.buffer, end)  # a number may go on
            except json.JSONDecodeError as err:
                if len(self.buffer) - self.pos > MAX_JSON_RECORD_CHARS or not self.fill():
                    return None, f"invalid JSON ({err.msg})"
                continue
            self.line += self.buffer.count("\n", self.pos, end)
            self.pos = end
            return value, None


def _json_array(path: Path) -> Iterator[DatasetRow]:
    """The elements of a top-level JSON array, decoded one at a time (memory bounded by the largest element)."""
    decoder = json.JSONDecoder()
    with path.open(encoding="utf-8") as f:
        reader = _JsonArrayReader(f)
        reader.next_char()
        reader.pos += 1  # the opening bracket (checked by the caller)
        index = 0
        while True:
            char = reader.next_char()
            if char == "]":
                return
            if char is None:
                logger.warning("%s ends before the closing ']' of its array: %d rows read.", path, index)
                return
            if index and char == ",":
                reader.pos += 1
                reader.next_char()
            elif index:
                yield DatasetRow(index, reader.line, None, f"expected ',' or ']' after row {index - 1}, got {char!r}")
                return
            line = reader.line
            value, error = reader.value(decoder)
            if error is not None:
                yield DatasetRow(index, line, None, f"{error}; the rest of the array is not read")
                return
            if isinstance(value, dict):
                yield DatasetRow(index, line, value)
            else:
                yield DatasetRow(index, line, None, f"expected a JSON object, got {type(value).__name__}")
            index += 1


def _json_object(path: Path) -> Iterator[DatasetRow]:
    """Rows of one JSON object (``{"data": [...]}`` or columns ``{"col": [...]}``), read whole."""
    if path.stat().st_size > WHOLE_JSON_WARN_BYTES:
        logger.warning(
            "%s holds its rows in one JSON object, which is read whole (%d bytes): convert it to JSON lines "
            "(one object a line, .jsonl) to stream it.",
            path,
            path.stat().st_size,
        )
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # one JSON line saved with a .json extension, or broken JSON
        yield from _json_lines(text.splitlines())
        return
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        if len(lists) == 1 and all(isinstance(r, dict) for r in next(iter(lists.values()))):
            data = next(iter(lists.values()))  # {"data": [{...}, ...]}
        elif lists and len(lists) == len(data):  # columns: {"col": [...], ...}
            n = len(next(iter(lists.values())))
            data = [{k: v[i] for k, v in lists.items()} for i in range(n)]
        else:
            data = [data]  # a single record
    for i, record in enumerate(data):
        yield (
            DatasetRow(i, None, record) if isinstance(record, dict) else DatasetRow(i, None, None, "not a JSON object")
        )


class HFDatasetStream(RowStream):
    """A Hugging Face dataset: a ``save_to_disk`` folder (memory-mapped) or ``load_dataset(..., streaming=True)``."""

    def __init__(self, args: LoadDatasetArgs) -> None:
        super().__init__(args)
        self._dataset: Any = None

    @property
    def dataset(self) -> Any:
        """The ``datasets.Dataset`` or ``IterableDataset`` (opened on first use)."""
        if self._dataset is None:
            self._dataset = _open_hf_dataset(self.args)
        return self._dataset

    def __iter__(self) -> Iterator[DatasetRow]:
        for index, record in enumerate(self.dataset):
            yield DatasetRow(index, None, dict(record))

    def columns(self) -> list[str] | None:
        names = getattr(self.dataset, "column_names", None)
        return list(names) if names else None

    def count(self) -> int:
        try:
            return len(self.dataset)
        except TypeError:  # an IterableDataset: read through
            return super().count()


def _datasets_module() -> Any:
    try:
        import datasets
    except ImportError:
        raise PipelineError(
            "The dataset is not a local csv/tsv/json/jsonl/parquet file, and loading other datasets needs the "
            "`datasets` library (pip install 'inseq[datasets]')."
        ) from None
    return datasets


def _pick_split(dataset: Any, split: str | None, name: str) -> Any:
    if not hasattr(dataset, "keys"):  # already one split
        return dataset
    splits = list(dataset.keys())
    if split is None and len(splits) == 1:
        return dataset[splits[0]]
    if split not in splits:
        raise PipelineError(f"dataset_split (--split) {split!r} is not a split of {name!r}; available: {splits}.")
    return dataset[split]


def _open_hf_dataset(args: LoadDatasetArgs) -> Any:
    datasets = _datasets_module()
    folder = Path(args.dataset_name).expanduser()
    try:
        if folder.is_dir() and any((folder / f).exists() for f in _SAVED_DATASET_FILES):
            return _pick_split(datasets.load_from_disk(str(folder)), args.dataset_split, args.dataset_name)
        kwargs = {"streaming": True, **dict(args.dataset_kwargs or {})}
        dataset = datasets.load_dataset(
            args.dataset_name,
            args.dataset_config,
            data_dir=args.dataset_dir,
            data_files=args.dataset_files,
            split=args.dataset_split,
            revision=args.dataset_revision,
            token=args.dataset_auth_token,
            **kwargs,
        )
        return _pick_split(dataset, args.dataset_split, args.dataset_name)
    except PipelineError:
        raise
    except Exception as err:  # noqa: BLE001 - any loading failure is reported on one line
        message = " ".join(str(err).split())
        raise PipelineError(f"Could not load the dataset {args.dataset_name!r}: {message}") from err


def open_stream(args: LoadDatasetArgs) -> RowStream:
    """The row stream of a dataset: a local file by its extension, else a Hugging Face dataset.

    Raises:
        PipelineError: A local file with an unsupported extension.

    Example:
        >>> open_stream(LoadDatasetArgs(dataset_name="rows.csv", input_text_field="text"))  # doctest: +SKIP
    """
    path = local_path(args)
    if path is None:
        return HFDatasetStream(args)
    kind = LOCAL_EXTENSIONS.get(path.suffix.lower())
    if kind in ("csv", "tsv"):
        return CsvStream(args, path, "\t" if kind == "tsv" else ",")
    if kind == "jsonl":
        return JsonLinesStream(args, path)
    if kind == "json":
        return JsonStream(args, path)
    if kind == "parquet":
        return ParquetStream(args, path)
    raise PipelineError(
        f"dataset_name (--dataset_name) {str(path)!r}: unsupported file extension {path.suffix!r}; use one of "
        f"{sorted(LOCAL_EXTENSIONS)}."
    )


def dataset_fingerprint(stream: RowStream, total: int) -> dict[str, Any]:
    """What identifies the input of a run: its number of rows and, for a local file, its size and the hash of its
    first MiB (a resumed run on a changed file is refused).

    Example:
        >>> dataset_fingerprint(open_stream(args), 3)  # doctest: +SKIP
        {'rows': 3, 'size': 61, 'head_sha256': '5c1e...'}
    """
    info: dict[str, Any] = {"rows": total}
    if stream.path is not None:
        with stream.path.open("rb") as f:
            info["head_sha256"] = hashlib.sha256(f.read(1 << 20)).hexdigest()
        info["size"] = stream.path.stat().st_size
    else:
        fingerprint = getattr(getattr(stream, "_dataset", None), "_fingerprint", None)
        if fingerprint:
            info["fingerprint"] = str(fingerprint)
    return info

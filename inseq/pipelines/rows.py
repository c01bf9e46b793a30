"""Dataset rows for attribution runs: loading (with the line of each row in its file) and checking.

Local files (csv, tsv, json, jsonl, parquet) are read directly; other names go through ``datasets.load_dataset``
when it is installed. A line that cannot be parsed (invalid JSON, a CSV record with extra fields) is not fatal: it
becomes a row with an ``error``, skipped and reported with its line number like any other bad row.

Example:
    >>> rows = load_rows(LoadDatasetArgs(dataset_name="data.jsonl", input_text_field="text"))  # doctest: +SKIP
    >>> rows[0].index, rows[0].line, rows[0].data  # doctest: +SKIP
    (0, 1, {'text': 'Hello world'})
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .args import LoadDatasetArgs
from .attribution import PipelineError

if TYPE_CHECKING:
    from ..models import AttributionModel

LOCAL_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}


@dataclass
class DatasetRow:
    """One dataset row.

    Attributes:
        index: Position of the row in the dataset (0-based; what the manifest and ``--resume`` use).
        line: 1-based line of the row in its file (its first line for multi-line CSV records), None when unknown.
        data: The row's fields (None when the line could not be parsed).
        error: Why the line could not be parsed.
    """

    index: int
    line: int | None
    data: dict[str, Any] | None
    error: str | None = None


def _read_csv(path: Path, delimiter: str) -> list[DatasetRow]:
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        for record in reader:
            values = [v for v in record.values() if isinstance(v, str)]
            first_line = reader.line_num - sum(v.count("\n") for v in values)
            error = None
            if None in record:  # more fields than the header
                n_fields = len(reader.fieldnames or []) + len(record[None])
                error = f"{n_fields} fields but the header has {len(reader.fieldnames or [])}"
            data = {k: v for k, v in record.items() if k is not None} if error is None else None
            rows.append(DatasetRow(len(rows), first_line, data, error))
    return rows


def _parse_json_line(index: int, line_no: int, text: str) -> DatasetRow:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return DatasetRow(index, line_no, None, f"invalid JSON ({err.msg} at column {err.colno})")
    if not isinstance(value, dict):
        return DatasetRow(index, line_no, None, f"expected a JSON object, got {type(value).__name__}")
    return DatasetRow(index, line_no, value)


def _read_jsonl(text: str) -> list[DatasetRow]:
    rows: list[DatasetRow] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append(_parse_json_line(len(rows), line_no, line))
    return rows


def _read_json(path: Path) -> list[DatasetRow]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # JSON lines saved with a .json extension
        return _read_jsonl(text)
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        if len(lists) == 1 and all(isinstance(r, dict) for r in next(iter(lists.values()))):
            data = next(iter(lists.values()))  # {"data": [{...}, ...]}
        elif lists and len(lists) == len(data):  # columns: {"col": [...], ...}
            n = len(next(iter(lists.values())))
            data = [{k: v[i] for k, v in lists.items()} for i in range(n)]
        else:
            raise PipelineError(f"{path}: expected a list of records or a mapping of columns in the JSON file.")
    return [
        DatasetRow(i, None, r) if isinstance(r, dict) else DatasetRow(i, None, None, "not a JSON object")
        for i, r in enumerate(data)
    ]


def _read_parquet(path: Path) -> list[DatasetRow]:
    try:
        import pyarrow.parquet as pq

        records = pq.read_table(path).to_pylist()
    except ImportError:
        try:
            import pandas as pd
        except ImportError as err:
            raise PipelineError("Reading parquet files needs pyarrow: pip install pyarrow") from err
        records = pd.read_parquet(path).to_dict("records")
    return [DatasetRow(i, None, dict(r)) for i, r in enumerate(records)]


def read_local(path: Path) -> list[DatasetRow]:
    """Rows of a local csv, tsv, json, jsonl or parquet file.

    Raises:
        PipelineError: Unsupported extension or unreadable JSON layout.
    """
    kind = LOCAL_EXTENSIONS.get(path.suffix.lower())
    if kind in ("csv", "tsv"):
        return _read_csv(path, "\t" if kind == "tsv" else ",")
    if kind == "jsonl":
        return _read_jsonl(path.read_text(encoding="utf-8"))
    if kind == "json":
        return _read_json(path)
    if kind == "parquet":
        return _read_parquet(path)
    raise PipelineError(f"{path}: unsupported file extension {path.suffix!r}; use one of {sorted(LOCAL_EXTENSIONS)}.")


def local_path(args: LoadDatasetArgs) -> Path | None:
    """The local file a dataset is read from, or None for ``datasets.load_dataset`` names."""
    local = Path(args.dataset_name).expanduser()
    if local.is_file():
        return local
    if args.dataset_name in ("csv", "json", "parquet") and args.dataset_files and len(args.dataset_files) == 1:
        single = Path(args.dataset_files[0])
        if single.is_file():
            return single
    return None


def load_rows(args: LoadDatasetArgs) -> list[DatasetRow]:
    """Load the dataset rows.

    Raises:
        PipelineError: The dataset cannot be read.
    """
    path = local_path(args)
    if path is not None:
        return read_local(path)
    try:
        import datasets
    except ImportError:
        raise PipelineError(
            f"{args.dataset_name!r} is not a local file, and loading other datasets needs the `datasets` library "
            "(pip install 'inseq[datasets]')."
        ) from None
    try:
        dataset = datasets.load_dataset(
            args.dataset_name,
            args.dataset_config,
            data_dir=args.dataset_dir,
            data_files=args.dataset_files,
            split=args.dataset_split,
            revision=args.dataset_revision,
            token=args.dataset_auth_token,
            **dict(args.dataset_kwargs or {}),
        )
    except Exception as err:  # noqa: BLE001 - any loading failure is reported on one line
        message = " ".join(str(err).split())
        raise PipelineError(f"Could not load the dataset {args.dataset_name!r}: {message}") from err
    return [DatasetRow(i, None, dict(row)) for i, row in enumerate(dataset)]


def check_columns(rows: list[DatasetRow], args: LoadDatasetArgs) -> None:
    """Fail early when no row has the input (or generated) column: a misspelled name, not a bad row.

    Raises:
        PipelineError: The column is in no row.
    """
    parsed = [r.data for r in rows if r.data is not None]
    for option, name in (
        ("input_text_field", args.input_text_field),
        ("generated_text_field", args.generated_text_field),
    ):
        if name and parsed and not any(name in d for d in parsed):
            raise PipelineError(
                f"The dataset has no column {name!r} ({option}, --{option}); available columns: "
                f"{', '.join(map(str, parsed[0]))}."
            )


def max_model_positions(model: AttributionModel) -> int | None:
    """The longest sequence the model accepts (None when unknown)."""
    config = model.model.config
    for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(model.tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None


def row_texts(row: DatasetRow, args: LoadDatasetArgs) -> tuple[Any, Any]:
    """The input and generated values of a row (None when missing)."""
    data = row.data or {}
    generated = data.get(args.generated_text_field) if args.generated_text_field else None
    return data.get(args.input_text_field), generated


def check_row(
    model: AttributionModel, text: Any, generated: Any, max_positions: int | None, max_new_tokens: int
) -> str | None:
    """Why a row cannot be attributed (None when it can).

    Example:
        >>> check_row(model, "", None, 1024, 5)  # doctest: +SKIP
        'empty input text'
    """
    if not isinstance(text, str) or not text.strip():
        return "empty input text" if isinstance(text, str) or text is None else f"input is not text ({text!r})"
    if generated is not None and (not isinstance(generated, str) or not generated.strip()):
        return "empty generated text"
    if max_positions is None:
        return None
    n_input = len(model.tokenizer(text)["input_ids"])
    n_generated = len(model.tokenizer(generated)["input_ids"]) if generated else None
    if model.is_encoder_decoder:
        total = max(n_input, n_generated if n_generated is not None else max_new_tokens)
    else:
        total = n_generated if n_generated is not None else n_input + max_new_tokens
    if total > max_positions:
        return f"too long for the model: {total} tokens > {max_positions} positions"
    return None

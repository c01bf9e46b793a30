"""Dataset rows for attribution runs: loading (with the line of each row in its file) and checking.

Local files (csv, tsv, json, jsonl, parquet) are read directly; other names go through ``datasets`` when it is
installed; :mod:`inseq.pipelines.streams` reads them as a stream. A line that cannot be parsed (invalid JSON, a
CSV record with extra fields) is not fatal: it becomes a row with an ``error``, skipped and reported with its line
number like any other bad row.

Example:
    >>> rows = load_rows(LoadDatasetArgs(dataset_name="data.jsonl", input_text_field="text"))  # doctest: +SKIP
    >>> rows[0].index, rows[0].line, rows[0].data  # doctest: +SKIP
    (0, 1, {'text': 'Hello world'})
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .args import LoadDatasetArgs
from .attribution import PipelineError

if TYPE_CHECKING:
    from ..models import AttributionModel


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
    """Load all the rows of a dataset in a list (a run reads them as a stream instead:
    :func:`~inseq.pipelines.streams.open_stream`).

    Raises:
        PipelineError: The dataset cannot be read.
    """
    from .streams import open_stream

    return list(open_stream(args))


def check_columns(rows: Iterable[DatasetRow], args: LoadDatasetArgs, columns: list[str] | None = None) -> None:
    """Fail early when the input (or generated) column is missing: a misspelled name, not a bad row.

    Args:
        rows: Rows to look at (a stream's first rows) when the format declares no columns.
        args: The dataset options naming the columns.
        columns: The declared columns (CSV header, Parquet or ``datasets`` schema), when known.

    Raises:
        PipelineError: The column is not declared, or is in none of ``rows``.
    """
    parsed = [r.data for r in rows if r.data is not None]
    available = list(columns) if columns is not None else (list(map(str, parsed[0])) if parsed else [])
    for option, name in (
        ("input_text_field", args.input_text_field),
        ("generated_text_field", args.generated_text_field),
    ):
        if not name:
            continue
        missing = name not in columns if columns is not None else bool(parsed) and not any(name in d for d in parsed)
        if missing:
            raise PipelineError(
                f"The dataset has no column {name!r} ({option}, --{option}); available columns: "
                f"{', '.join(available)}."
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

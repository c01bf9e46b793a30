"""Attribute every row of a dataset, resumably.

Rows are attributed in batches. With ``output_dir``, each attributed row is written as ``rows/row_<index>.json`` as
soon as its batch is done and ``manifest.json`` (rewritten atomically after every batch) records the rows done and
skipped: an interrupted run continues with ``resume=True``, and a finished run is not redone. Bad rows (unparsable
line, missing or empty text, too long for the model, failing attribution) are skipped and reported with their row
index and, for local files, their line in the file. ``save_path`` receives all rows merged in one JSON file at the
end; without ``output_dir`` the row files go to ``<save_path>.parts/``.

Example:
    >>> from inseq.pipelines import AttributeExtendedArgs, DatasetRunArgs, LoadDatasetArgs, attribute_dataset
    >>> result = attribute_dataset(
    ...     AttributeExtendedArgs(model_name_or_path="gpt2", generation_kwargs={"max_new_tokens": 5}),
    ...     LoadDatasetArgs(dataset_name="data.jsonl", input_text_field="prompt"),
    ...     DatasetRunArgs(output_dir="runs/gpt2"),
    ... )  # doctest: +SKIP
    >>> result.skipped, result.lines  # doctest: +SKIP
    ({2: 'empty input text'}, {2: 3})
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..utils.options import check_cli_options
from .args import AttributeExtendedArgs, DatasetRunArgs, LoadDatasetArgs
from .attribution import PipelineError, aggregate_with_args, attribute_texts, load_run_model
from .manifest import ROWS_DIR, Manifest, open_manifest, run_signature
from .rows import DatasetRow, check_columns, check_row, load_rows, local_path, max_model_positions, row_texts
from .validation import clean_run_temps

if TYPE_CHECKING:
    from ..data import FeatureAttributionOutput
    from ..models import AttributionModel


@dataclass
class DatasetRunResult:
    """Outcome of :func:`attribute_dataset`.

    Attributes:
        total: Rows in the dataset.
        done: Rows attributed (in this and earlier invocations).
        attributed_now: Rows attributed in this invocation.
        remaining: Rows neither done nor skipped (left for ``resume``).
        skipped: Row index -> reason.
        lines: Row index -> line in the dataset file, for the skipped rows whose line is known.
        seconds: Duration of this invocation.
        output_dir: The run folder (None when the rows were kept in memory).
        dataset_file: The local file the rows come from (None for ``datasets`` names).
        merged: All rows merged, when the run is finished and merging was asked for.
    """

    total: int
    done: int
    attributed_now: int
    remaining: int
    skipped: dict[int, str] = field(default_factory=dict)
    lines: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    output_dir: str | None = None
    dataset_file: str | None = None
    merged: FeatureAttributionOutput | None = None

    def skip_label(self, index: int) -> str:
        """``"row 2 (line 4 of data.csv)"``, or ``"row 2"`` when the line is unknown."""
        line = self.lines.get(index)
        if line is None:
            return f"row {index}"
        return f"row {index} (line {line}" + (f" of {self.dataset_file})" if self.dataset_file else ")")


def split_output(out: FeatureAttributionOutput) -> list[FeatureAttributionOutput]:
    """One output per sequence, with ``info`` texts restricted to that sequence."""
    from ..data import FeatureAttributionOutput

    parts = []
    for i, seq in enumerate(out.sequence_attributions):
        info = copy.deepcopy(out.info)
        for key in ("input_texts", "generated_texts"):
            if isinstance(info.get(key), list) and len(info[key]) == len(out.sequence_attributions):
                info[key] = [info[key][i]]
        parts.append(FeatureAttributionOutput(sequence_attributions=[seq], step_attributions=None, info=info))
    return parts


@dataclass
class _Checker:
    model: AttributionModel
    dataset_args: LoadDatasetArgs
    max_positions: int | None
    max_new_tokens: int

    def prepare(self, row: DatasetRow) -> tuple[str | None, tuple[str, str | None] | None]:
        """``(reason, None)`` for a bad row, ``(None, (text, generated))`` for a good one."""
        if row.error is not None:
            return row.error, None
        if self.dataset_args.input_text_field not in (row.data or {}):
            return f"no {self.dataset_args.input_text_field!r} field", None
        text, generated = row_texts(row, self.dataset_args)
        reason = check_row(self.model, text, generated, self.max_positions, self.max_new_tokens)
        if reason is None and generated is not None and not self.model.is_encoder_decoder:
            if not generated.startswith(text):
                generated = f"{text} {generated}"  # decoder-only: forced targets continue the prompt
                reason = check_row(self.model, text, generated, self.max_positions, self.max_new_tokens)
        return reason, (None if reason else (text, generated))


def _attribute_group(
    model: AttributionModel, group: list[tuple[DatasetRow, str, str | None]], args: AttributeExtendedArgs
) -> tuple[dict[int, FeatureAttributionOutput], dict[int, str]]:
    """Attribute rows together; when that fails, row by row, skipping the rows that still fail."""
    texts = [t for _, t, _ in group]
    gens = [g for _, _, g in group] if group[0][2] is not None else None
    try:
        out = attribute_texts(model, texts, gens, args, show_progress=False)
        return {row.index: part for (row, _, _), part in zip(group, split_output(out))}, {}
    except Exception as err:  # noqa: BLE001 - a bad row is reported, never fatal
        if len(group) == 1:
            return {}, {group[0][0].index: f"attribution failed: {type(err).__name__}: {' '.join(str(err).split())}"}
    done: dict[int, FeatureAttributionOutput] = {}
    failed: dict[int, str] = {}
    for item in group:
        ok, bad = _attribute_group(model, [item], args)
        done.update(ok)
        failed.update(bad)
    return done, failed


def _attribute_batch(
    model: AttributionModel, batch: list[DatasetRow], checker: _Checker, args: AttributeExtendedArgs, store: RowStore
) -> None:
    good: list[tuple[DatasetRow, str, str | None]] = []
    for row in batch:
        reason, texts = checker.prepare(row)
        if texts is None:
            store.skip(row, reason or "invalid row")
        else:
            good.append((row, *texts))
    forced = [g is not None for _, _, g in good]
    groups = [good] if len(set(forced)) <= 1 else [[item] for item in good]  # mixed forced / generated rows
    by_index = {row.index: row for row in batch}
    for group in (g for g in groups if g):
        done, failed = _attribute_group(model, group, args)
        for index, part in done.items():
            store.put(index, aggregate_with_args(part, args))
        for index, reason in failed.items():
            store.skip(by_index[index], reason)
    store.checkpoint()



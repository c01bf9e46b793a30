"""Attribute every row of a dataset, resumably.

Rows are attributed in batches. With ``output_dir``, each attributed row is written as ``rows/row_<index>.json`` as
soon as its batch is done and ``manifest.json`` (rewritten atomically after every batch) records the rows done and
skipped: an interrupted run continues with ``resume=True``, and a finished run is not redone. Bad rows (unparsable
line, missing or empty text, too long for the model, an input refused by inseq's validation: :data:`ROW_INPUT_ERRORS`)
are skipped and reported with their row index and, for local files, their line in the file; any other error stops
the run with its traceback. ``save_path`` receives all rows merged in one JSON file at the
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

from ..utils.checks import check_text
from ..utils.errors import InputTooLongError, InvalidArgumentError, InvalidArgumentTypeError, LengthMismatchError
from ..utils.options import check_cli_options
from .args import AttributeExtendedArgs, DatasetRunArgs, LoadDatasetArgs
from .attribution import PipelineError, aggregate_with_args, attribute_texts, load_run_model
from .manifest import ROWS_DIR, Manifest, open_manifest, run_signature
from .rows import DatasetRow, check_columns, check_row, load_rows, local_path, max_model_positions, row_texts
from .validation import clean_run_temps

if TYPE_CHECKING:
    from ..data import FeatureAttributionOutput
    from ..models import AttributionModel


#: Errors of ``attribute()`` caused by a row's own input (its text is refused by inseq's input validation): such a
#: row is skipped and reported. Any other error (a bug, a device failure, a bad option) stops the run with its
#: traceback; the rows done so far stay in the run folder for ``resume``.
ROW_INPUT_ERRORS: tuple[type[Exception], ...] = (
    InputTooLongError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    LengthMismatchError,
)


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


class RowStore:
    """Where attributed rows go: one file per row in the run folder, or memory."""

    def __init__(self, manifest: Manifest | None) -> None:
        self.manifest = manifest
        self.done: dict[int, str] = manifest.done if manifest else {}
        self.skipped: dict[int, str] = manifest.skipped if manifest else {}
        self.lines: dict[int, int] = manifest.lines if manifest else {}
        self.memory: dict[int, FeatureAttributionOutput] = {}

    def put(self, index: int, part: FeatureAttributionOutput) -> None:
        """Store one attributed row (atomic file write)."""
        if self.manifest is None:
            self.memory[index] = part
            self.done[index] = ""
            return
        name = f"{ROWS_DIR}/row_{index:07d}.json"
        part.save(self.manifest.folder / name, overwrite=True)
        self.done[index] = name

    def skip(self, row: DatasetRow, reason: str) -> None:
        """Record a skipped row."""
        self.skipped[row.index] = reason
        if row.line is not None:
            self.lines[row.index] = row.line

    def checkpoint(self) -> None:
        """Persist the progress (manifest rewrite)."""
        if self.manifest is not None:
            self.manifest.save()

    def merged(self) -> FeatureAttributionOutput | None:
        """All attributed rows merged in index order (None when there is none)."""
        from ..data import FeatureAttributionOutput, merge_attributions

        parts = []
        for index in sorted(self.done):
            if index in self.memory:
                parts.append(self.memory[index])
            elif self.manifest is not None and self.done[index]:
                parts.append(FeatureAttributionOutput.load(self.manifest.folder / self.done[index]))
        return merge_attributions(parts) if parts else None


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
        for name, value in (("input text", text), ("generated text", generated)):
            if isinstance(value, str):  # text the tokenizer cannot encode (a lone surrogate) is the row's fault
                try:
                    check_text(name, value)
                except InvalidArgumentError as err:
                    return str(err), None
        reason = check_row(self.model, text, generated, self.max_positions, self.max_new_tokens)
        if reason is None and generated is not None and not self.model.is_encoder_decoder:
            if not generated.startswith(text):
                generated = f"{text} {generated}"  # decoder-only: forced targets continue the prompt
                reason = check_row(self.model, text, generated, self.max_positions, self.max_new_tokens)
        return reason, (None if reason else (text, generated))


def _attribute_group(
    model: AttributionModel, group: list[tuple[DatasetRow, str, str | None]], args: AttributeExtendedArgs
) -> tuple[dict[int, FeatureAttributionOutput], dict[int, str]]:
    """Attribute rows together; when a row's input is refused, row by row, skipping the rows refused alone.

    Only :data:`ROW_INPUT_ERRORS` skip a row: any other exception propagates and stops the run.
    """
    texts = [t for _, t, _ in group]
    gens = [g for _, _, g in group] if group[0][2] is not None else None
    try:
        out = attribute_texts(model, texts, gens, args, show_progress=False)
        return {row.index: part for (row, _, _), part in zip(group, split_output(out))}, {}
    except ROW_INPUT_ERRORS as err:
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


def _progress(show: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]Attributing rows"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        disable=not show,
    )


def _run_pending(
    model: AttributionModel,
    rows: list[DatasetRow],
    pending: list[int],
    args: AttributeExtendedArgs,
    dataset_args: LoadDatasetArgs,
    store: RowStore,
    show_progress: bool,
) -> int:
    max_new_tokens = int((args.generation_kwargs or {}).get("max_new_tokens", 0) or 0)
    checker = _Checker(model, dataset_args, max_model_positions(model), max_new_tokens)
    batch_size = max(int(args.batch_size or 1), 1)
    before = len(store.done)
    with _progress(show_progress) as progress:
        task = progress.add_task("rows", total=len(pending), status="")
        for start in range(0, len(pending), batch_size):
            batch = [rows[i] for i in pending[start : start + batch_size]]
            _attribute_batch(model, batch, checker, args, store)
            progress.update(task, advance=len(batch), status=f"{len(store.skipped)} skipped")
    return len(store.done) - before


def _run_folder(args: AttributeExtendedArgs, run_args: DatasetRunArgs) -> Path | None:
    folder = Path(run_args.output_dir) if run_args.output_dir else None
    if folder is None and args.save_path:
        folder = Path(f"{args.save_path}.parts")
    if run_args.resume and folder is None:
        raise PipelineError("resume=True (--resume) needs output_dir (--output_dir) or save_path (--save_path).")
    return folder


def attribute_dataset(
    args: AttributeExtendedArgs,
    dataset_args: LoadDatasetArgs,
    run_args: DatasetRunArgs | None = None,
    merge: bool | None = None,
    show_progress: bool = True,
) -> DatasetRunResult:
    """Attribute every row of a dataset; see the module docstring for the run folder layout.

    Args:
        args: Model and attribution options (``model_name_or_path`` may be a loaded model); ``save_path``
            receives the merged rows when the run is finished.
        dataset_args: Which dataset and columns.
        run_args: Run folder, ``resume``, ``overwrite``, ``max_rows``.
        merge: Merge all rows into ``result.merged`` when finished (default: when ``save_path`` is set).
        show_progress: Show a progress bar.

    Returns:
        A :class:`DatasetRunResult`.

    Raises:
        PipelineError: Unreadable dataset, missing column, or a run folder holding another or unfinished run.
    """
    run_args = run_args or DatasetRunArgs()
    started = time.perf_counter()
    check_cli_options({"batch_size": args.batch_size, "max_rows": run_args.max_rows})
    rows = load_rows(dataset_args)
    check_columns(rows, dataset_args)
    folder = _run_folder(args, run_args)
    manifest = None
    if folder is not None:
        signature = run_signature(args, dataset_args)
        manifest = open_manifest(folder, signature, len(rows), run_args.resume, run_args.overwrite)
        clean_run_temps(folder)
    store = RowStore(manifest)
    pending = [r.index for r in rows if r.index not in store.done and r.index not in store.skipped]
    if run_args.max_rows is not None:
        pending = pending[: max(run_args.max_rows, 0)]
    attributed_now = 0
    if pending:
        attributed_now = _run_pending(load_run_model(args), rows, pending, args, dataset_args, store, show_progress)
    remaining = sum(1 for r in rows if r.index not in store.done and r.index not in store.skipped)
    if manifest is not None:
        manifest.finished = remaining == 0
        manifest.save()
    merged = None
    if remaining == 0 and (merge if merge is not None else bool(args.save_path)):
        merged = store.merged()
        if merged is not None and args.save_path:
            Path(args.save_path).parent.mkdir(parents=True, exist_ok=True)
            merged.save(args.save_path, overwrite=True)
    path = local_path(dataset_args)
    return DatasetRunResult(
        total=len(rows),
        done=len(store.done),
        attributed_now=attributed_now,
        remaining=remaining,
        skipped=dict(sorted(store.skipped.items())),
        lines=dict(sorted(store.lines.items())),
        seconds=round(time.perf_counter() - started, 2),
        output_dir=str(folder) if folder else None,
        dataset_file=path.name if path else None,
        merged=merged,
    )

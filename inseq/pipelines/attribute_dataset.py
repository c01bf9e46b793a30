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
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..utils.checks import check_text
from ..utils.errors import InputTooLongError, InvalidArgumentError, InvalidArgumentTypeError, LengthMismatchError
from ..utils.options import check_cli_options
from ..utils.progress import progress_bar
from .args import AttributeExtendedArgs, DatasetRunArgs, LoadDatasetArgs
from .attribution import PipelineError, aggregate_with_args, attribute_texts, load_run_model
from .manifest import run_signature, shard_status_path
from .rows import DatasetRow, check_columns, check_row, max_model_positions, row_texts
from .sharding import Shard, shard_from_env
from .store import RowStore, RunTotals, finish_store, open_store
from .streams import RowStream, dataset_fingerprint, open_stream

if TYPE_CHECKING:
    from ..data import FeatureAttributionOutput
    from ..models import AttributionModel

logger = logging.getLogger(__name__)


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
    """Outcome of :func:`attribute_dataset` for this process's rows (all rows when it runs alone).

    Attributes:
        total: Rows of this process (in a parallel run, its shard: the rows ``i`` with ``i % world_size == rank``).
        done: Rows of this process attributed (in this and earlier invocations, by any process).
        attributed_now: Rows attributed by this process in this invocation.
        remaining: Rows of this process neither done nor skipped (left for ``resume``).
        skipped: Row index -> reason.
        lines: Row index -> line in the dataset file, for the skipped rows whose line is known.
        seconds: Duration of this invocation.
        output_dir: The run folder (None when the rows were kept in memory).
        dataset_file: The local file the rows come from (None for ``datasets`` names).
        merged: All rows merged, when the run is finished and merging was asked for (rank 0 only).
        rank: Rank of this process (0 when alone).
        world_size: Number of processes of the run.
        run: The whole run's counts (all ranks, known after the final merge).
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
    rank: int = 0
    world_size: int = 1
    run: RunTotals | None = None

    @property
    def label(self) -> str:
        """``"rank 1/4"`` in a parallel run, ``""`` otherwise."""
        return f"rank {self.rank}/{self.world_size}" if self.world_size > 1 else ""

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


def _run_folder(args: AttributeExtendedArgs, run_args: DatasetRunArgs) -> Path | None:
    folder = Path(run_args.output_dir) if run_args.output_dir else None
    if folder is None and args.save_path:
        folder = Path(f"{args.save_path}.parts")
    if run_args.resume and folder is None:
        raise PipelineError("resume=True (--resume) needs output_dir (--output_dir) or save_path (--save_path).")
    return folder


def _check_world_size(shard: Shard, total: int, dataset_args: LoadDatasetArgs) -> None:
    if shard.world_size > total:
        raise PipelineError(
            f"WORLD_SIZE={shard.world_size} processes for a dataset of {total} rows "
            f"({dataset_args.dataset_name!r}): some processes would have no row; launch at most {max(total, 1)} "
            "(torchrun --nproc_per_node, accelerate launch --num_processes)."
        )


def _pending(stream: RowStream, shard: Shard, store: RowStore, max_rows: int | None) -> Iterator[DatasetRow]:
    """This process's rows not recorded yet, read from the stream (at most ``max_rows``)."""
    if max_rows is not None and max_rows <= 0:
        return
    taken = 0
    for row in stream:
        if not shard.owns(row.index) or store.has(row.index):
            continue
        yield row
        taken += 1
        if max_rows is not None and taken >= max_rows:
            return


def _batches(rows: Iterator[DatasetRow], size: int) -> Iterator[list[DatasetRow]]:
    batch: list[DatasetRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _all_ranks_done(store: RowStore) -> int | None:
    """Rows recorded by all ranks so far (from their status files), on rank 0 of a parallel run."""
    if store.manifest is None or not store.shard.parallel or store.shard.rank != 0:
        return None
    recorded = 0
    for rank in range(store.shard.world_size):
        path = shard_status_path(store.manifest.folder, rank, store.shard.world_size)
        try:
            status = json.loads(path.read_text(encoding="utf-8"))
            recorded += int(status.get("done", 0)) + int(status.get("skipped", 0))
        except (OSError, ValueError, AttributeError):
            continue
    return recorded


def _run_pending(
    model: AttributionModel,
    rows: Iterator[DatasetRow],
    todo: int,
    run_total: int,
    args: AttributeExtendedArgs,
    dataset_args: LoadDatasetArgs,
    store: RowStore,
    show_progress: bool,
) -> int:
    max_new_tokens = int((args.generation_kwargs or {}).get("max_new_tokens", 0) or 0)
    checker = _Checker(model, dataset_args, max_model_positions(model), max_new_tokens)
    batch_size = max(int(args.batch_size or 1), 1)
    shard = store.shard
    before = len(store.done)
    recorded = 0
    name = f"Attributing rows ({shard.label})" if shard.parallel else "Attributing rows"
    with progress_bar(show_progress, transient=False, elapsed=True) as bar:
        advance = bar.task(name, total=todo)
        for batch in _batches(rows, batch_size):
            _attribute_batch(model, batch, checker, args, store)
            recorded += len(batch)
            everyone = _all_ranks_done(store)
            status = f"{name}, {len(store.skipped)} skipped"
            if everyone is not None:
                status += f", all ranks {everyone}/{run_total}"
            advance(len(batch), description=status)
            logger.debug("%s%d rows recorded in this run", f"{shard.label}: " if shard.parallel else "", recorded)
            shard.fault_drill(recorded)
    return len(store.done) - before


def attribute_dataset(
    args: AttributeExtendedArgs,
    dataset_args: LoadDatasetArgs,
    run_args: DatasetRunArgs | None = None,
    merge: bool | None = None,
    show_progress: bool = True,
) -> DatasetRunResult:
    """Attribute every row of a dataset, read as a stream; see the module docstring for the run folder layout.

    Launched by ``torchrun --nproc_per_node N`` or ``accelerate launch`` (or any launcher setting ``RANK`` and
    ``WORLD_SIZE``), each process attributes the rows ``i`` with ``i % N == rank`` and records them in its own
    shard manifest; at the end rank 0 merges every shard into ``manifest.json`` and saves the merged rows.

    Args:
        args: Model and attribution options (``model_name_or_path`` may be a loaded model); ``save_path``
            receives the merged rows when the run is finished.
        dataset_args: Which dataset and columns.
        run_args: Run folder, ``resume``, ``overwrite``, ``max_rows`` (per process in a parallel run).
        merge: Merge all rows into ``result.merged`` when finished (default: when ``save_path`` is set).
        show_progress: Show a progress bar.

    Returns:
        A :class:`DatasetRunResult` for this process's rows.

    Raises:
        PipelineError: Unreadable dataset, missing column, more processes than rows, or a run folder holding
            another or unfinished run or a corrupt manifest.

    Example:
        >>> result = attribute_dataset(
        ...     AttributeExtendedArgs(model_name_or_path="gpt2", generation_kwargs={"max_new_tokens": 5}),
        ...     LoadDatasetArgs(dataset_name="data.jsonl", input_text_field="prompt"),
        ...     DatasetRunArgs(output_dir="runs/gpt2", resume=True),
        ... )  # doctest: +SKIP
    """
    run_args = run_args or DatasetRunArgs()
    started = time.perf_counter()
    check_cli_options({"batch_size": args.batch_size, "max_rows": run_args.max_rows})
    stream = open_stream(dataset_args)
    check_columns(stream.sample(), dataset_args, stream.columns())
    total = stream.count()
    folder = _run_folder(args, run_args)
    shard = shard_from_env()
    try:
        _check_world_size(shard, total, dataset_args)
        store = open_store(
            folder,
            run_signature(args, dataset_args),
            dataset_fingerprint(stream, total),
            total,
            run_args,
            shard,
            args.save_path,
        )
        assigned = shard.assigned(total)
        done, skipped, _ = store.owned()
        todo = assigned - len(done) - len(skipped)
        if run_args.max_rows is not None:
            todo = min(todo, max(run_args.max_rows, 0))
        attributed_now = 0
        if todo > 0:
            rows = _pending(stream, shard, store, run_args.max_rows)
            # a split model runs where its input embeddings are; otherwise one accelerator per local rank
            split = (args.model_kwargs or {}).get("device_map") is not None
            model = load_run_model(replace(args, device=None if split else shard.device_for(args.device)))
            attributed_now = _run_pending(model, rows, todo, total, args, dataset_args, store, show_progress)
        totals, merged = finish_store(
            store, total, merge if merge is not None else bool(args.save_path), args.save_path
        )
    finally:
        shard.close()
    done, skipped, lines = store.owned()
    path = stream.path
    return DatasetRunResult(
        total=assigned,
        done=len(done),
        attributed_now=attributed_now,
        remaining=assigned - len(done) - len(skipped),
        skipped=skipped,
        lines=lines,
        seconds=round(time.perf_counter() - started, 2),
        output_dir=str(folder) if folder else None,
        dataset_file=path.name if path else None,
        merged=merged,
        rank=shard.rank,
        world_size=shard.world_size,
        run=totals,
    )

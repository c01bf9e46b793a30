"""``inseq attribute-dataset``: attribute every row of a dataset, resumably.

The run itself is :func:`inseq.pipelines.attribute_dataset` (row files, manifest, ``--resume``, bad rows skipped
with their line numbers); this module parses the options, calls it, shows the merged result and prints a summary.

Example:
    .. code-block:: bash

        inseq attribute-dataset -m gpt2 -d data.jsonl -in prompt --output_dir runs/gpt2 \\
            --generation_kwargs '{"max_new_tokens": 5}' --hide
        inseq attribute-dataset -m gpt2 -d data.jsonl -in prompt --output_dir runs/gpt2 --resume --hide
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..pipelines.args import AttributeExtendedArgs, DatasetRunArgs, LoadDatasetArgs
from ..utils.lazy import lazy_exports
from .base import BaseCLICommand, CommandError, evaluate_saved, setup_logging

if TYPE_CHECKING:
    from ..pipelines import DatasetRunResult

#: The library's dataset-run names, re-exported here and loaded on first use (``inseq --help`` stays light).
_REEXPORTED = ("Manifest", "attribute_dataset", "load_rows")
_lazy_getattr, __dir__ = lazy_exports(__name__, {name: f"..pipelines:{name}" for name in _REEXPORTED})


def __getattr__(name: str) -> Any:
    return _lazy_getattr(name)


def print_summary(result: DatasetRunResult, save_path: str | None) -> None:
    """Print the outcome of a run, one line per skipped row.

    In a parallel run every process prints the line of its own rows, prefixed with its rank, and rank 0 adds the
    whole run's counts.
    """
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=False)
    plain = f"[{result.label}] " if result.label else ""
    prefix = escape(plain)
    status = "finished" if result.remaining == 0 else f"stopped with {result.remaining} rows left (--resume)"
    console.print(
        f"{prefix}[bold]Summary:[/bold] {result.done}/{result.total} rows attributed ({result.attributed_now} in "
        f"this run), {len(result.skipped)} skipped, {result.seconds:.1f}s, {status}.",
        soft_wrap=True,
    )
    run = result.run
    if result.label and result.rank == 0 and run is not None:
        state = "finished" if run.finished else "unfinished (--resume, or inseq merge-dataset)"
        console.print(
            f"{prefix}All {result.world_size} ranks: {run.done}/{run.total} rows attributed, {run.skipped} "
            f"skipped, {state}.",
            soft_wrap=True,
        )
    for index, reason in result.skipped.items():
        console.print(f"{plain}  skipped {result.skip_label(index)}: {reason}", markup=False, highlight=False)
    if result.output_dir and result.rank == 0:
        console.print(f"Row outputs and manifest in {result.output_dir}", markup=False)
    if save_path and result.merged is not None:
        console.print(f"Merged attributions saved to {save_path}", markup=False)


def run_attribute_dataset(
    args: AttributeExtendedArgs, dataset_args: LoadDatasetArgs, run_args: DatasetRunArgs
) -> DatasetRunResult:
    """Run the dataset attribution, then show, export and summarize it as the options ask."""
    from ..pipelines import attribute_dataset, load_run_model

    result = attribute_dataset(
        args, dataset_args, run_args, merge=bool(args.save_path or args.viz_path or not args.hide_attributions)
    )
    if result.merged is not None:
        if not args.hide_attributions:
            result.merged.show(display=True)
        if args.viz_path:
            Path(args.viz_path).parent.mkdir(parents=True, exist_ok=True)
            html = result.merged.show(display=False, return_html=True) or ""
            Path(args.viz_path).write_text(html, encoding="utf-8")
    print_summary(result, args.save_path)
    if args.evaluate and result.merged is not None:
        evaluate_saved(load_run_model(args), result.merged, args.evaluate, args.save_path)
    return result


class AttributeDatasetCommand(BaseCLICommand):
    """``inseq attribute-dataset``."""

    _name = "attribute-dataset"
    _help = "Perform feature attribution on a full dataset and save the results to a file."
    _dataclasses = (AttributeExtendedArgs, LoadDatasetArgs, DatasetRunArgs)

    @staticmethod
    def run(args: tuple[AttributeExtendedArgs, LoadDatasetArgs, DatasetRunArgs]) -> int:
        attr_args, dataset_args, run_args = args
        setup_logging(attr_args.verbose, attr_args.very_verbose)
        result = run_attribute_dataset(attr_args, dataset_args, run_args)
        if result.done == 0 and result.skipped:  # the summary above lists each row's reason
            raise CommandError(
                f"every row was skipped ({len(result.skipped)} of {result.total} rows): nothing was attributed."
            )
        return 0


__all__ = [
    "AttributeDatasetCommand",
    "DatasetRunArgs",
    "LoadDatasetArgs",
    "print_summary",
    "run_attribute_dataset",
]
__all__.extend(_REEXPORTED)

"""``inseq merge-dataset DIR``: merge the rows of a dataset run that was interrupted (or run in parallel).

A run launched with ``torchrun`` or ``accelerate launch`` records each rank's rows in ``DIR/shards/``; rank 0
merges them at the end. When the run was interrupted before, this command merges what is recorded into
``DIR/manifest.json`` and, for a finished run (or with ``--partial``), saves the merged rows to ``--save_path``
(default: the run's own ``--save_path``). The run can still be resumed afterwards.

Example:
    .. code-block:: bash

        inseq merge-dataset runs/gpt2 --save_path runs/gpt2.json
"""

from __future__ import annotations

import argparse
from typing import Any

from ..pipelines.args import MergeDatasetArgs
from .base import BaseCLICommand, setup_logging
from .cli_args import InseqArgumentParser


class MergeDatasetCommand(BaseCLICommand):
    """``inseq merge-dataset DIR``."""

    _name = "merge-dataset"
    _help = "Merge the row files and shard manifests of a (parallel or interrupted) attribute-dataset run."
    _dataclasses = (MergeDatasetArgs,)

    @classmethod
    def register_subcommand(cls, subparsers: argparse._SubParsersAction) -> InseqArgumentParser:
        parser = subparsers.add_parser(cls._name, help=cls._help, description=cls._help)
        parser.add_argument("output_dir", metavar="DIR", help="The run folder (--output_dir of the run).")
        parser.add_argument(
            "--save_path", "-o", default=None, help=MergeDatasetArgs.__dataclass_fields__["save_path"].metadata["help"]
        )
        parser.add_argument("--partial", action="store_true", help="Also save the merged rows of an unfinished run.")
        parser.set_defaults(_command=cls)
        return parser

    @staticmethod
    def run(args: tuple[MergeDatasetArgs]) -> int:
        from ..pipelines.merge import merge_dataset

        (merge_args,) = args
        setup_logging()
        result = merge_dataset(merge_args.output_dir, merge_args.save_path, merge_args.partial)
        print_merge(result)
        return 0


def print_merge(result: Any) -> None:
    """Print the outcome of :func:`inseq.pipelines.merge.merge_dataset` on a few lines."""
    state = (
        "finished"
        if result.finished
        else f"unfinished: {result.total - result.done - len(result.skipped)} rows left (--resume)"
    )
    print(
        f"Merged {result.shards} shard manifests in {result.folder}: {result.done}/{result.total} rows attributed, "
        f"{len(result.skipped)} skipped, {state}."
    )
    if result.save_path:
        print(f"Merged attributions saved to {result.save_path}")
    elif result.finished:
        print("No --save_path given (nor recorded by the run): the merged rows were not saved.")
    else:
        print("Not saved: the run is unfinished (pass --partial to save the rows done so far).")


__all__ = ["MergeDatasetCommand", "print_merge"]

"""Options of attribution runs (``inseq attribute``, ``inseq attribute-dataset`` and their library functions).

The command line builds its options from these dataclasses; the library functions of :mod:`inseq.pipelines` take
them as arguments.

Example:
    >>> args = AttributeExtendedArgs(model_name_or_path="gpt2", device="cpu")
    >>> args.attribution_method, args.batch_size
    ('saliency', 8)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.run_options import (
    AttributeBaseArgs,
    step_function_choices,
)
from ..utils.options import cli_arg


@dataclass
class AttributeExtendedArgs(AttributeBaseArgs):
    """Attribution, display and output options."""

    attribute_target: bool = cli_arg(default=False, help="Encoder-decoder models: also attribute the target prefix.")
    generate_from_target_prefix: bool = cli_arg(
        default=False, help="Encoder-decoder models: continue generation from the generated texts used as prefix."
    )
    step_scores: list[str] = cli_arg(
        default_factory=list, choices=step_function_choices, help="Step scores computed at every attributed step."
    )
    output_step_attributions: bool = cli_arg(default=False, help="Also keep the per-step attributions.")
    include_eos_baseline: bool = cli_arg(
        default=False, aliases=["--eos"], help="Use UNK in the baseline at end-of-sequence positions too."
    )
    batch_size: int = cli_arg(default=8, aliases=["-bs"], help="Number of texts attributed together.")
    aggregate_output: bool = cli_arg(default=False, help="Say that the saved output is aggregated (informational).")
    hide_attributions: bool = cli_arg(default=False, aliases=["--hide"], help="Do not show attributions in console.")
    save_path: str | None = cli_arg(default=None, aliases=["-o"], help="Path of the JSON file saving the output.")
    viz_path: str | None = cli_arg(default=None, help="Path of an HTML file with the attribution heatmaps.")
    evaluate: list[str] | None = cli_arg(
        default=None,
        help="(New vs inseq 0.7) faithfulness metrics computed next to the saved attributions ('all' for every "
        "metric; see inseq.list_faithfulness_metrics()); written to <save_path stem>.faithfulness.json.",
    )
    start_pos: int | None = cli_arg(default=None, aliases=["-s"], help="First target position to attribute.")
    end_pos: int | None = cli_arg(default=None, aliases=["-e"], help="End (exclusive) of attributed positions.")
    verbose: bool = cli_arg(default=False, aliases=["-v"], help="Log INFO messages.")
    very_verbose: bool = cli_arg(default=False, aliases=["-vv"], help="Log DEBUG messages.")


@dataclass
class LoadDatasetArgs:
    """Dataset options."""

    dataset_name: str = cli_arg(
        default=None,
        aliases=["-d", "--dataset"],
        required=True,
        help="Local file (csv, tsv, json, jsonl, parquet) or dataset identifier for datasets.load_dataset.",
    )
    input_text_field: str = cli_arg(
        default=None, aliases=["-in", "--input"], required=True, help="Column containing the input texts."
    )
    generated_text_field: str | None = cli_arg(
        default=None, aliases=["-gen", "--generated"], help="Column containing the forced generated texts."
    )
    dataset_config: str | None = cli_arg(default=None, aliases=["--config"], help="Dataset configuration name.")
    dataset_dir: str | None = cli_arg(default=None, aliases=["--dir"], help="Dataset data directory.")
    dataset_files: list[str] | None = cli_arg(default=None, aliases=["--files"], help="Dataset data files.")
    dataset_split: str | None = cli_arg(default="train", aliases=["--split"], help="Dataset split to attribute.")
    dataset_revision: str | None = cli_arg(default=None, aliases=["--revision"], help="Dataset revision.")
    dataset_auth_token: str | None = cli_arg(default=None, aliases=["--auth"], help="Hub token for the dataset.")
    dataset_kwargs: dict = cli_arg(default_factory=dict, help="JSON of extra keyword arguments for load_dataset.")


@dataclass
class DatasetRunArgs:
    """Run options (new compared to inseq 0.7)."""

    output_dir: str | None = cli_arg(
        default=None,
        help="(New vs inseq 0.7) folder receiving one JSON per attributed row and a manifest used to resume.",
    )
    resume: bool = cli_arg(default=False, help="Continue the run recorded in --output_dir, skipping the rows done.")
    overwrite: bool = cli_arg(default=False, help="Discard a previous run found in --output_dir and start again.")
    max_rows: int | None = cli_arg(
        default=None, help="Attribute at most this many new rows in this invocation (the run stays resumable)."
    )


@dataclass
class MergeDatasetArgs:
    """Options of ``inseq merge-dataset DIR`` (the run folder ``DIR`` is a positional argument).

    Example:
        >>> MergeDatasetArgs(output_dir="runs/gpt2", save_path="runs/gpt2.json").partial
        False
    """

    output_dir: str = cli_arg(default=None, help="The run folder (--output_dir of the interrupted run).")
    save_path: str | None = cli_arg(
        default=None, aliases=["-o"], help="JSON file receiving the merged rows (default: the run's --save_path)."
    )
    partial: bool = cli_arg(default=False, help="Also save the merged rows of an unfinished run.")


__all__ = ["AttributeBaseArgs", "AttributeExtendedArgs", "DatasetRunArgs", "LoadDatasetArgs", "MergeDatasetArgs"]

"""Attribution runs as library functions: a whole dataset, resumably (:func:`attribute_dataset`), and the helpers
the ``inseq attribute`` command line shares with it.

Example:
    >>> from inseq.pipelines import AttributeExtendedArgs, LoadDatasetArgs, DatasetRunArgs, attribute_dataset
    >>> result = attribute_dataset(
    ...     AttributeExtendedArgs(model_name_or_path="gpt2", generation_kwargs={"max_new_tokens": 5}),
    ...     LoadDatasetArgs(dataset_name="data.csv", input_text_field="text"),
    ...     DatasetRunArgs(output_dir="runs/gpt2", resume=True),
    ... )  # doctest: +SKIP
"""

from .args import AttributeBaseArgs, AttributeExtendedArgs, DatasetRunArgs, LoadDatasetArgs
from .attribute_dataset import DatasetRunResult, attribute_dataset, split_output
from .attribution import (
    PipelineError,
    aggregate_outputs,
    aggregate_with_args,
    attribute_texts,
    generation_kwargs_for,
    load_run_model,
)
from .manifest import Manifest, run_signature, write_json_atomic
from .rows import DatasetRow, check_row, load_rows, max_model_positions

__all__ = [
    "AttributeBaseArgs",
    "AttributeExtendedArgs",
    "DatasetRow",
    "DatasetRunArgs",
    "DatasetRunResult",
    "LoadDatasetArgs",
    "Manifest",
    "PipelineError",
    "aggregate_outputs",
    "aggregate_with_args",
    "attribute_dataset",
    "attribute_texts",
    "check_row",
    "generation_kwargs_for",
    "load_rows",
    "load_run_model",
    "max_model_positions",
    "run_signature",
    "split_output",
    "write_json_atomic",
]

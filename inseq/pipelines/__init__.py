"""Attribution runs as library functions: a whole dataset, resumably (:func:`attribute_dataset`), read as a stream
(:func:`open_stream`) and data-parallel under ``torchrun`` / ``accelerate launch`` (:class:`Shard`,
:func:`merge_dataset`), and the helpers the ``inseq attribute`` command line shares with it.

Example:
    >>> from inseq.pipelines import AttributeExtendedArgs, LoadDatasetArgs, DatasetRunArgs, attribute_dataset
    >>> result = attribute_dataset(
    ...     AttributeExtendedArgs(model_name_or_path="gpt2", generation_kwargs={"max_new_tokens": 5}),
    ...     LoadDatasetArgs(dataset_name="data.csv", input_text_field="text"),
    ...     DatasetRunArgs(output_dir="runs/gpt2", resume=True),
    ... )  # doctest: +SKIP
"""

from __future__ import annotations

from ..utils.lazy import lazy_exports

# loaded on first use: the option dataclasses (``inseq.pipelines.args``) import without torch
_EXPORTS = {
    "AttributeBaseArgs": ".args:AttributeBaseArgs",
    "AttributeExtendedArgs": ".args:AttributeExtendedArgs",
    "DatasetRunArgs": ".args:DatasetRunArgs",
    "LoadDatasetArgs": ".args:LoadDatasetArgs",
    "MergeDatasetArgs": ".args:MergeDatasetArgs",
    "DatasetRunResult": ".attribute_dataset:DatasetRunResult",
    "attribute_dataset": ".attribute_dataset:attribute_dataset",
    "split_output": ".attribute_dataset:split_output",
    "PipelineError": ".attribution:PipelineError",
    "aggregate_outputs": ".attribution:aggregate_outputs",
    "aggregate_with_args": ".attribution:aggregate_with_args",
    "attribute_texts": ".attribution:attribute_texts",
    "generation_kwargs_for": ".attribution:generation_kwargs_for",
    "load_run_model": ".attribution:load_run_model",
    "Manifest": ".manifest:Manifest",
    "run_signature": ".manifest:run_signature",
    "write_json_atomic": ".manifest:write_json_atomic",
    "MergeResult": ".merge:MergeResult",
    "merge_dataset": ".merge:merge_dataset",
    "Shard": ".sharding:Shard",
    "shard_from_env": ".sharding:shard_from_env",
    "RowStream": ".streams:RowStream",
    "open_stream": ".streams:open_stream",
    "DatasetRow": ".rows:DatasetRow",
    "check_row": ".rows:check_row",
    "load_rows": ".rows:load_rows",
    "max_model_positions": ".rows:max_model_positions",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "AttributeBaseArgs",
    "AttributeExtendedArgs",
    "DatasetRow",
    "DatasetRunArgs",
    "DatasetRunResult",
    "LoadDatasetArgs",
    "Manifest",
    "MergeDatasetArgs",
    "MergeResult",
    "PipelineError",
    "RowStream",
    "Shard",
    "aggregate_outputs",
    "aggregate_with_args",
    "attribute_dataset",
    "attribute_texts",
    "check_row",
    "generation_kwargs_for",
    "load_rows",
    "load_run_model",
    "max_model_positions",
    "merge_dataset",
    "open_stream",
    "run_signature",
    "shard_from_env",
    "split_output",
    "write_json_atomic",
]

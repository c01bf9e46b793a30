"""Checks of the CLI runs (kept at this path for imports): they live in the library, next to what they check."""

from ..pipelines.validation import (
    BAD_ROW_KEY,
    as_records,
    bad_row_reason,
    clean_run_temps,
    parse_jsonl,
    read_manifest,
)
from ..utils.options import check_cli_options

__all__ = [
    "BAD_ROW_KEY",
    "as_records",
    "bad_row_reason",
    "check_cli_options",
    "clean_run_temps",
    "parse_jsonl",
    "read_manifest",
]

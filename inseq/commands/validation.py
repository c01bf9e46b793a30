"""Checks of the CLI runs (kept at this path for imports): they live in the library, next to what they check."""

from ..pipelines.validation import clean_run_temps, read_manifest
from ..utils.options import check_cli_options

__all__ = ["check_cli_options", "clean_run_temps", "read_manifest"]

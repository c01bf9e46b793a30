"""``import inseq`` and ``inseq --help`` load no heavy library: each loads when a feature needs it.

The checks read ``python -X importtime`` (which modules a fresh interpreter imported), not the wall time; the time
itself is measured side by side in ``benchmarks/bench_import.py``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "captum", "matplotlib", "pandas", "sklearn", "rich", "numpy", "scipy")


def _imported(*args: str) -> set[str]:
    """Top-level names of the modules a fresh ``python -X importtime <args>`` imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=300, check=True
    )
    lines = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    return {name.split(".")[0] for name in lines}


def test_import_inseq_loads_no_heavy_library() -> None:
    assert not set(HEAVY) & _imported("-c", "import inseq")


def test_inseq_help_loads_no_heavy_library() -> None:
    imported = _imported("-m", "inseq.commands.cli", "--help")
    assert "inseq" in imported
    assert not set(HEAVY) & imported


@pytest.mark.parametrize(
    "module", ["inseq.pipelines.args", "inseq.context.args", "inseq.commands.cli_args", "inseq.utils.options"]
)
def test_option_dataclasses_import_without_torch(module: str) -> None:
    assert not {"torch", "transformers"} & _imported("-c", f"import {module}")


def test_the_face_lists_every_public_name_and_resolves_it_on_use() -> None:
    code = (
        "import sys, inseq\n"
        "missing = [n for n in inseq.__all__ if n not in dir(inseq)]\n"
        "assert not missing, missing\n"
        "assert 'torch' not in sys.modules\n"
        "values = [getattr(inseq, n) for n in inseq.__all__]\n"
        "assert all(v is not None for v in values)\n"
        "from inseq.utils.features import MODEL_FEATURES\n"
        "print('torch' in sys.modules, 'evaluate' in MODEL_FEATURES, callable(inseq.evaluate))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.split() == ["True", "True", "True"]  # the first load_model pays for torch


def test_heavy_libraries_load_on_use() -> None:
    code = (
        "import sys, inseq; from inseq.viz import show_attributions; "
        "m = inseq.attr.feat.METHODS.get('deeplift'); print('rich' in sys.modules, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.split() == ["True", "True"]

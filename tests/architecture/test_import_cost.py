"""``import inseq`` loads no optional heavy library: each loads when a feature needs it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("captum", "matplotlib", "pandas", "sklearn", "rich")


def test_import_inseq_loads_no_heavy_library():
    code = f"import sys, inseq; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_heavy_libraries_load_on_use():
    code = (
        "import sys, inseq; from inseq.viz import show_attributions; "
        "m = inseq.attr.feat.METHODS.get('deeplift'); print('rich' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip() == "True"

"""The long-input benchmark's table reaches its docs page: markers, rendering, ``--write-docs``, and a tiny run.

The benchmark itself (``benchmarks/bench_long.py``) is far too long for the suite; here it runs on the tiny GPT-2 at
an 8-token prompt, which checks the subprocess measurement, the JSON and the rendered table end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inseq.testing import get_tiny_model_path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_long  # noqa: E402

PAGE = ROOT / "docs" / "long_inputs.md"


def _results() -> dict:
    meta = {"date": "d", "command": "c", "machine": "m", "threads": 1, "n_steps": 4, "gen": 4, "timeout_s": 60}
    ok = {"status": "ok", "time_s": 2.0, "peak_rss_mb": 700.0}
    rows = [
        {"method": "saliency", "length": 1024, "here": ok, "0.7.1": {**ok, "time_s": 8.0, "peak_rss_mb": 1400.0}},
        {"method": "attnlrp", "length": 1024, "here": {**ok, "time_s": 3.0, "peak_rss_mb": 1050.0}, "0.7.1": None},
        {
            "method": "occlusion",
            "length": 8192,
            "here": {"status": "skipped", "reason": "quadratic, > 1024 tokens"},
            "0.7.1": {"status": "failed", "error": "a | b"},
        },
    ]
    return {"meta": meta, "idle": {"here": {**ok, "peak_rss_mb": 500.0}, "0.7.1": ok}, "rows": rows}


def test_the_docs_page_has_the_markers_in_order() -> None:
    text = PAGE.read_text(encoding="utf-8")
    start, end = (text.find(marker) for marker in bench_long.MARKERS)
    assert 0 <= start < end


def test_the_table_has_ratios_to_saliency_own_memory_and_the_reasons() -> None:
    lines = bench_long.render_markdown(_results()).splitlines()
    assert lines[2] == "| " + " | ".join(bench_long.COLUMNS) + " |"
    assert lines[4] == "| saliency | 1024+4 | 2.0 s, 700 MB | 200 |  | 8.0 s, 1.37 GB | 700 |  |"
    assert lines[5] == "| attnlrp | 1024+4 | 3.0 s, 1.03 GB | 550 | 1.50x, 1.50x | - |  |  |"
    assert lines[6] == ("| occlusion | 8192+4 | skipped (quadratic, > 1024 tokens) |  |  | failed (a \\| b) |  |  |")


def test_write_docs_replaces_only_the_block_and_is_idempotent(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# T\n\nbefore\n\n{bench_long.MARKERS[0]}\nold\n{bench_long.MARKERS[1]}\n\nafter\n")
    block = bench_long.render_markdown(_results())
    bench_long.write_docs(page, block)
    once = page.read_text()
    bench_long.write_docs(page, block)
    assert page.read_text() == once
    assert once == f"# T\n\nbefore\n\n{bench_long.MARKERS[0]}\n{block}\n{bench_long.MARKERS[1]}\n\nafter\n"


def test_write_docs_writes_a_named_section_only(tmp_path: Path) -> None:
    main, other = bench_long.MARKERS, bench_long.markers("other")
    page = tmp_path / "page.md"
    page.write_text(f"{main[0]}\nmain\n{main[1]}\n{other[0]}\nold\n{other[1]}\n")
    bench_long.write_docs(page, "new", "other")
    assert page.read_text() == f"{main[0]}\nmain\n{main[1]}\n{other[0]}\nnew\n{other[1]}\n"


def test_write_docs_refuses_a_page_without_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="bench_long:start"):
        bench_long.write_docs(page, "table")
    assert page.read_text() == "no markers here\n"


def test_a_tiny_run_measures_each_method_in_its_own_process(tmp_path: Path) -> None:
    out, page = tmp_path / "long.json", tmp_path / "page.md"
    page.write_text(f"{bench_long.MARKERS[0]}\n{bench_long.MARKERS[1]}\n")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_long.py"), "--model", str(get_tiny_model_path("gpt2"))]
    cmd += ["--lengths", "8", "--methods", "saliency,occlusion", "--quadratic-max-length", "4", "--timeout", "120"]
    cmd += ["--json", str(out), "--write-docs", str(page)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    saliency, occlusion = results["rows"]
    assert saliency["method"] == "saliency" and saliency["here"]["status"] == "ok", saliency
    assert saliency["here"]["time_s"] > 0 and saliency["here"]["threads"] == 1
    assert str(ROOT / "inseq") in saliency["here"]["inseq"]  # this checkout's inseq ran
    assert saliency["here"]["peak_rss_mb"] > 100 and results["idle"]["here"]["peak_rss_mb"] > 100
    assert occlusion["here"] == {"status": "skipped", "reason": "quadratic, > 4 tokens"}
    assert "| saliency | 8+4 | " in page.read_text()


def test_a_child_over_its_timeout_is_killed_and_keeps_its_peak() -> None:
    code = "import time; b = bytearray(150 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(60)"
    status, peak, wall, _, _ = bench_long._run_child([sys.executable, "-c", code], dict(os.environ), timeout=3)
    assert status is None and wall < 30
    assert peak > 150


def test_a_child_s_status_outputs_and_own_peak_come_back() -> None:
    code = "import sys, time; time.sleep(1); print('out'); print('err', file=sys.stderr); sys.exit(3)"
    status, peak, _, out, err = bench_long._run_child([sys.executable, "-c", code], dict(os.environ), timeout=60)
    assert (status, out, err) == (3, "out\n", "err\n")
    assert 0 < peak < 100  # the bare interpreter's, not this test process's (torch imported: a few hundred MB)


def test_inseq_071_is_not_run_above_its_length_limit() -> None:
    args = argparse.Namespace(quadratic_max_length=1024, inseq_max_length=4096)
    assert bench_long._skip_reason("saliency", 8000, args, {}, here=True) is None
    assert "4096 tokens for inseq 0.7.1" in bench_long._skip_reason("saliency", 8000, args, {}, here=False)
    assert bench_long._skip_reason("saliency", 4000, args, {}, here=False) is None

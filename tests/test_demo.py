"""The README's main job (``make demo`` = ``python -m inseq.demo``) runs and writes its HTML report."""

import subprocess
import sys
from html.parser import HTMLParser

from inseq.demo import main


def test_demo_writes_html_report(tmp_path, capsys):
    target = tmp_path / "report.html"
    assert main(["--output", str(target), "--method", "saliency"]) == 0
    printed = capsys.readouterr().out
    assert "Target Saliency Heatmap" in printed and str(target.resolve()) in printed
    html = target.read_text()
    HTMLParser().feed(html)
    assert "Mary" in html or "John" in html


def test_demo_module_runs_as_script(tmp_path):
    target = tmp_path / "demo.html"
    proc = subprocess.run(
        [sys.executable, "-m", "inseq.demo", "--output", str(target), "--quiet", "--method", "input_x_gradient"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert target.exists() and "HTML report written to" in proc.stdout

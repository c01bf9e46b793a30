"""Every ``python`` and ``bash`` block of the documentation (docs/*.md and README.md) runs, offline.

Each page runs in a fresh interpreter from an empty temporary folder, its blocks in page order sharing one
namespace, so a page is an example a reader can run as it is. A block that cannot run offline starts with
``# docs: skip (reason)``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from markdown_blocks import PAGES, ROOT, Block, find_blocks, run_bash, run_python, runnable

PAGE_TIMEOUT_S = 600
RUN_PAGES = [p for p in PAGES if runnable(find_blocks(p), "python") or runnable(find_blocks(p), "bash")]


def page_env(bin_dir: Path) -> dict[str, str]:
    """The environment of a page: offline, one thread, this checkout's inseq, ``inseq`` and ``python`` on PATH."""
    bin_dir.mkdir(exist_ok=True)
    shims = {
        "python": f"exec '{sys.executable}' \"$@\"",  # a script, not a symlink: a venv is found from its path
        "inseq": f"exec '{sys.executable}' -c 'import sys; from inseq.commands.cli import main; sys.exit(main())' \"$@\"",
    }
    for name, line in shims.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{line}\n")
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PATH=os.pathsep.join([str(bin_dir), env.get("PATH", "")]),
        COLUMNS="120",
    )
    return env


def test_the_parser_finds_fences_languages_lines_and_markers(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n```python\nx = 1\n```\n\n- item\n\n  ```bash\n  echo hi\n  ```\n\n"
        "```text\n>>> out\n```\n\n```{toctree}\nusage\n```\n\n````python\n# docs: skip (needs the model hub)\n"
        "```\ny = 2\n````\n"
    )
    blocks = find_blocks(page)
    assert [(b.line, b.language, b.code) for b in blocks] == [
        (4, "python", "x = 1"),
        (10, "bash", "echo hi"),
        (14, "text", ">>> out"),
        (22, "python", "# docs: skip (needs the model hub)\n```\ny = 2"),
    ]
    assert [b.skip_reason for b in blocks] == [None, None, None, "needs the model hub"]
    assert runnable(blocks, "python") == [blocks[0]]


def test_every_skipped_block_says_why() -> None:
    unexplained = [b.label for p in PAGES for b in find_blocks(p) if b.skip_reason == ""]
    assert unexplained == [], f"skip markers without a reason in brackets: {unexplained}"


def test_the_docs_have_runnable_examples() -> None:
    # the guide pages must keep executed examples (a parser regression would otherwise pass silently)
    names = {p.name for p in RUN_PAGES}
    assert {"getting_started.md", "usage.md", "views.md", "concepts.md", "step_functions.md"} <= names


def _check(proc, blocks: list[Block]) -> None:
    assert proc.returncode == 0, (
        f"a block of {blocks[0].page.relative_to(ROOT)} failed (exit {proc.returncode}); blocks: "
        f"{[b.line for b in blocks]}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-8000:]}"
    )


@pytest.mark.parametrize("page", RUN_PAGES, ids=[str(p.relative_to(ROOT)) for p in RUN_PAGES])
def test_page_code_blocks_run(page: Path, tmp_path: Path) -> None:
    blocks = find_blocks(page)
    env = page_env(tmp_path / "bin")
    work = tmp_path / "work"
    work.mkdir()
    python_blocks, bash_blocks = runnable(blocks, "python"), runnable(blocks, "bash")
    if python_blocks:
        _check(run_python(python_blocks, work, env, PAGE_TIMEOUT_S), python_blocks)
    if bash_blocks:
        _check(run_bash(bash_blocks, work, env, PAGE_TIMEOUT_S), bash_blocks)

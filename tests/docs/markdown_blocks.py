"""Code blocks of the Markdown documentation: find them, and run a page's blocks in order in a fresh interpreter.

A block runs unless its first line is a skip marker with the reason in brackets, e.g.
``# docs: skip (needs the model hub)``. The ``python`` blocks of one page share one namespace, in page order; its
``bash`` blocks run in order in one shell script (``set -euo pipefail``). Tracebacks point at the Markdown file's
own line numbers.

Example:
    >>> blocks = find_blocks(Path("docs/usage.md"))  # doctest: +SKIP
    >>> blocks[0].language, blocks[0].line  # doctest: +SKIP
    ('python', 6)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The pages whose blocks are executed: every Markdown page of the site, and the README.
PAGES: tuple[Path, ...] = (*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md")
#: Languages of the blocks that run; other fences (``text``, ``json``...) are shown, never run.
EXECUTED = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
SKIP = re.compile(r"^#\s*docs:\s*skip\b\s*(?P<reason>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page.

    Attributes:
        page: The Markdown file.
        line: Line number (1-based) of the block's first line of code.
        language: ``"python"`` or ``"bash"`` (normalised), or the fence's own info string for the others.
        code: The block's text.
    """

    page: Path
    line: int
    language: str
    code: str

    @property
    def skip_reason(self) -> str | None:
        """The reason of the block's skip marker (``""`` for a marker without one), None when it runs."""
        first = self.code.lstrip("\n").split("\n", 1)[0].strip()
        match = SKIP.match(first)
        return None if match is None else match.group("reason").strip(" ()")

    @property
    def label(self) -> str:
        """``page.md:line`` of the block, relative to the repository."""
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def find_blocks(page: Path) -> list[Block]:
    """Every fenced code block of ``page``, in order (MyST directives such as ``{toctree}`` excluded)."""
    blocks, lines = [], page.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info, start = match.group("fence"), match.group("info").lower(), i + 1
        i = start
        while i < len(lines) and not lines[i].strip().startswith(fence):
            i += 1
        if not info.startswith("{"):
            code = "\n".join(line[len(match.group("indent")) :] for line in lines[start:i])
            blocks.append(Block(page, start + 1, EXECUTED.get(info, info), code))
        i += 1
    return blocks


def runnable(blocks: list[Block], language: str) -> list[Block]:
    """The blocks of ``language`` that run (no skip marker)."""
    return [b for b in blocks if b.language == language and b.skip_reason is None]


_PYTHON_RUNNER = """
import json, sys
namespace = {"__name__": "__main__"}
for block in json.load(sys.stdin):
    code = compile("\\n" * (block["line"] - 1) + block["code"], block["page"], "exec")
    exec(code, namespace)
"""


def run_python(blocks: list[Block], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``blocks`` in order in one fresh interpreter (one namespace), from ``cwd``."""
    payload = json.dumps([{"page": str(b.page), "line": b.line, "code": b.code} for b in blocks])
    cmd = [sys.executable, "-c", _PYTHON_RUNNER]
    return subprocess.run(cmd, input=payload, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def run_bash(blocks: list[Block], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``blocks`` in order as one bash script, from ``cwd``; each block announces its place on stderr."""
    parts = ["set -euo pipefail"]
    for block in blocks:
        parts += [f"echo '--- running {block.label}' >&2", block.code]
    script = "\n".join(parts)
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)

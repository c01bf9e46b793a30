"""No function of the package is longer than a screen: at most 60 lines of code (docstrings, comments and blank
lines not counted). The offline kits (``inseq.testing``, ``inseq.examples``) are exempt."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "inseq"
MAX_LINES = 60
EXEMPT = {"testing", "examples"}


def _docstring_lines(node: ast.AST) -> set[int]:
    lines: set[int] = set()
    for n in ast.walk(node):
        body = getattr(n, "body", None)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source_lines: list[str], node: ast.AST) -> int:
    """Non-blank, non-comment, non-docstring lines spanned by ``node``."""
    skip = _docstring_lines(node)
    count = 0
    for line in range(node.lineno, node.end_lineno + 1):
        text = source_lines[line - 1].strip()
        if line not in skip and text and not text.startswith("#"):
            count += 1
    return count


def long_functions(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if EXEMPT & set(path.relative_to(root).parts):
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = code_lines(lines, node)
                if n > MAX_LINES:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({n} lines)")
    return found


def test_no_function_longer_than_a_screen():
    found = long_functions()
    assert not found, f"functions over {MAX_LINES} lines of code:\n" + "\n".join(found)


def test_the_check_counts_code_not_docstrings(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES + 1))
    (tmp_path / "m.py").write_text(
        f'def long():\n    """Doc."""\n{body}\n\n\ndef short():\n    """{"x" * 3}\n\n    More.\n    """\n    return 1\n'
    )
    found = long_functions(tmp_path)
    assert len(found) == 1 and "long" in found[0]

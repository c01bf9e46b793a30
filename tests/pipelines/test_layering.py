"""The feature packages import only lower layers, and the command line re-exports them instead of re-implementing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import inseq

PACKAGE = Path(inseq.__file__).parent
ALLOWED = {"models", "attr", "data", "utils"}


def _inseq_imports(path: Path, package: str) -> set[str]:
    """First-level inseq sub-packages imported by a module of ``inseq.<package>`` ("" for the top-level face)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] == "inseq":
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "")
            elif node.level == 2:  # from ..x import y
                found.add(node.module.split(".")[0] if node.module else "")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "inseq":
                    parts = alias.name.split(".")
                    found.add(parts[1] if len(parts) > 1 else "")
    return found - {package}


@pytest.mark.parametrize("package", ["context", "pipelines"])
def test_feature_packages_import_only_lower_layers(package: str) -> None:
    for path in (PACKAGE / package).glob("*.py"):
        imported = _inseq_imports(path, package)
        assert imported <= ALLOWED, f"{path.name} imports {sorted(imported - ALLOWED)}"


def test_commands_reexport_the_library() -> None:
    from inseq.commands import attribute_context as cli_context
    from inseq.commands import attribute_dataset as cli_dataset
    from inseq.context import AttributeContextArgs, attribute_context
    from inseq.pipelines import attribute_dataset

    assert cli_context.attribute_context is attribute_context
    assert cli_context.AttributeContextArgs is AttributeContextArgs
    assert cli_dataset.attribute_dataset is attribute_dataset

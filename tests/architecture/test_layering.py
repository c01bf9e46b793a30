"""The package layering, checked statically: imports flow one way, from the leaf up, and packages form no cycle.

Ranks (a package may import only packages of a strictly lower rank, at module level or lazily inside a function):

    utils (leaf) < viz < data < attr < models < offline kits (testing, examples) < features (context, evaluate,
    pipelines) < features built on features (sources) < face (inseq/__init__.py, explain) < entry points (commands,
    demo)

``viz`` draws data only: it may name ``inseq.data`` types under ``TYPE_CHECKING`` (the single allowed exception);
the one real edge between them is ``data`` -> ``viz``, lazily inside ``show()``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "inseq"

RANKS = {
    "utils": 0,
    "viz": 1,
    "data": 2,
    "attr": 3,
    "models": 4,
    "context": 5,
    "evaluate": 5,
    "pipelines": 5,
    "testing": 4.5,
    "examples": 4.5,
    "sources": 5.5,  # source attribution: its faithfulness metrics live in inseq.evaluate
    "__init__": 6,
    "commands": 7,
    "demo": 7,
    "__main__": 7,
}
#: Modules that make up the face together with ``inseq/__init__.py``.
FACE = {"explain"}
#: (importer, imported) pairs allowed under ``if TYPE_CHECKING:`` only.
TYPE_CHECKING_EXCEPTIONS = {("viz", "data")}


def _package_of(module: str) -> str | None:
    """Top-level part of ``inseq.x.y`` -> ``x``; ``inseq`` itself -> ``__init__``."""
    parts = module.split(".")
    if parts[0] != "inseq":
        return None
    if len(parts) == 1 or parts[1] not in RANKS or parts[1] in FACE:  # ``from inseq import load_model``
        return "__init__"
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, current: str, is_package: bool) -> list[str]:
    if node.level == 0:
        base = node.module or ""
        return [f"{base}.{a.name}" if base == "inseq" else base for a in node.names]
    parts = current.split(".")
    keep = len(parts) - node.level + (1 if is_package else 0)
    base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    if node.module is None or base == "inseq":  # ``from . import x`` / ``from .. import x``
        return [f"{base}.{a.name}" for a in node.names]
    return [base]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(imported module, line, under TYPE_CHECKING)`` for every import in the file, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    current, is_package = _module_name(path), path.name == "__init__.py"
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                guarded.update(id(n) for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in guarded) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [(m, node.lineno, id(node) in guarded) for m in _resolve(node, current, is_package)]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value if not arg.value.startswith(".") else current + arg.value
                found.append((name, node.lineno, False))
    return found


def _edges() -> list[tuple[str, str, str, bool]]:
    """``(importer package, imported package, where, type-checking only)`` for every cross-package import."""
    edges = []
    for path in sorted(ROOT.rglob("*.py")):
        importer = _package_of(_module_name(path)) if path != ROOT / "__init__.py" else "__init__"
        for module, line, guarded in _imports(path):
            imported = _package_of(module)
            if imported is None or imported == importer:
                continue
            edges.append((importer, imported, f"{path.relative_to(ROOT.parent)}:{line} imports {module}", guarded))
    return edges


def test_every_package_has_a_rank():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py")} - FACE
    assert packages | modules <= set(RANKS), f"unranked: {sorted((packages | modules) - set(RANKS))}"


def test_imports_flow_one_way():
    bad = []
    for importer, imported, where, guarded in _edges():
        if RANKS[imported] < RANKS[importer]:
            continue
        if guarded and (importer, imported) in TYPE_CHECKING_EXCEPTIONS:
            continue
        bad.append(where)
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for importer, imported, _, guarded in _edges():
        if not guarded:
            graph.setdefault(importer, set()).add(imported)

    def visit(node: str, stack: list[str]) -> list[str] | None:
        for nxt in graph.get(node, ()):
            if nxt in stack:
                return [*stack[stack.index(nxt) :], nxt]
            found = visit(nxt, [*stack, nxt])
            if found:
                return found
        return None

    for start in graph:
        cycle = visit(start, [start])
        assert cycle is None, f"package cycle: {' -> '.join(cycle)}"


@pytest.mark.parametrize(
    ("source", "importer"),
    [
        ("from ...models.attribution_model import AttributionModel\n", "attr/feat/x.py"),
        ("def f():\n    from ..models import load_model\n", "attr/x.py"),
        ("from .commands import cli\n", "x.py"),
        ("import importlib\nimportlib.import_module('inseq.commands.cli')\n", "x.py"),
        ("from ..data.attribution import FeatureAttributionOutput\n", "viz/x.py"),
    ],
)
def test_the_check_catches_back_edges(tmp_path, monkeypatch, source, importer):
    """The checker itself flags a back edge, a lazy back edge, the face reaching commands, and viz -> data."""
    fake_root = tmp_path / "inseq"
    target = fake_root / importer
    target.parent.mkdir(parents=True, exist_ok=True)
    for parent in [target.parent, *target.parent.parents]:
        if parent == fake_root.parent:
            break
        (parent / "__init__.py").touch()
    target.write_text(source, encoding="utf-8")
    if importer == "x.py":
        target.rename(fake_root / "__init__.py")
    monkeypatch.setattr(f"{__name__}.ROOT", fake_root)
    with pytest.raises(AssertionError, match="against the layering"):
        test_imports_flow_one_way()

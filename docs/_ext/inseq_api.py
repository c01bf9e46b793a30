"""Sphinx extension writing the API reference pages from the public names of inseq's documented modules.

At ``config-inited`` (before Sphinx looks for source files) it writes ``docs/api/index.rst`` and one page per module
of :data:`DOCUMENTED_MODULES`: the module's docstring, a summary table of its public names (``__all__``, or the
functions and classes defined in the module when it has none) and the autodoc description of each one, from its
docstring. One page per module, not per object, keeps the site's navigation small (furo renders the whole tree on
every page). An object exported by several documented modules is documented once, under the first module
that exports it (the face, ``inseq``, comes first); the other modules link to that entry.

Example:
    >>> from inseq_api import api_plan  # doctest: +SKIP
    >>> api_plan()["inseq"][0].target  # doctest: +SKIP
    'inseq.AttributionModel'
"""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Modules of the API reference, in the order of its table of contents (the face first).
DOCUMENTED_MODULES: tuple[str, ...] = (
    "inseq",
    "inseq.models",
    "inseq.attr",
    "inseq.attr.feat",
    "inseq.attr.step_functions",
    "inseq.data",
    "inseq.viz",
    "inseq.sources",
    "inseq.evaluate",
    "inseq.context",
    "inseq.pipelines",
    "inseq.examples",
    "inseq.examples.tasks",
    "inseq.testing",
    "inseq.utils",
    "inseq.utils.budgets",
    "inseq.commands",
)

#: Section titles of a module page, by kind of object, in page order.
SECTIONS: dict[str, str] = {"class": "Classes", "exception": "Exceptions", "function": "Functions", "data": "Data"}


@dataclass(frozen=True)
class ApiEntry:
    """One public name of a documented module and the API entry that documents it.

    Attributes:
        module: The module exporting the name.
        name: The public name.
        kind: ``"class"``, ``"exception"``, ``"function"`` or ``"data"``.
        target: Full name of the entry documenting it: ``module.name``, or the first module's entry for a re-export.
    """

    module: str
    name: str
    kind: str
    target: str

    @property
    def documented_here(self) -> bool:
        """True when this module's page holds the entry (False for a link to another module's entry)."""
        return self.target == f"{self.module}.{self.name}"


def public_names(module: Any) -> list[str]:
    """The public names of ``module``: its ``__all__``, else the functions and classes it defines.

    Example:
        >>> import inseq.utils.budgets
        >>> "memory_budgets" in public_names(inseq.utils.budgets)
        True
    """
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == module.__name__
    ]


def kind_of(obj: Any) -> str:
    """The section an object goes to: ``"exception"``, ``"class"``, ``"function"`` or ``"data"``."""
    if inspect.isclass(obj) and obj.__module__ == "builtins" and not issubclass(obj, BaseException):
        return "data"  # a type alias of a built-in (``ModelIdentifier = str``)
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.ismethod(obj):
        return "function"
    return "data"


def api_plan(modules: tuple[str, ...] = DOCUMENTED_MODULES) -> dict[str, list[ApiEntry]]:
    """Every public name of ``modules`` with the entry that documents it, module by module.

    Raises:
        AttributeError: when a name of a module's ``__all__`` cannot be resolved on the module.
    """
    first_home: dict[int, str] = {}
    plan: dict[str, list[ApiEntry]] = {}
    for module_name in modules:
        module = importlib.import_module(module_name)
        entries = []
        for name in public_names(module):
            obj = getattr(module, name)
            kind = kind_of(obj)
            target = f"{module_name}.{name}"
            if kind != "data" or inspect.ismodule(obj):
                home = first_home.setdefault(id(obj), target)
                same_module = home.rsplit(".", 1)[0] == module_name
                target = target if same_module else home
            entries.append(ApiEntry(module_name, name, kind, target))
        plan[module_name] = entries
    return plan


#: The autodoc directive of each kind of object, and its options.
DIRECTIVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "class": ("autoclass", (":members:", ":show-inheritance:")),
    "exception": ("autoexception", (":show-inheritance:",)),
    "function": ("autofunction", ()),
    "data": ("autodata", ()),
}


def module_page(module_name: str, entries: list[ApiEntry], shadowed: bool = False) -> str:
    """The reStructuredText of one module's API page: its docstring, a summary table, then every object.

    ``shadowed``: another entry has the module's full name (``inseq.evaluate``, the function, shadows the package of
    the same name on ``inseq``), so the module's own description is not indexed.
    """
    lines = [module_name, "=" * len(module_name), "", f".. automodule:: {module_name}"]
    lines += ["   :no-index:", ""] if shadowed else [""]
    here = sorted((e for e in entries if e.documented_here), key=lambda e: (list(SECTIONS).index(e.kind), e.name))
    if here:
        lines += [".. rubric:: Summary", "", ".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {e.name}" for e in here] + [""]
    for kind, title in SECTIONS.items():
        names = sorted((e.name for e in here if e.kind == kind), key=str.lower)
        if not names:
            continue
        lines += [title, "-" * len(title), ""]
        directive, options = DIRECTIVES[kind]
        for name in names:
            lines += [f".. {directive}:: {name}", *(f"   {option}" for option in options), ""]
    links = [e for e in entries if not e.documented_here]
    if links:
        title = "Also exported here"
        lines += [title, "-" * len(title), "", "Documented with the module that exports them first:", ""]
        lines += [f"- ``{e.name}``: :py:obj:`{e.target}`" for e in sorted(links, key=lambda e: e.name.lower())]
        lines.append("")
    return "\n".join(lines)


def index_page(modules: tuple[str, ...]) -> str:
    """The reStructuredText of the API reference's index."""
    title = "API reference"
    intro = (
        "Every public name of ``inseq`` (``inseq.__all__``) and of the modules below, generated from the "
        "docstrings. A name exported by several modules is documented once, with the first module that exports it."
    )
    toctree = [".. toctree::", "   :maxdepth: 1", "", *(f"   {m}" for m in modules), ""]
    return "\n".join([title, "=" * len(title), "", intro, "", *toctree])


def write_api_pages(out_dir: Path, modules: tuple[str, ...] = DOCUMENTED_MODULES) -> list[Path]:
    """Write ``index.rst`` and one page per module into ``out_dir`` (rewritten only when the text changes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = {"index": index_page(modules)}
    plan = api_plan(modules)
    targets = {e.target for entries in plan.values() for e in entries}
    pages.update({name: module_page(name, entries, name in targets) for name, entries in plan.items()})
    written = []
    for name, text in pages.items():
        path = out_dir / f"{name}.rst"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in set(out_dir.glob("*.rst")) - set(written):
        stale.unlink()
    return written


def _on_config_inited(app: Any, config: Any) -> None:
    write_api_pages(Path(app.srcdir) / "api")
    if "toc.empty_glob" in config.suppress_warnings:
        logging.getLogger("sphinx.sphinx.directives.other").addFilter(_EmptyGlobFilter())


def setup(app: Any) -> dict[str, Any]:
    """Register the page writer with Sphinx."""
    app.connect("config-inited", _on_config_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


class _EmptyGlobFilter(logging.Filter):
    """Drops the "toctree glob pattern didn't match any documents" warning when ``suppress_warnings`` asks to.

    Sphinx 9 logs it with subtype ``empty_glob`` but no type, so ``suppress_warnings = ["toc.empty_glob"]`` does not
    match it; the pages planned in ``index.md`` as glob patterns are then reported until they are written.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "subtype", None) != "empty_glob"

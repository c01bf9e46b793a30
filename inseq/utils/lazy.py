"""Lazy attributes: names that a package exports but whose module is imported on first use.

A package ``__init__`` declares ``{name: "module:attribute"}`` (module paths may be relative to the package) and
installs the ``__getattr__`` / ``__dir__`` pair of :func:`lazy_exports`; ``import inseq`` then costs only what is
used. The same resolver serves the compatibility table of :mod:`inseq.utils.compat`.

Example:
    >>> getter, lister = lazy_exports("inseq.utils", {"Registry": ".registry:Registry"})
    >>> getter("Registry").__name__
    'Registry'
    >>> "Registry" in lister()
    True
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports", "resolve"]


def resolve(target: str, package: str | None = None) -> Any:
    """The object a target string names: ``"pkg.module:attr.sub"``, or ``"pkg.module"`` for the module itself.

    Relative module paths (``".registry:Registry"``) are resolved against ``package``.

    Example:
        >>> resolve("inseq.utils.registry:Registry").__name__
        'Registry'
    """
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name, package)
    for part in attribute.split(".") if attribute else ():
        obj = getattr(obj, part)
    return obj


def lazy_exports(module_name: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` resolving ``exports`` on first use (and caching them), and the matching ``__dir__``.

    Args:
        module_name: ``__name__`` of the module that installs them.
        exports: ``{name: target}``, targets as :func:`resolve` reads them (relative to ``module_name``'s package).

    Example:
        >>> getter, _ = lazy_exports("inseq.utils", {"InseqError": ".errors:InseqError"})
        >>> getter("InseqError").__module__
        'inseq.utils.errors'
    """

    module = sys.modules.get(module_name)
    package = module.__package__ if module is not None else module_name  # relative targets: from the package

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        module = sys.modules[module_name]
        value = resolve(target, package)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module_name])) | set(exports))

    return __getattr__, __dir__

"""inseq 0.7 module paths that this package's layout merges into one module.

inseq 0.7 split some modules into packages (``inseq/commands/attribute/attribute_args.py``, ...). Here each of
those is a single module; :func:`alias_submodules` makes the old dotted paths import the merged module, so that
``from inseq.commands.attribute.attribute_args import AttributeBaseArgs`` keeps working.
"""

from __future__ import annotations

import sys

__all__ = ["alias_submodules"]


def alias_submodules(module_name: str, *submodules: str) -> None:
    """Make ``module_name.<submodule>`` import ``module_name`` itself, for each name in ``submodules``.

    Python looks a dotted module up in ``sys.modules`` right after importing its parent, so the aliases work for
    ``import a.b.c``, ``from a.b.c import x`` and ``import a.b.c as m`` alike. Call it at the end of the module.

    Example:
        >>> import importlib
        >>> alias_submodules("inseq.utils.compat", "compat_example")
        >>> importlib.import_module("inseq.utils.compat.compat_example") is sys.modules["inseq.utils.compat"]
        True
    """
    module = sys.modules[module_name]
    for name in submodules:
        sys.modules[f"{module_name}.{name}"] = module
        if not hasattr(module, name):  # a function of the same name (``attribute_context``) keeps its name
            setattr(module, name, module)

"""Hooks on a variable of a module's ``forward`` (inseq 0.7 path ``inseq.utils.hooks``).

:func:`get_post_variable_assignment_hook` builds a forward pre-hook that calls ``hook_fn(frame)`` right after the
module's ``forward`` assigned a local variable for the last time, while ``forward`` is still running: the frame's
locals hold the value (e.g. the value vectors inside an attention module). It traces only that one call of
``forward`` (``sys.settrace``), so the call runs slower while hooked.

Example:
    >>> import torch
    >>> class Double(torch.nn.Module):
    ...     def forward(self, x):
    ...         doubled = x * 2
    ...         return doubled + 1
    >>> seen = []
    >>> module = Double()
    >>> handle = module.register_forward_pre_hook(
    ...     get_post_variable_assignment_hook(module, "doubled", hook_fn=lambda frame: seen.append(frame.f_locals["doubled"]))
    ... )
    >>> module(torch.tensor([1.0])), seen
    (tensor([3.]), [tensor([2.])])
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["get_last_variable_assignment_position", "get_post_variable_assignment_hook"]


def _assigned_names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [name for element in target.elts for name in _assigned_names(element)]
    if isinstance(target, ast.Starred):
        return _assigned_names(target.value)
    return []


def get_last_variable_assignment_position(module: Any, varname: str, fname: str = "forward") -> int | None:
    """Line number (in the source file) where the last assignment of ``varname`` in ``type(module).<fname>`` ends.

    Returns None when the function never assigns ``varname``.

    Example:
        >>> import torch
        >>> isinstance(get_last_variable_assignment_position(torch.nn.Linear(1, 1), "nothing_like_this"), int)
        False
    """
    fn = getattr(type(module), fname)
    lines, first = inspect.getsourcelines(fn)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    ends = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
            targets = [node.target]
        else:
            continue
        if any(varname in _assigned_names(t) for t in targets):
            ends.append(node.end_lineno + first - 1)
    return max(ends) if ends else None


def get_post_variable_assignment_hook(
    module: Any,
    varname: str,
    fname: str = "forward",
    hook_fn: Callable[..., None] | None = None,
    **kwargs: Any,
) -> Callable[..., None]:
    """A forward pre-hook calling ``hook_fn(frame, **kwargs)`` once ``varname`` got its last assignment in ``fname``.

    Raises:
        ValueError: when ``type(module).<fname>`` never assigns ``varname``.

    Example:
        >>> hook = get_post_variable_assignment_hook(block, "attn_output", hook_fn=record)  # doctest: +SKIP
        >>> handle = block.register_forward_pre_hook(hook)  # record(frame) sees attn_output  # doctest: +SKIP
    """
    end = get_last_variable_assignment_position(module, varname, fname)
    if end is None:
        raise ValueError(f"{type(module).__name__}.{fname} never assigns a variable named {varname!r}.")
    code = getattr(type(module), fname).__code__
    callback = hook_fn or (lambda frame, **_: None)

    def pre_hook(*_: Any) -> None:
        previous = sys.gettrace()
        fired = False

        def local_trace(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal fired
            if not fired and (event == "return" or frame.f_lineno > end) and varname in frame.f_locals:
                fired = True
                callback(frame, **kwargs)
            if event == "return":
                sys.settrace(previous)
            return local_trace

        def global_trace(frame: FrameType, event: str, arg: Any) -> Any:
            return local_trace if frame.f_code is code and not fired else None

        sys.settrace(global_trace)

    return pre_hook

"""Fused kernels for activations transformers computes op by op, for forwards without gradients.

transformers' ``gelu_new`` and ``gelu_fast`` (GPT-2, GPT-J, CodeGen, ...) compute the tanh approximation of GELU in
eight elementwise operations written in Python; ``torch.nn.functional.gelu(x, approximate="tanh")`` computes the same
function in one fused kernel (transformers offers it as ``gelu_pytorch_tanh``, "equivalent ... but much faster, not an
exact numerical match due to rounding errors": the largest difference is about 2e-7). On a GPT-2-small-shaped model
on one CPU thread the activation is about a sixth of a forward's time, the fused kernel a third of that.
:func:`fused_activations` runs a block with the fused kernel; source attribution scores its ablated prompts under it.

Example:
    >>> import torch
    >>> from transformers.activations import NewGELUActivation
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), NewGELUActivation())
    >>> with fused_activations(net) as n:
    ...     n
    1
    >>> "forward" in vars(net[1])  # restored
    False
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers.activations import FastGELUActivation, NewGELUActivation

#: Activation modules whose function is ``gelu(x, approximate="tanh")``, computed op by op.
TANH_GELU_MODULES = (NewGELUActivation, FastGELUActivation)


@contextmanager
def fused_activations(module: torch.nn.Module) -> Iterator[int]:
    """Run a block with every tanh-GELU module of ``module`` (:data:`TANH_GELU_MODULES`) computed by torch's fused
    kernel; yields how many were switched, and restores them on exit (also on an error).

    Example:
        >>> with fused_activations(torch.nn.Linear(2, 2)) as n:  # nothing to switch
        ...     n
        0
    """
    fused = functools.partial(torch.nn.functional.gelu, approximate="tanh")
    switched = [m for m in module.modules() if isinstance(m, TANH_GELU_MODULES) and "forward" not in vars(m)]
    for m in switched:
        m.forward = fused
    try:
        yield len(switched)
    finally:
        for m in switched:
            vars(m).pop("forward", None)

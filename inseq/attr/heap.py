"""Handing the heap memory a long pass frees back to the OS, block by block (the ``release_mb`` budget).

On the CPU, torch allocates tensors with the C allocator. glibc's ``malloc`` keeps the memory of freed tensors in its
heap for reuse, and a pass with gradients over a long input frees many short-lived tensors (a block's projections
before the rotary embedding, its activation's input, the gradients of the backward) between the tensors it keeps for
the backward: the holes they leave stay resident. At 4,000 tokens on ``benchmarks/bench_long.py``'s model, the peak
resident set of a saliency call was about 200 MiB above the bytes of its live tensors (malloc's own statistics:
the heap's free bytes grow by some 15 MiB a layer in the forward). Asking glibc to return its free pages
(``malloc_trim``) after each transformer block's forward and before each block's backward brings the peak close to
what the live tensors hold (about 530 MiB over the loaded model instead of 680-750), with the same numbers. The price
is page faults when released memory is used again: about 1.2 million more minor faults for that saliency call, 5-30%
more time on the benchmark machine; ``memory_budgets(release_mb=None)`` turns it off.

:func:`released_heap` does this for a pass whose rows are long, one row estimated over the ``release_mb`` budget (as
:func:`pass_mb` estimates for activation checkpointing), on a model on the CPU. With another C library (macOS,
Windows, musl) or on an accelerator, whose memory torch caches itself, it does nothing.

Example:
    >>> import torch
    >>> blocks = [torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)]
    >>> x = torch.randn(2, 4, requires_grad=True)
    >>> with releasing_blocks(blocks) as stats:
    ...     y = blocks[1](blocks[0](x)).sum()
    >>> y.backward()
    >>> stats.forwards, stats.backwards, blocks[0]._forward_hooks
    (2, 2, OrderedDict())
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..utils.budgets import get_budgets
from .checkpointing import pass_mb, transformer_blocks

if TYPE_CHECKING:
    from .port import AttributionModelPort


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_heap() -> bool:
    """Return the C heap's free pages to the OS; whether memory was released (glibc only).

    Example:
        >>> isinstance(release_heap(), bool)
        True
    """
    trim = _malloc_trim()
    return bool(trim is not None and trim(0))


@dataclass
class ReleaseStats:
    """What one :func:`releasing_blocks` block did.

    Attributes:
        blocks: Blocks hooked.
        forwards: Releases after a block's forward.
        backwards: Releases before a block's backward (when the gradient of its output arrives).

    Example:
        >>> ReleaseStats(blocks=2).forwards
        0
    """

    blocks: int = 0
    forwards: int = 0
    backwards: int = 0


def _first_tensor(output: Any) -> torch.Tensor | None:
    """A block's hidden-state output: the tensor itself, or the first item of a tuple (None otherwise)."""
    if isinstance(output, tuple | list) and output:
        output = output[0]
    return output if isinstance(output, torch.Tensor) else None


@contextmanager
def releasing_blocks(blocks: list[torch.nn.Module]) -> Iterator[ReleaseStats]:
    """Release the free heap after each forward of ``blocks`` and before each backward through them.

    The forward hooks are removed when the block ends; a gradient hook put on an output while it ran still fires in
    a backward run after it (the backward of the pass usually is).

    Example:
        >>> layer = torch.nn.Linear(2, 2)
        >>> with releasing_blocks([layer]) as stats:
        ...     _ = layer(torch.ones(1, 2))
        >>> stats.blocks, stats.forwards
        (1, 1)
    """
    stats = ReleaseStats(blocks=len(blocks))

    def before_backward(grad: torch.Tensor) -> None:
        stats.backwards += 1
        release_heap()

    def after_forward(module: torch.nn.Module, args: Any, output: Any) -> None:
        stats.forwards += 1
        release_heap()
        hidden = _first_tensor(output)
        if hidden is not None and hidden.requires_grad:
            hidden.register_hook(before_backward)

    handles = [block.register_forward_hook(after_forward) for block in blocks]
    try:
        yield stats
    finally:
        for handle in handles:
            handle.remove()


def wants_release(module: torch.nn.Module, tokens: int) -> bool:
    """Whether a pass with gradients through ``module`` over rows of ``tokens`` tokens releases the heap at its
    blocks: one row is estimated over the ``release_mb`` budget (None: never), on the CPU, with glibc.

    One row, whatever the rows of the pass: the holes come with long sequences (at 4,000 tokens they were a quarter
    of the peak), while many short rows stacked (integrated gradients' steps on a 200-token prompt) left none to
    release and only paid the page faults.

    Example:
        >>> from inseq.utils.budgets import memory_budgets
        >>> net = torch.nn.Linear(1024, 1024)
        >>> with memory_budgets(release_mb=1):
        ...     wants_release(net, 4096) == (_malloc_trim() is not None)
        True
        >>> with memory_budgets(release_mb=None):
        ...     wants_release(net, 4096)
        False
    """
    budget = get_budgets().release_mb
    if budget is None or pass_mb(module, 1, tokens) <= budget or _malloc_trim() is None:
        return False
    weight = next(module.parameters(), None)
    return weight is None or weight.device.type == "cpu"


@contextmanager
def released_heap(port: AttributionModelPort, tokens: int) -> Iterator[ReleaseStats | None]:
    """Release the heap at every transformer block of ``port`` during a pass over rows of ``tokens`` tokens when
    one row is over the ``release_mb`` budget; yields the :class:`ReleaseStats`, or None when the pass runs as it is.

    Example:
        >>> with released_heap(model, 4000) as stats:  # doctest: +SKIP
        ...     logits = model.forward_logits(...)
    """
    if not wants_release(port.torch_module, tokens):
        yield None
        return
    with releasing_blocks(transformer_blocks(port)) as stats:
        yield stats

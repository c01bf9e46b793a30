"""Memory budgets: the one place that bounds how much work a single forward or backward pass may carry.

Every chunking decision of the engine reads these numbers, so peak memory scales with them and not with the input.
Change them for a block of code with :func:`memory_budgets` (a context manager, scoped to the current thread or
task; nothing leaks between calls).

Example:
    >>> from inseq.utils.budgets import get_budgets, memory_budgets
    >>> get_budgets().backward_tokens
    1024
    >>> with memory_budgets(backward_tokens=4096):
    ...     get_budgets().backward_tokens
    4096
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .errors import QuadraticForwardsWarning

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemoryBudgets:
    """Upper bounds on the size of one pass.

    Attributes:
        backward_tokens: ``positions x rows x tokens`` of one batched backward pass (gradient methods); the path
            kernel counts each position's logits as ``vocab / hidden`` more tokens, since a batched backward holds
            ``positions x positions`` of them. The default keeps the peak memory of the gradient methods at or below
            inseq 0.7's on CPU (see ``benchmarks/bench_gradient.py``); raise it on a large GPU for speed.
        forward_tokens: ``rows x tokens`` of one forward pass with gradients (interpolation steps of path methods).
        perturbed_rows: ``rows x positions`` of logits of one perturbed forward (occlusion, LIME, ReAGent,
            not the evaluation); the default keeps the peak at or below inseq 0.7's (measured at 200+20 tokens).
        plain_rows: rows of logits kept at once by no-grad passes (step scores), times the batch size.
        evaluation_tokens: ``rows x tokens`` of one no-grad forward of the faithfulness evaluation.
        evaluation_logits: ``rows x positions`` of logits kept by one forward of the faithfulness evaluation.
        small_pass_mb: A pass whose estimated memory is under this many MiB is never split by ``backward_tokens``
            and ``forward_tokens``: on small inputs and small models splitting only adds passes (integrated gradients
            on a short input stacks all its steps in one pass). The estimate is the pass's token rows times the
            model's bytes per row (:func:`row_bytes`). Set it to 1 to let the token budgets alone decide.
        zeroed_tokens: ``rows x tokens`` of one layer recomputation of value zeroing, where each zeroed token adds
            one copy of the batch (``tokens_per_eval`` overrides it). Since a layer call also holds each copy's
            ``L x L`` attention scores, the number of copies falls as the input grows: 8 at 240 tokens.
        quadratic_forwards: Perturbed rows (a sequence forwarded with some tokens perturbed, or a layer recomputed
            with some values zeroed) above which occlusion, LIME and value zeroing warn before running
            (:class:`~inseq.utils.errors.QuadraticForwardsWarning`): these methods run about ``L`` forwards of ``L``
            tokens, so a long prompt costs quadratically. Not a limit: the attribution runs anyway.
        checkpoint_mb: Activation checkpointing (None, the default: off). A pass with gradients whose estimated
            memory (token rows times :func:`row_bytes`, the estimate of ``small_pass_mb``) is over this many MiB
            runs with its transformer blocks checkpointed: each block keeps only its inputs in the forward and
            recomputes its activations in the backward (``torch.utils.checkpoint``, non-reentrant, model in eval
            mode), about one more forward for a peak that no longer grows with the number of layers. Honoured by
            the methods of the gradient kernel: ``saliency``, ``input_x_gradient``, ``integrated_gradients``,
            ``sequential_integrated_gradients``, ``discretized_integrated_gradients``, ``attnlrp`` and ``cp_lrp``
            (see :mod:`inseq.attr.checkpointing`).
        release_mb: A pass with gradients on the CPU whose rows are long, one row estimated (as for
            ``checkpoint_mb``) over this many MiB, hands the heap memory it frees back to the OS after each
            transformer block's forward and before each block's backward (glibc's ``malloc_trim``; nothing with other C libraries or on an accelerator):
            the C allocator otherwise keeps the holes of the pass's short-lived tensors resident, about 200 MiB of a
            1.3 GiB peak at 4,000 tokens on ``benchmarks/bench_long.py``'s model. The same numbers; None: never
            (see :mod:`inseq.attr.heap`).

    Example:
        >>> MemoryBudgets().forward_tokens
        4096
        >>> MemoryBudgets(forward_tokens=0)
        Traceback (most recent call last):
        ...
        ValueError: Memory budget forward_tokens must be a positive integer, got 0.
        >>> MemoryBudgets(checkpoint_mb=0)
        Traceback (most recent call last):
        ...
        ValueError: Memory budget checkpoint_mb must be None or a positive integer, got 0.
    """

    backward_tokens: int = 1024
    forward_tokens: int = 4096
    perturbed_rows: int = 32
    plain_rows: int = 256
    evaluation_tokens: int = 32768
    evaluation_logits: int = 1024
    small_pass_mb: int = 256
    zeroed_tokens: int = 2048
    quadratic_forwards: int = 2000
    checkpoint_mb: int | None = None
    release_mb: int | None = 256

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in _OPTIONAL and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                kind = "None or a positive integer" if field.name in _OPTIONAL else "a positive integer"
                raise ValueError(f"Memory budget {field.name} must be {kind}, got {value!r}.")


#: Budgets that may be None (off).
_OPTIONAL = frozenset({"checkpoint_mb", "release_mb"})


_CURRENT: ContextVar[MemoryBudgets] = ContextVar("inseq_memory_budgets", default=MemoryBudgets())  # noqa: B039 (frozen)


def get_budgets() -> MemoryBudgets:
    """The budgets in force in the current context.

    Example:
        >>> with memory_budgets(plain_rows=8):
        ...     get_budgets().plain_rows
        8
    """
    return _CURRENT.get()


@contextmanager
def memory_budgets(**changes: int | None) -> Iterator[MemoryBudgets]:
    """Run a block with some budgets changed (names as in :class:`MemoryBudgets`).

    Raises:
        ValueError: for an unknown budget name or a value that is not a positive integer (``checkpoint_mb`` and
            ``release_mb``: or None).

    Example:
        >>> with memory_budgets(forward_tokens=1024) as budgets:
        ...     budgets.forward_tokens
        1024
    """
    names = {f.name for f in dataclasses.fields(MemoryBudgets)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(f"Unknown memory budget(s) {unknown}; valid: {sorted(names)}.")
    token = _CURRENT.set(dataclasses.replace(_CURRENT.get(), **changes))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def row_bytes(module: Any) -> float:
    """Estimated bytes one token row holds in a pass with gradients through ``module``: 8 bytes (a float32
    activation and its gradient) per parameter outside the embedding matrices, divided by the hidden size, i.e.
    one value per output unit of every layer (cached per module while it lives).

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Embedding(100, 4), torch.nn.Linear(4, 8), torch.nn.Linear(8, 4))
        >>> row_bytes(net)  # (4 * 8 + 8 + 8 * 4 + 4) / 4 hidden units x 8 bytes
        152.0
    """
    if module in _ROW_BYTES:
        return _ROW_BYTES[module]
    hidden, params, seen = 0, 0, set()
    for sub in module.modules():
        if "Embedding" in type(sub).__name__:
            for weight in sub.parameters(recurse=False):
                seen.add(id(weight))
                hidden = hidden or int(weight.shape[-1])
    for weight in module.parameters():
        if id(weight) not in seen:
            seen.add(id(weight))
            params += weight.numel()
    value = 8.0 * params / max(1, hidden) if hidden else 8.0 * params
    _ROW_BYTES[module] = max(value, 1.0)
    return _ROW_BYTES[module]


def token_budget(tokens: int, rows_bytes: float) -> int:
    """``tokens``, or more when that many rows of ``rows_bytes`` each stay under ``small_pass_mb``.

    Example:
        >>> token_budget(1024, 1 << 20)  # 1 MiB a row: 256 rows fit 256 MiB, the token budget is larger
        1024
        >>> token_budget(1024, 1 << 10)  # 1 KiB a row: a quarter million rows fit
        262144
    """
    return max(tokens, int(get_budgets().small_pass_mb * (1 << 20) // max(1.0, rows_bytes)))


_ROW_BYTES: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def announce_forwards(method: str, forwards: int, tokens: int, unit: str = "forwards", hint: str = "") -> None:
    """Log the number of perturbed rows a quadratic method will run, and warn above ``quadratic_forwards``.

    Args:
        method: The method's name, as in the message (``"occlusion"``).
        forwards: Perturbed rows it will run (copies of the batch times the batch size).
        tokens: The longest of those rows, in tokens.
        unit: What a row is (``"forwards"``, ``"layer recomputations"``).
        hint: How to make it cheaper, appended to the warning.

    Example:
        >>> import warnings
        >>> with memory_budgets(quadratic_forwards=10), warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     announce_forwards("occlusion", 12, 12)
        >>> caught[0].category.__name__
        'QuadraticForwardsWarning'
    """
    logger.info("%s: %d %s of up to %d tokens", method, forwards, unit, tokens)
    limit = get_budgets().quadratic_forwards
    if forwards > limit:
        warnings.warn(
            f"{method} will run {forwards} {unit} of up to {tokens} tokens, above the quadratic_forwards budget "
            f"({limit}). {hint}Raise the threshold with "
            f"inseq.utils.budgets.memory_budgets(quadratic_forwards={forwards}).",
            QuadraticForwardsWarning,
            stacklevel=3,
        )

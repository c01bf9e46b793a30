"""Activation checkpointing of the transformer blocks for passes with gradients (the ``checkpoint_mb`` budget).

When a pass with gradients is estimated to need more than ``checkpoint_mb`` MiB (its token rows times the model's
bytes per row, :func:`inseq.utils.budgets.row_bytes`, the estimate ``small_pass_mb`` reads), the gradient kernel runs
it with every transformer block checkpointed: a block keeps only its inputs in the forward and recomputes its
activations in the backward (``torch.utils.checkpoint`` with ``use_reentrant=False``), about one more forward for
memory that no longer grows with the layers. The model stays in eval mode (HF's ``gradient_checkpointing_enable`` acts
only in train mode, i.e. with dropout on); the blocks' ``forward`` is replaced for the pass only and restored after,
also on error.

Code that changes how a block computes while the forward runs (LRP's rules are a torch function mode entered by a
hook on the model) must be active again when the block is recomputed: it registers a context for recomputations
with :func:`recompute_with`. A block called with a key-value cache is never checkpointed (a recomputation would
append to the cache a second time).

Example:
    >>> import torch
    >>> blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)])
    >>> x = torch.randn(2, 4, requires_grad=True)
    >>> with checkpointed_blocks(list(blocks)) as stats:
    ...     y = blocks[1](blocks[0](x)).sum()
    >>> y.backward()
    >>> stats.calls, "forward" in vars(blocks[0])
    (2, False)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.checkpoint import checkpoint

from ..utils.budgets import get_budgets, row_bytes

if TYPE_CHECKING:
    from .port import AttributionModelPort

logger = logging.getLogger(__name__)

#: Keyword arguments of a block that carry a key-value cache.
_CACHE_KWARGS = ("past_key_values", "past_key_value", "layer_past")

#: Contexts entered around every recomputation of a block checkpointed while they are registered.
_RECOMPUTE: ContextVar[tuple[Callable[[], AbstractContextManager[Any]], ...]] = ContextVar(
    "inseq_recompute_contexts", default=()
)


@contextmanager
def recompute_with(factory: Callable[[], AbstractContextManager[Any]]) -> Iterator[None]:
    """Enter ``factory()`` around each recomputation of the blocks checkpointed during the block.

    Example:
        >>> with recompute_with(nullcontext):
        ...     len(_RECOMPUTE.get())
        1
        >>> len(_RECOMPUTE.get())
        0
    """
    token = _RECOMPUTE.set((*_RECOMPUTE.get(), factory))
    try:
        yield
    finally:
        _RECOMPUTE.reset(token)


@dataclass
class CheckpointStats:
    """What one :func:`checkpointed_blocks` block did.

    Attributes:
        blocks: Blocks whose ``forward`` was wrapped.
        calls: Block calls run under ``torch.utils.checkpoint``.

    Example:
        >>> CheckpointStats(blocks=2).calls
        0
    """

    blocks: int = 0
    calls: int = 0


def pass_mb(module: torch.nn.Module, rows: int, tokens: int) -> float:
    """Estimated MiB of a pass with gradients of ``rows`` rows of ``tokens`` tokens through ``module``.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Embedding(100, 4), torch.nn.Linear(4, 8), torch.nn.Linear(8, 4))
        >>> round(pass_mb(net, rows=2, tokens=1024), 3)  # 2 x 1024 rows of 152 bytes
        0.297
    """
    return rows * tokens * row_bytes(module) / (1 << 20)


def wants_checkpointing(module: torch.nn.Module, rows: int, tokens: int) -> bool:
    """Whether a pass with gradients of ``rows x tokens`` is over the ``checkpoint_mb`` budget (None: never).

    Example:
        >>> from inseq.utils.budgets import memory_budgets
        >>> net = torch.nn.Linear(1024, 1024)
        >>> wants_checkpointing(net, 64, 4096)
        False
        >>> with memory_budgets(checkpoint_mb=1):
        ...     wants_checkpointing(net, 64, 4096)
        True
    """
    budget = get_budgets().checkpoint_mb
    return budget is not None and pass_mb(module, rows, tokens) > budget


def _holds_cache(args: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether a block call carries a key-value cache (positional or keyword)."""
    if any(kwargs.get(name) is not None for name in _CACHE_KWARGS):
        return True
    return any(type(v).__name__.endswith("Cache") for v in (*args, *kwargs.values()))


def _needs_grad(args: tuple, kwargs: dict[str, Any]) -> bool:
    return any(isinstance(v, torch.Tensor) and v.requires_grad for v in (*args, *kwargs.values()))


class _Recompute:
    """Re-enterable context of a recomputation: enters every factory's context (a block of the encoder, whose graph
    is kept for several backward passes, is recomputed once per backward)."""

    def __init__(self, factories: tuple[Callable[[], AbstractContextManager[Any]], ...]) -> None:
        self.factories = factories
        self.stacks: list[ExitStack] = []

    def __enter__(self) -> None:
        stack = ExitStack()
        try:
            for factory in self.factories:
                stack.enter_context(factory())
        except BaseException:
            stack.close()
            raise
        self.stacks.append(stack)

    def __exit__(self, *exc: object) -> bool:
        return self.stacks.pop().__exit__(*exc)


def _recompute_contexts(factories: tuple[Callable[[], AbstractContextManager[Any]], ...]) -> Callable[[], Any]:
    """``context_fn`` of ``torch.utils.checkpoint``: nothing in the forward, ``factories`` in each recomputation."""
    return lambda: (nullcontext(), _Recompute(factories))


def _checkpointed(original: Callable[..., Any], trained: bool, stats: CheckpointStats) -> Callable[..., Any]:
    """A ``forward`` running ``original`` under ``torch.utils.checkpoint`` when its call has gradients to keep (an
    input or, when ``trained``, a weight of the block requires them) and carries no key-value cache."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        grads = trained or _needs_grad(args, kwargs)
        if not torch.is_grad_enabled() or not grads or _holds_cache(args, kwargs):
            return original(*args, **kwargs)
        stats.calls += 1
        context_fn = _recompute_contexts(_RECOMPUTE.get())
        return checkpoint(original, *args, use_reentrant=False, context_fn=context_fn, **kwargs)

    forward.inseq_checkpointed = True
    return forward


@contextmanager
def checkpointed_blocks(blocks: list[torch.nn.Module]) -> Iterator[CheckpointStats]:
    """Checkpoint each of ``blocks`` for the block: their ``forward`` is wrapped, and restored after (even on error).

    Calls without gradients and calls carrying a key-value cache run the original ``forward``. A block already
    wrapped by an enclosing call is left as it is.

    Example:
        >>> layer = torch.nn.Linear(2, 2)
        >>> with checkpointed_blocks([layer]) as stats:
        ...     _ = layer(torch.ones(1, 2)).sum()  # no input needs a gradient, but the weights do
        >>> stats.blocks, stats.calls
        (1, 1)
    """
    stats = CheckpointStats()
    saved: list[tuple[torch.nn.Module, Any]] = []
    try:
        for block in blocks:
            current = block.forward
            if getattr(current, "inseq_checkpointed", False):
                continue
            saved.append((block, vars(block).get("forward")))
            trained = any(p.requires_grad for p in block.parameters())
            block.forward = _checkpointed(current, trained, stats)
            stats.blocks += 1
        yield stats
    finally:
        for block, own in reversed(saved):
            if own is None:
                vars(block).pop("forward", None)
            else:
                block.forward = own


def transformer_blocks(port: AttributionModelPort) -> list[torch.nn.Module]:
    """The encoder's and decoder's layer stacks of ``port`` (its :meth:`structure`; empty when it finds none, and the
    pass then runs without checkpointing).

    Example:
        >>> transformer_blocks(model)  # doctest: +SKIP
        [GPT2Block(...), GPT2Block(...)]
    """
    try:
        structure = port.structure()
    except (RuntimeError, NotImplementedError, AttributeError) as error:  # e.g. a layer without a value projection
        logger.info("activation checkpointing is off: no transformer blocks found (%s)", error)
        return []
    return [*structure.encoder_layers, *structure.decoder_layers]


@contextmanager
def activation_checkpointing(port: AttributionModelPort, rows: int, tokens: int) -> Iterator[CheckpointStats | None]:
    """Checkpoint the transformer blocks of ``port`` for a pass of ``rows x tokens`` over the ``checkpoint_mb``
    budget; yields the :class:`CheckpointStats`, or None when the pass runs as it is.

    Example:
        >>> from inseq.utils.budgets import memory_budgets
        >>> with memory_budgets(checkpoint_mb=1), activation_checkpointing(model, 1, 4000) as stats:  # doctest: +SKIP
        ...     logits = model.forward_logits(...)
    """
    if not wants_checkpointing(port.torch_module, rows, tokens):
        yield None
        return
    with checkpointed_blocks(transformer_blocks(port)) as stats:
        yield stats

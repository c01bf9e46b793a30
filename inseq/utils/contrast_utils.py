"""inseq 0.7's helpers for contrastive step functions (inseq 0.7 path ``inseq.utils.contrast_utils``).

In inseq 0.7 a contrastive step function ran the model itself on the contrastive inputs
(``_get_contrast_inputs``). Here the engine builds and runs the contrastive batch once for all positions and hands
the results to every step function in :class:`~inseq.attr.step_functions.StepFunctionArgs` (``contrast_logits``,
``contrast_target_ids``); :func:`get_contrast_inputs` returns them in inseq 0.7's :class:`ContrastInputs` shape.

Example:
    >>> from types import SimpleNamespace
    >>> args = SimpleNamespace(contrast_target_ids=[7], contrast_logits=None, target_ids=[5])
    >>> get_contrast_inputs(args, contrast_targets="Hello", return_contrastive_target_ids=True).target_ids
    [7]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CONTRAST_FN_ARGS_DOCSTRING", "ContrastInputs", "contrast_fn_docstring", "get_contrast_inputs"]

CONTRAST_FN_ARGS_DOCSTRING = """Args:
        contrast_sources: Contrastive source texts (encoder-decoder models), one per input.
        contrast_targets: Contrastive target texts (decoder-only models: the whole contrastive sequence).
        contrast_targets_alignments: ``(original_position, contrast_position)`` pairs aligning the two targets
            (default: right-aligned).
        contrast_force_inputs: Use the contrastive inputs for attribution too (not only for the step function).
"""


def contrast_fn_docstring() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding the documentation of the contrastive arguments to a step function's docstring.

    Example:
        >>> @contrast_fn_docstring()
        ... def my_fn(args, **contrast_kwargs):
        ...     "My contrastive score."
        >>> "contrast_targets" in my_fn.__doc__
        True
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = fn.__doc__ or ""
        fn.__doc__ = (
            doc.replace("Args:\n", CONTRAST_FN_ARGS_DOCSTRING)
            if "Args:\n" in doc
            else doc + "\n\n    " + (CONTRAST_FN_ARGS_DOCSTRING)
        )
        return fn

    return decorate


@dataclass
class ContrastInputs:
    """The contrastive side of a step.

    Attributes:
        batch: inseq 0.7's contrastive batch; always None here (the engine keeps its contrastive batch).
        target_ids: ``(rows,)`` contrastive target ids (aligned with the original positions).
        logits: ``(rows, vocab)`` logits of the contrastive forward (new here: inseq 0.7 returned a batch to run).
    """

    batch: Any = None
    target_ids: Any = None
    logits: Any = None


def get_contrast_inputs(
    args: Any,
    contrast_sources: Any = None,
    contrast_targets: Any = None,
    contrast_targets_alignments: Any = None,
    return_contrastive_target_ids: bool = False,
    return_contrastive_batch: bool = False,
    **forward_kwargs: Any,
) -> ContrastInputs:
    """The contrastive target ids (and logits) the engine computed for ``args`` (inseq 0.7's
    ``inseq.attr.step_functions._get_contrast_inputs``).

    The contrastive inputs themselves are read by the engine from the ``contrast_*`` keyword arguments of the
    ``attribute`` call; a step function declaring ``contrast_targets`` receives them and passes them on here.

    Raises:
        ValueError: when contrastive inputs are given but ``args`` holds no contrastive results (the step function was
            called outside an attribution with ``contrast_targets`` / ``contrast_sources``).

    Example:
        >>> def contrast_prob(args, contrast_targets=None, **kwargs):
        ...     contrast = get_contrast_inputs(args, contrast_targets, return_contrastive_target_ids=True)
        ...     return contrast.target_ids  # ids the engine computed for the contrastive forward
    """
    wanted = contrast_sources is not None or contrast_targets is not None
    has = getattr(args, "contrast_target_ids", None) is not None or getattr(args, "contrast_logits", None) is not None
    if wanted and not has:
        raise ValueError(
            "contrast_targets / contrast_sources were given but the step arguments hold no contrastive results: pass "
            "them to model.attribute(...) so that the engine runs the contrastive forward."
        )
    target_ids = getattr(args, "contrast_target_ids", None)
    if target_ids is None:
        target_ids = getattr(args, "target_ids", None)
    return ContrastInputs(
        batch=None,
        target_ids=target_ids if return_contrastive_target_ids else None,
        logits=getattr(args, "contrast_logits", None),
    )

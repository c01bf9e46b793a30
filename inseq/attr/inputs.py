"""The input forms ``attribute()`` accepts for ``input_texts`` / ``generated_texts``, normalised to one list.

Texts, token ids (``list[int]``, ``list[list[int]]``, 1-D/2-D integer tensors, a list of 1-D tensors) and tokenizer
encodings (a ``transformers.BatchEncoding`` or any mapping with ``input_ids``; padding is removed with its
``attention_mask``) all become a list whose items are texts or lists of ids. Ids are used as they are: special
tokens stay tokens and nothing is re-tokenised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..utils.checks import check_text, describe
from ..utils.errors import InvalidArgumentError, InvalidArgumentTypeError

__all__ = ["TextOrIds", "check_inputs"]

#: One attributed input or target: a text, or token ids used as they are (special tokens included).
TextOrIds = str | list[int]

_VALID = "a string, a list of strings, token ids (list[int], list[list[int]], 1-D/2-D tensor) or a tokenizer output"


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _rows(name: str, ids: Any, mask: Any = None) -> list[list[int]]:
    """Rows of a 1-D/2-D id tensor or nested list, padding (``mask == 0``) removed."""
    if isinstance(ids, torch.Tensor) and (ids.ndim not in (1, 2) or ids.is_floating_point() or ids.is_complex()):
        raise InvalidArgumentTypeError(
            f"{name} as a tensor must hold integer token ids in 1 or 2 dimensions, got a {ids.dtype} tensor of "
            f"shape {tuple(ids.shape)}."
        )
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    ids = ids if ids and isinstance(ids[0], list | tuple) else [ids]
    if mask is not None:
        mask = mask.tolist() if isinstance(mask, torch.Tensor) else list(mask)
        mask = mask if mask and isinstance(mask[0], list | tuple) else [mask]
        ids = [[i for i, m in zip(row, row_mask) if m] for row, row_mask in zip(ids, mask)]
    return [_check_ids(f"{name}[{r}]", row) for r, row in enumerate(ids)]


def _check_ids(name: str, row: Any) -> list[int]:
    row = list(row)
    bad = next((t for t in row if not _is_id(t)), None)
    if bad is not None or not row:
        shown = "an empty list" if not row else describe(bad)
        raise InvalidArgumentTypeError(f"{name} must be a string or a non-empty list of token ids, got {shown}.")
    negative = [t for t in row if t < 0]
    if negative:
        raise InvalidArgumentError(f"{name} holds the negative token id {negative[0]}: ids are >= 0.")
    return [int(t) for t in row]


def _item(name: str, item: Any) -> TextOrIds:
    if isinstance(item, str):
        return check_text(name, item)
    if isinstance(item, torch.Tensor) and item.ndim == 1 and not item.is_floating_point():
        return _check_ids(name, item.tolist())
    if isinstance(item, list | tuple) and item and all(_is_id(t) for t in item):
        return _check_ids(name, item)
    raise InvalidArgumentTypeError(f"{name} must be a string or a list of token ids, got {describe(item)}.")


def check_inputs(name: str, value: Any, allow_none: bool = False) -> list[TextOrIds] | None:
    """Normalise ``input_texts`` / ``generated_texts`` to a list of texts and id lists (see the module doc).

    Raises:
        InvalidArgumentTypeError: for anything else, naming the argument (and the item) and what is valid.

    Example:
        >>> check_inputs("input_texts", {"input_ids": [[5, 6, 0]], "attention_mask": [[1, 1, 0]]})
        [[5, 6]]
        >>> check_inputs("input_texts", ["a text", [3, 4]])
        ['a text', [3, 4]]
    """
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        return [check_text(name, value)]
    if isinstance(value, Mapping) or (hasattr(value, "input_ids") and hasattr(value, "attention_mask")):
        get = value.get if isinstance(value, Mapping) else lambda key: getattr(value, key, None)
        if get("input_ids") is None:
            raise InvalidArgumentTypeError(
                f"{name} is a mapping without 'input_ids' ({describe(value)}): pass {_VALID}."
            )
        return _rows(name, get("input_ids"), get("attention_mask"))
    if isinstance(value, torch.Tensor):
        return _rows(name, value)
    if not isinstance(value, list | tuple):
        raise InvalidArgumentTypeError(f"{name} must be {_VALID}, got {describe(value)}.")
    if value and all(_is_id(v) for v in value):
        return [_check_ids(name, value)]
    return [_item(f"{name}[{i}]", item) for i, item in enumerate(value)]

"""Tensor and device helpers (inseq 0.7 names, at inseq 0.7's path ``inseq.utils.torch_utils``).

Example:
    >>> logits = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])
    >>> filter_logits(logits, top_k=2).isinf().tolist()
    [[True, True, True, False, False]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F

__all__ = [
    "aggregate_contiguous",
    "check_device",
    "convert_from_safetensor",
    "convert_to_safetensor",
    "euclidean_distance",
    "filter_logits",
    "find_block_stack",
    "get_default_device",
    "get_front_padding",
    "get_logits_from_filter_strategy",
    "get_sequences_from_batched_steps",
    "normalize",
    "pad_with_nan",
    "recursive_get_submodule",
    "remap_from_filtered",
    "rescale",
    "top_k_logits_mask",
    "top_p_logits_mask",
    "validate_indices",
]

FilterStrategy = Literal["original", "contrast", "merged"]

_SAFETENSORS_KEY = "attribution"
_PRECISIONS = {"float32": torch.float32, "float16": torch.float16}


def get_default_device() -> str:
    """``"cuda"`` when a CUDA device is available, else ``"cpu"`` (MPS is not used, as in inseq).

    Example:
        >>> get_default_device() in ("cpu", "cuda")
        True
    """
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device_name: str) -> str:
    """Return ``device_name`` if this machine can use it.

    Raises:
        ValueError: for an unknown device type, or CUDA / MPS requested where unavailable.

    Example:
        >>> check_device("cpu")
        'cpu'
    """
    kind = str(device_name).split(":", maxsplit=1)[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Unknown device {device_name!r}: use 'cpu', 'cuda' (optionally 'cuda:N') or 'mps'.")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {device_name!r} was requested but CUDA is not available on this machine.")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"Device {device_name!r} was requested but MPS is not available on this machine.")
    return str(device_name)


def top_k_logits_mask(logits: torch.Tensor, top_k: int, min_tokens_to_keep: int = 1) -> torch.Tensor:
    """Boolean mask (True = drop) of the entries outside the ``max(top_k, min_tokens_to_keep)`` largest of each row.

    Example:
        >>> top_k_logits_mask(torch.tensor([[3.0, 1.0, 2.0]]), 2).tolist()
        [[False, True, False]]
    """
    k = min(max(int(top_k), int(min_tokens_to_keep)), logits.size(-1))
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits < kth


def top_p_logits_mask(logits: torch.Tensor, top_p: float, min_tokens_to_keep: int = 1) -> torch.Tensor:
    """Boolean mask (True = drop) of the entries outside the nucleus of probability ``top_p`` of each row.

    A token is dropped when the more probable tokens already hold ``top_p`` of the mass; the
    ``min_tokens_to_keep`` most probable tokens are always kept.

    Example:
        >>> top_p_logits_mask(torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]]), 0.9).tolist()
        [[True, True, False, False, False]]
    """
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    sorted_drop = probs.cumsum(-1) - probs >= top_p
    sorted_drop[..., : max(int(min_tokens_to_keep), 1)] = False
    return sorted_drop.scatter(-1, order, sorted_drop)


def get_logits_from_filter_strategy(
    filter_strategy: FilterStrategy, original_logits: torch.Tensor, contrast_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """The logits the top-k / top-p mask is computed on: ``original``, ``contrast`` or ``merged`` (their sum).

    Example:
        >>> get_logits_from_filter_strategy("merged", torch.ones(1, 2), torch.ones(1, 2)).tolist()
        [[2.0, 2.0]]
    """
    if filter_strategy == "original":
        return original_logits
    if contrast_logits is None:
        raise ValueError(f"filter_strategy={filter_strategy!r} needs contrast_logits; use 'original' without them.")
    if filter_strategy == "contrast":
        return contrast_logits
    if filter_strategy == "merged":
        return original_logits + contrast_logits
    raise ValueError(f"Unknown filter_strategy {filter_strategy!r}; valid: 'original', 'contrast', 'merged'.")


def filter_logits(
    original_logits: torch.Tensor,
    contrast_logits: torch.Tensor | None = None,
    top_p: float = 1.0,
    top_k: int = 0,
    min_tokens_to_keep: int = 1,
    filter_strategy: FilterStrategy | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Set the logits outside the top-k and the top-p nucleus to ``-inf`` (and the contrast logits alike).

    Args:
        original_logits: ``(batch, vocab)`` logits.
        contrast_logits: Optional ``(batch, vocab)`` contrastive logits, filtered at the same positions.
        top_p: Nucleus probability (1.0: no nucleus filtering).
        top_k: Number of logits kept per row (0: no top-k filtering).
        min_tokens_to_keep: Least number of logits kept per row.
        filter_strategy: Logits the mask is computed on: ``"original"`` (default without contrast), ``"contrast"``
            or ``"merged"`` (their sum, default with contrast).

    Returns:
        The filtered logits, or ``(filtered, filtered_contrast)`` when ``contrast_logits`` is given.

    Example:
        >>> filter_logits(torch.tensor([[1.0, 2.0, 3.0]]), top_k=1)
        tensor([[-inf, -inf, 3.]])
    """
    vocab = original_logits.size(-1)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 0 <= top_k <= vocab:
        raise ValueError(f"top_k must be an integer between 0 and the vocabulary size {vocab}, got {top_k!r}.")
    if isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0.0 <= top_p <= 1.0:
        raise ValueError(f"top_p must be a number between 0 and 1, got {top_p!r}.")
    if filter_strategy is None:
        filter_strategy = "original" if contrast_logits is None else "merged"
    if top_k > 0 or top_p < 1.0:
        basis = get_logits_from_filter_strategy(filter_strategy, original_logits, contrast_logits)
        drop = torch.zeros_like(basis, dtype=torch.bool)
        if top_k > 0:
            drop |= top_k_logits_mask(basis, top_k, min_tokens_to_keep)
        if top_p < 1.0:
            drop |= top_p_logits_mask(basis, top_p, min_tokens_to_keep)
        original_logits = original_logits.masked_fill(drop, float("-inf"))
        if contrast_logits is not None:
            contrast_logits = contrast_logits.masked_fill(drop, float("-inf"))
    if contrast_logits is not None:
        return original_logits, contrast_logits
    return original_logits


def _nan_safe(fn: Callable[[torch.Tensor], torch.Tensor], attributions: torch.Tensor) -> torch.Tensor:
    nan = attributions.isnan()
    out = fn(attributions.double().masked_fill(nan, 0.0))
    return out.masked_fill(nan, float("nan")).to(attributions.dtype)


def normalize(attributions: torch.Tensor, dim: int = 0, norm_ord: int = 1) -> torch.Tensor:
    """Divide ``attributions`` by their ``norm_ord``-norm along ``dim`` (NaN entries ignored and kept).

    Example:
        >>> normalize(torch.tensor([1.0, 3.0]))
        tensor([0.2500, 0.7500])
    """
    return _nan_safe(lambda x: F.normalize(x, p=norm_ord, dim=dim), attributions)


def rescale(attributions: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Divide ``attributions`` by their largest absolute value along ``dim``, into ``[-1, 1]`` (NaN kept).

    Example:
        >>> rescale(torch.tensor([1.0, -4.0]))
        tensor([ 0.2500, -1.0000])
    """
    return _nan_safe(lambda x: x / x.abs().amax(dim=dim, keepdim=True).clamp_min(1e-12), attributions)


def euclidean_distance(vec_a: torch.Tensor, vec_b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance over the last dimension (a scalar for two vectors, one value per row otherwise).

    Example:
        >>> euclidean_distance(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0]))
        tensor(5.)
    """
    return (vec_a - vec_b).pow(2).sum(-1).sqrt()


def aggregate_contiguous(
    t: torch.Tensor,
    spans: Sequence[tuple[int, int]],
    aggregate_fn: Callable[..., torch.Tensor] | None = None,
    aggregate_dim: int = 0,
) -> torch.Tensor:
    """Reduce each ``(start, end)`` span of ``t`` along ``aggregate_dim`` to one entry (mean by default).

    Entries outside the spans are kept as they are.

    Example:
        >>> aggregate_contiguous(torch.tensor([1.0, 3.0, 5.0]), [(0, 2)])
        tensor([2., 5.])
    """
    fn = aggregate_fn or (lambda x, dim: x.mean(dim))
    pieces, pos = [], 0
    size = t.shape[aggregate_dim]
    for start, end in sorted(spans):
        if not 0 <= start < end <= size or start < pos:
            raise ValueError(f"Invalid span {(start, end)!r}: spans must be disjoint and within 0..{size}.")
        pieces.append(t.narrow(aggregate_dim, pos, start - pos))
        pieces.append(fn(t.narrow(aggregate_dim, start, end - start), dim=aggregate_dim).unsqueeze(aggregate_dim))
        pos = end
    pieces.append(t.narrow(aggregate_dim, pos, size - pos))
    return torch.cat(pieces, dim=aggregate_dim)


def get_front_padding(t: torch.Tensor, pad: int = 0, dim: int = 1) -> list[int]:
    """Number of leading ``pad`` values of each row of ``t`` (left padding).

    Example:
        >>> get_front_padding(torch.tensor([[0, 0, 5], [3, 0, 4]]))
        [2, 0]
    """
    is_pad = (t == pad).movedim(dim, -1).long()
    return is_pad.cumprod(-1).sum(-1).tolist()


def pad_with_nan(t: torch.Tensor, dim: int, pad_size: int, front: bool = False) -> torch.Tensor:
    """Append (or prepend, with ``front``) ``pad_size`` NaN entries along ``dim``.

    Example:
        >>> pad_with_nan(torch.tensor([1.0]), dim=0, pad_size=2)
        tensor([1., nan, nan])
    """
    shape = list(t.shape)
    shape[dim] = pad_size
    nans = torch.full(shape, float("nan"), dtype=t.dtype, device=t.device)
    return torch.cat([nans, t] if front else [t, nans], dim=dim)


def get_sequences_from_batched_steps(
    bsteps: Sequence[torch.Tensor], padding_dims: Sequence[int] | None = None, stack_dim: int = 2
) -> list[torch.Tensor]:
    """Turn per-step ``(batch, ...)`` tensors into one tensor per sequence, steps stacked along ``stack_dim``.

    Steps of different sizes along ``padding_dims`` are padded with NaN to the largest.

    Example:
        >>> steps = [torch.zeros(2, 3), torch.ones(2, 3)]
        >>> [s.shape for s in get_sequences_from_batched_steps(steps)]  # (len, n_steps) per sequence
        [torch.Size([3, 2]), torch.Size([3, 2])]
    """
    steps = list(bsteps)
    for dim in padding_dims or ():
        size = max(s.shape[dim] for s in steps)
        steps = [pad_with_nan(s, dim, size - s.shape[dim]) if s.shape[dim] < size else s for s in steps]
    stacked = torch.stack(steps, dim=stack_dim)
    return [seq.squeeze(0) for seq in stacked.split(1, dim=0)]


def remap_from_filtered(original_shape: Sequence[int], mask: torch.Tensor, filtered: torch.Tensor) -> torch.Tensor:
    """Scatter the rows of ``filtered`` back to the rows of a zero tensor of ``original_shape`` where ``mask`` holds.

    Example:
        >>> remap_from_filtered((3,), torch.tensor([True, False, True]), torch.tensor([7, 9])).tolist()
        [7, 0, 9]
    """
    out = torch.zeros(tuple(original_shape), dtype=filtered.dtype, device=filtered.device)
    out[mask.bool().to(out.device)] = filtered
    return out


def validate_indices(
    scores: torch.Tensor, dim: int = -1, indices: int | tuple[int, int] | Sequence[int] | None = None
) -> list[int]:
    """The non-negative indices of ``scores``'s dimension ``dim`` that ``indices`` selects.

    ``indices`` is one index, a ``(start, end)`` span, a list of indices (negative ones count from the end), or None
    for every index.

    Raises:
        IndexError: an index outside the dimension (the message gives the valid range).

    Example:
        >>> validate_indices(torch.zeros(2, 5), indices=(1, 3)), validate_indices(torch.zeros(2, 5), indices=[-1])
        ([1, 2], [4])
    """
    size = scores.shape[dim]
    if indices is None:
        return list(range(size))
    if isinstance(indices, tuple) and len(indices) == 2:
        start, end = (i + size if i < 0 else i for i in indices)
        if not 0 <= start < end <= size:
            raise IndexError(f"Span {indices!r} is not valid for a dimension of size {size}.")
        return list(range(start, end))
    chosen = [indices] if isinstance(indices, int) else list(indices)
    out = []
    for index in chosen:
        if not -size <= int(index) < size:
            raise IndexError(
                f"Index {index!r} is out of range for a dimension of size {size} (valid: {-size}..{size - 1})."
            )
        out.append(int(index) % size)
    return out


def recursive_get_submodule(parent: torch.nn.Module, target: str) -> torch.nn.Module | None:
    """The submodule of ``parent`` at the dotted path ``target`` (``parent`` itself for ``""``), or None.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(1, 1)))
        >>> type(recursive_get_submodule(net, "0.0")).__name__
        'Linear'
    """
    try:
        return parent.get_submodule(target) if target else parent
    except AttributeError:
        return None


def find_block_stack(module: torch.nn.Module) -> torch.nn.ModuleList | torch.nn.Sequential | None:
    """The first (shallowest) ``ModuleList`` or ``Sequential`` inside ``module``: its stack of layers, or None.

    Example:
        >>> net = torch.nn.Module()
        >>> net.layers = torch.nn.ModuleList([torch.nn.Linear(1, 1)])
        >>> find_block_stack(net) is net.layers
        True
    """
    best: tuple[int, Any] | None = None
    for name, child in module.named_modules():
        if child is module or not isinstance(child, torch.nn.ModuleList | torch.nn.Sequential):
            continue
        depth = name.count(".")
        if best is None or depth < best[0]:
            best = (depth, child)
    return None if best is None else best[1]


def convert_to_safetensor(tensor: torch.Tensor, scores_precision: str = "float32") -> bytes:
    """Serialize ``tensor`` as safetensors bytes (the blob format of attribution files), in ``scores_precision``.

    Example:
        >>> convert_from_safetensor(convert_to_safetensor(torch.ones(2))).tolist()
        [1.0, 1.0]
    """
    from safetensors.torch import save

    precisions = dict(_PRECISIONS)
    if hasattr(torch, "float8_e4m3fn"):
        precisions["float8"] = torch.float8_e4m3fn
    if scores_precision not in precisions:
        raise ValueError(f"Unknown scores_precision {scores_precision!r}; valid: {', '.join(precisions)}.")
    return save({_SAFETENSORS_KEY: tensor.detach().cpu().to(precisions[scores_precision]).contiguous()})


def convert_from_safetensor(safetensor: bytes) -> torch.Tensor:
    """Read back a tensor written by :func:`convert_to_safetensor` (as float32).

    Example:
        >>> convert_from_safetensor(convert_to_safetensor(torch.ones(2))).tolist()
        [1.0, 1.0]
    """
    from safetensors.torch import load

    tensors = load(safetensor)
    if _SAFETENSORS_KEY not in tensors:
        raise ValueError(f"The safetensors blob has no {_SAFETENSORS_KEY!r} tensor (found {sorted(tensors)}).")
    return tensors[_SAFETENSORS_KEY].to(torch.float32)

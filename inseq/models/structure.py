"""Structure discovery: layers, attention modules and value projections, found by inspecting the module tree.

inseq 0.7 needed a hand-kept table of module names for every architecture. Here the layer stack is the shallowest
``ModuleList`` whose every element holds a module whose class name ends in ``Attention``, and the value projection
is the first of a few common names; ``inseq.register_model_config`` overrides the names for unusual models.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ..attr.port import AttentionSite
from .model_config import ModelConfig, check_model_config, is_builtin_config

#: Names of value projections, checked in order on each attention module.
_VALUE_NAMES = ("v_proj", "value", "v", "v_lin", "c_attn", "query_key_value")


def distinct_configs(model: torch.nn.Module) -> list[Any]:
    """Distinct configuration objects of ``model`` and its submodules."""
    seen: dict[int, Any] = {}
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            seen.setdefault(id(config), config)
    return list(seen.values())


@contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """Run ``model`` with eager attention (which can return attention weights), restoring its setting afterwards.

    Works for any architecture: ``set_attn_implementation`` (transformers 5) is used when available, and every
    configuration reachable from the model's modules is switched as well.

    Example:
        >>> with eager_attention(model.model):  # doctest: +SKIP
        ...     out = model.model(input_ids=ids, output_attentions=True)
    """
    configs = distinct_configs(model)
    previous = [(config, config._attn_implementation) for config in configs]
    top = getattr(getattr(model, "config", None), "_attn_implementation", None)
    try:
        if top != "eager" and hasattr(model, "set_attn_implementation"):
            try:
                model.set_attn_implementation("eager")
            except (ValueError, ImportError, AttributeError):
                pass
        for config in configs:
            if config._attn_implementation != "eager":
                config._attn_implementation = "eager"
        yield
    finally:
        if top is not None and top != "eager" and hasattr(model, "set_attn_implementation"):
            try:
                model.set_attn_implementation(top)
            except (ValueError, ImportError, AttributeError):
                pass
        for config, value in previous:
            if config._attn_implementation != value:
                config._attn_implementation = value


def require_output(value: Any, model: torch.nn.Module, what: str) -> Any:
    if value is None or (isinstance(value, tuple | list) and any(v is None for v in value)):
        raise RuntimeError(f"{type(model).__name__} did not return {what} even with eager attention.")
    return value


def stack_attentions(attentions: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``layers x (batch, heads, q, k)`` -> ``(batch, q, k, layers, heads)``."""
    return torch.stack([a.detach().float() for a in attentions], dim=-1).permute(0, 2, 3, 4, 1).cpu()


def _value_columns(name: str, head_dim: int | None, owner: str, width: int, heads: list[int] | None) -> torch.Tensor:
    """Boolean ``(width,)`` mask of the output columns of a value projection holding the values of ``heads``."""
    if name == "c_attn":
        value_width = width // 3
        unit = head_dim or value_width
        return _columns_mask(
            width, [2 * value_width + h * unit for h in range(value_width // unit)], unit, heads, owner
        )
    if name == "query_key_value":  # a fused projection whose layout was not decided: per head [q, k, v] (GPT-NeoX)
        return fused_value_columns("interleaved", head_dim, None, owner, width, heads)
    unit = head_dim or width
    return _columns_mask(width, [h * unit for h in range(width // unit)], unit, heads, owner)


def _columns_mask(width: int, starts: list[int], unit: int, heads: list[int] | None, owner: str) -> torch.Tensor:
    cols = torch.zeros(width, dtype=torch.bool)
    for h in range(len(starts)) if heads is None else heads:
        if not 0 <= h < len(starts):
            raise ValueError(f"Head index {h} is out of range: {owner} has {len(starts)} heads.")
        cols[starts[h] : starts[h] + unit] = True
    return cols


#: Column layouts of a fused ``query_key_value`` projection with ``H`` query heads and ``K`` key/value heads of size
#: ``d`` (width ``(H + 2K) d``): ``interleaved`` per head ``[q, k, v]`` (GPT-NeoX, Bloom, Falcon with one key/value
#: head per query head), ``grouped`` per key/value head ``[q x H/K, k, v]`` (Falcon's new decoder architecture) and
#: ``contiguous`` ``[Q | K | V]`` (Falcon multi-query).
FUSED_LAYOUTS = ("interleaved", "grouped", "contiguous")


def fused_value_columns(
    layout: str, head_dim: int | None, n_heads: int | None, owner: str, width: int, heads: list[int] | None
) -> torch.Tensor:
    """Boolean ``(width,)`` mask of the value columns of ``heads`` (key/value heads) in a fused QKV projection.

    ``n_heads`` is the number of query heads (None: as many as key/value heads).

    Raises:
        RuntimeError: when the head size is unknown or ``width`` does not fit the layout.

    Example:
        >>> fused_value_columns("interleaved", 2, 2, "m", 12, None).nonzero().flatten().tolist()
        [4, 5, 10, 11]
        >>> fused_value_columns("contiguous", 2, 4, "m", 12, None).nonzero().flatten().tolist()
        [10, 11]
    """
    if layout not in FUSED_LAYOUTS:
        raise ValueError(f"layout must be one of {list(FUSED_LAYOUTS)}, got {layout!r}.")
    if head_dim is None:
        raise RuntimeError(f"{owner}: cannot find the head size of the fused query_key_value projection.")
    n_heads = n_heads or width // (3 * head_dim)
    n_kv, rest = divmod(width // head_dim - n_heads, 2)
    if rest or n_kv < 1 or width % head_dim or n_heads % n_kv or (layout == "interleaved" and n_kv != n_heads):
        raise RuntimeError(
            f"{owner}: a fused query_key_value of width {width} does not fit the {layout!r} layout with {n_heads} "
            f"query heads of size {head_dim}."
        )
    d, group = head_dim, n_heads // n_kv
    if layout == "interleaved":
        starts = [h * 3 * d + 2 * d for h in range(n_kv)]
    elif layout == "grouped":
        starts = [g * (group + 2) * d + (group + 1) * d for g in range(n_kv)]
    else:
        starts = [(n_heads + n_kv + g) * d for g in range(n_kv)]
    return _columns_mask(width, starts, d, heads, owner)


def _query_heads(attention: torch.nn.Module, model: torch.nn.Module) -> int | None:
    for owner in (attention, getattr(model, "config", None)):
        for name in ("num_heads", "num_attention_heads", "n_head"):
            value = getattr(owner, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return None


#: Layout decided by behaviour for each fused projection module (kept while the module lives).
_DECIDED: weakref.WeakKeyDictionary[torch.nn.Module, str] = weakref.WeakKeyDictionary()


class _ValueColumns:
    """``value_columns(width, heads)`` of a site; a fused projection also takes ``layout=`` (one of
    :data:`FUSED_LAYOUTS`), and holds the one found by behaviour in ``layout`` once decided (per module)."""

    def __init__(
        self, name: str, head_dim: int | None, n_heads: int | None, owner: str, module: torch.nn.Module
    ) -> None:
        self.name, self.head_dim, self.n_heads, self.owner = name, head_dim, n_heads, owner
        self.fused = name == "query_key_value"
        self._module = module

    @property
    def layout(self) -> str | None:
        return _DECIDED.get(self._module)

    @layout.setter
    def layout(self, value: str) -> None:
        _DECIDED[self._module] = value

    def layouts(self, width: int) -> dict[str, torch.Tensor]:
        """The layouts of :data:`FUSED_LAYOUTS` a fused projection of ``width`` columns can have, each with its mask
        of all value columns (layouts giving the same mask listed once); empty for a projection that is not fused."""
        found: dict[str, torch.Tensor] = {}
        for layout in FUSED_LAYOUTS if self.fused else ():
            try:
                mask = fused_value_columns(layout, self.head_dim, self.n_heads, self.owner, width, None)
            except RuntimeError:
                continue
            if not any(torch.equal(mask, other) for other in found.values()):
                found[layout] = mask
        return found

    def __call__(self, width: int, heads: list[int] | None, layout: str | None = None) -> torch.Tensor:
        layout = layout or self.layout
        if self.fused and layout is not None:
            return fused_value_columns(layout, self.head_dim, self.n_heads, self.owner, width, heads)
        return _value_columns(self.name, self.head_dim, self.owner, width, heads)


def _model_name(model: torch.nn.Module) -> str:
    return type(model).__name__


def find_layers(root: torch.nn.Module, model: torch.nn.Module, where: str) -> list[torch.nn.Module]:
    """The layer stack of ``root``: the shallowest ``ModuleList`` whose every element holds an attention module."""
    if where == "decoder":
        check_model_config(
            model
        )  # inseq 0.7's warning for architectures without a configuration (once per structure lookup)
    best: tuple[int, torch.nn.ModuleList] | None = None
    for name, module in root.named_modules():
        if not isinstance(module, torch.nn.ModuleList) or len(module) == 0:
            continue
        if all(any(type(m).__name__.endswith("Attention") for m in layer.modules()) for layer in module):
            depth = name.count(".")
            if best is None or depth < best[0]:
                best = (depth, module)
    if best is None:
        raise RuntimeError(
            f"{_model_name(model)}: no list of layers with attention modules found in the {where} (value_zeroing "
            "looks for a ModuleList whose layers contain a module with a class name ending in 'Attention')."
        )
    return list(best[1])


def _head_dim(attention: torch.nn.Module, model: torch.nn.Module) -> int | None:
    for name in ("head_dim", "head_size", "key_value_proj_dim", "attention_head_size", "d_kv"):
        value = getattr(attention, name, None)
        if isinstance(value, int) and value > 0:
            return value
    config = getattr(model, "config", None)
    value = getattr(config, "head_dim", None)
    if isinstance(value, int) and value > 0:
        return value
    hidden = getattr(config, "hidden_size", None)
    heads = getattr(config, "num_attention_heads", None)
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
        return hidden // heads
    return None


def attention_sites(
    layers: list[torch.nn.Module], model: torch.nn.Module, which: str, config: ModelConfig | None
) -> list[AttentionSite]:
    """The self (``which="self"``) or cross (``"cross"``) attention site of each layer."""
    sites = []
    override = None
    config = None if is_builtin_config(config) else config  # built-in names describe; inspection finds the modules
    if config is not None:
        override = config.self_attention_module if which == "self" else config.cross_attention_module
    value_names = (config.value_vector,) if config is not None and config.value_vector else _VALUE_NAMES
    for i, block in enumerate(layers):
        if override:
            try:
                candidates = [block.get_submodule(override)]
            except AttributeError as e:
                raise RuntimeError(f"{_model_name(model)}: layer {i} has no module {override!r}.") from e
        else:
            candidates = [
                m
                for m in block.modules()
                if type(m).__name__.endswith("Attention") and any(hasattr(m, n) for n in value_names)
            ]
            index = 0 if which == "self" else 1
            if len(candidates) <= index:
                raise RuntimeError(
                    f"{_model_name(model)}: layer {i} has no {which}-attention module with a value projection (looked "
                    f"for a module named '*Attention' with one of {list(value_names)}); register the names with "
                    "inseq.register_model_config."
                )
            candidates = [candidates[index]]
        attention = candidates[0]
        name = next((n for n in value_names if isinstance(getattr(attention, n, None), torch.nn.Module)), None)
        if name is None:
            raise RuntimeError(
                f"{_model_name(model)}: the {which}-attention module {type(attention).__name__} of layer {i} has no "
                f"value projection among {list(value_names)}; register it with inseq.register_model_config."
            )
        value = getattr(attention, name)
        columns = _ValueColumns(
            name, _head_dim(attention, model), _query_heads(attention, model), _model_name(model), value
        )
        sites.append(AttentionSite(block, attention, value, columns))
    return sites


@contextmanager
def head_inputs(model: torch.nn.Module, select: Any) -> Iterator[None]:
    """Feed the model's output head only the hidden states ``select`` picks, for a block (None: all of them).

    ``select`` is a ``(rows, columns)`` index pair (tensors: the gathered pairs become one row of positions; slices:
    a sub-block), applied by a forward pre-hook on ``model.get_output_embeddings()``.

    Example:
        >>> with head_inputs(model, (torch.tensor([0]), torch.tensor([2]))):  # doctest: +SKIP
        ...     logits = model(input_ids=ids).logits  # (1, 1, vocab): position 2 of row 0
    """
    head = model.get_output_embeddings() if select is not None else None
    if head is None:
        if select is not None:
            raise ValueError(f"{type(model).__name__} has no output embeddings to select the logits of.")
        yield
        return
    rows, cols = select

    def pick(module: torch.nn.Module, args: tuple) -> tuple:
        hidden = args[0]
        picked = hidden[rows, cols]
        return (picked.unsqueeze(0) if isinstance(rows, torch.Tensor) else picked, *args[1:])

    handle = head.register_forward_pre_hook(pick)
    try:
        yield
    finally:
        handle.remove()

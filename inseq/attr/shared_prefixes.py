"""Rows that share prefixes, scored on the plan of :mod:`inseq.attr.prefix_tree`: each cached prefix runs once, and
every row runs only its tokens after the deepest cached prefix it has.

A forward mixes rows after cached prefixes of different lengths: their caches are stacked into one, each padded to
the longest (the padding masked out), and each row's tokens get the positions that follow its own prefix
(``position_ids``). A path of cached prefixes runs as one row, and each prefix's cache is cut from that row's (the
padding between the prefix above and the new tokens taken out). This needs a model taking ``position_ids`` and a
key-value cache keeping every token (transformers' ``DynamicLayer``); :func:`score_shared` returns None otherwise,
and the caller runs the rows as they are.

Example:
    >>> values = score_shared(scorer, rows, (probability_fn, {}), RowBudget(4096, 1024), 20.0)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import inspect
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch

from .prefix_tree import PrefixPlan, chunk_rows, plan_prefixes
from .scorer import RowBudget, Scorer, ScoreRow, apply_step, pad_rows, read_index

Step = tuple[Callable[..., torch.Tensor], dict[str, Any]]


def takes_position_ids(module: torch.nn.Module) -> bool:
    """Whether ``module``'s forward has a ``position_ids`` parameter.

    Example:
        >>> takes_position_ids(torch.nn.Linear(2, 2))
        False
    """
    return "position_ids" in inspect.signature(module.forward).parameters


def score_shared(
    scorer: Scorer,
    rows: list[ScoreRow],
    step: Step,
    budget: RowBudget,
    overhead: float,
    progress: Callable[[int], None] | None = None,
) -> list[torch.Tensor] | None:
    """``step`` at the reads of every row (target ids only, no source), on the plan of their shared prefixes; None
    when the model cannot run rows after caches of other lengths (nothing is scored then).

    Args:
        scorer: The forward path.
        rows: The rows (none reads logits past its tokens).
        step: The step function and its keyword arguments.
        budget: Bounds of one forward (``tokens`` also bounds the tokens of the cached prefixes held at once).
        overhead: What a forward costs beyond its tokens, in tokens (how forwards are sized).
        progress: Called with the number of rows of each forward once it is done.
    """
    if not takes_position_ids(scorer.port.torch_module):
        return None
    seqs = [r.target_ids for r in rows]
    plan = plan_prefixes(seqs, [min(c for c, _ in r.reads) for r in rows], budget.tokens)
    caches = _run_prefixes(scorer, plan, seqs, budget, overhead)
    if caches is None:
        return None
    hosts = plan.hosts
    widths = [len(s) - plan.depth_of(h) for s, h in zip(seqs, hosts)]
    out: list[torch.Tensor] = [torch.zeros(0)] * len(rows)
    for chunk in chunk_rows(
        range(len(rows)), widths, [len(r.reads) for r in rows], overhead, budget.tokens, budget.logits
    ):
        entries = [(seqs[j], plan.depth_of(hosts[j]), caches[hosts[j]] if hosts[j] >= 0 else None) for j in chunk]
        values, _ = _forward(scorer, entries, [rows[j].reads for j in chunk], step, keep_cache=False)
        for j, v in zip(chunk, values):
            out[j] = v
        if progress is not None:
            progress(len(chunk))
    return out


def _run_prefixes(
    scorer: Scorer, plan: PrefixPlan, seqs: list[list[int]], budget: RowBudget, overhead: float
) -> list[Any] | None:
    """The cache of every cached prefix of ``plan``, wave by wave (None: the model's cache drops tokens)."""
    paths: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for i, prefix in enumerate(plan.prefixes):
        paths[(prefix.wave, prefix.parent, prefix.key)].append(i)
    caches: list[Any] = [None] * len(plan.prefixes)
    for wave in sorted({w for w, _, _ in paths}):
        jobs = [(parent, key, members) for (w, parent, key), members in paths.items() if w == wave]
        ends = [max(plan.prefixes[i].depth for i in members) for _, _, members in jobs]
        widths = [end - plan.depth_of(parent) for end, (parent, _, _) in zip(ends, jobs)]
        for chunk in chunk_rows(range(len(jobs)), widths, [0] * len(jobs), overhead, budget.tokens, budget.logits):
            entries = [
                (
                    seqs[jobs[j][1]][: ends[j]],
                    plan.depth_of(jobs[j][0]),
                    caches[jobs[j][0]] if jobs[j][0] >= 0 else None,
                )
                for j in chunk
            ]
            _, held = _forward(scorer, entries, [[] for _ in chunk], None, keep_cache=True)
            if not _keeps_every_token(held):
                return None
            pad = max(start for _, start, _ in entries)
            for row, j in enumerate(chunk):
                start = entries[row][1]
                for i in jobs[j][2]:
                    caches[i] = _cut(held, row, start, pad, plan.prefixes[i].depth)
    return caches


def _keeps_every_token(cache: Any) -> bool:
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer).__name__ == "DynamicLayer" for layer in layers)


def _with_layers(template: Any, tensors: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    """A cache like ``template`` holding ``(keys, values)`` per layer."""
    cache = copy.copy(template)
    cache.layers = []
    for layer, (keys, values) in zip(template.layers, tensors):
        part = copy.copy(layer)
        part.keys, part.values = keys, values
        cache.layers.append(part)
    return cache


def _cut(held: Any, row: int, start: int, pad: int, depth: int) -> Any:
    """The one-row cache of the first ``depth`` tokens of row ``row`` of a forward's cache ``held``, whose prefix of
    ``start`` tokens was padded to ``pad``."""
    new = depth - start
    return _with_layers(
        held,
        [
            (
                torch.cat([layer.keys[row : row + 1, :, :start], layer.keys[row : row + 1, :, pad : pad + new]], 2),
                torch.cat(
                    [layer.values[row : row + 1, :, :start], layer.values[row : row + 1, :, pad : pad + new]], 2
                ),
            )
            for layer in held.layers
        ],
    )


def _stack(caches: list[Any], starts: list[int], pad: int) -> Any:
    """One cache of the rows' caches (one row of ``starts[j]`` tokens each, None when 0), each padded to ``pad``."""
    template = next(c for c in caches if c is not None)
    tensors = []
    for index, layer in enumerate(template.layers):
        keys = layer.keys.new_zeros((len(caches), layer.keys.shape[1], pad, layer.keys.shape[3]))
        values = layer.values.new_zeros((len(caches), layer.values.shape[1], pad, layer.values.shape[3]))
        for row, (cache, start) in enumerate(zip(caches, starts)):
            if cache is not None and start:
                keys[row, :, :start] = cache.layers[index].keys[0]
                values[row, :, :start] = cache.layers[index].values[0]
        tensors.append((keys, values))
    return _with_layers(template, tensors)


def _forward(
    scorer: Scorer,
    entries: list[tuple[list[int], int, Any]],
    reads: list[list[tuple[int, int]]],
    step: Step | None,
    keep_cache: bool,
) -> tuple[list[torch.Tensor], Any]:
    """One forward of rows ``(ids, start, cache of ids[:start])``: ``step`` at each row's ``reads`` (columns of
    ``ids``), and the forward's cache when ``keep_cache``."""
    port, device = scorer.port, scorer.port.device
    starts = [start for _, start, _ in entries]
    pad = max(starts)
    new, new_mask = pad_rows([ids[start:] for ids, start, _ in entries], port.pad_token_id, device)
    prefix_mask = (torch.arange(pad).unsqueeze(0) < torch.tensor(starts).unsqueeze(1)).long().to(device)
    positions = torch.tensor(starts, device=device).unsqueeze(1) + torch.arange(new.shape[1], device=device)
    which, cols, _ = read_index(reads, device)
    cols = cols - torch.tensor(starts, dtype=torch.long, device=device)[which]
    result = scorer.forward(
        target_ids=new,
        target_mask=torch.cat([prefix_mask, new_mask], 1),
        logits_at=(which, cols),
        past_key_values=_stack([c for _, _, c in entries], starts, pad) if pad else None,
        keep_cache=keep_cache,
        position_ids=positions if pad else None,
    )
    logits, held = result if keep_cache else (result, None)
    if step is None or not len(which):
        return [], held
    full, full_mask = pad_rows([ids for ids, _, _ in entries], port.pad_token_id, device)
    return apply_step(port, logits, reads, full, full_mask, step), held

"""Aggregators: turn raw sequence attributions into readable ones (reduce dimensions, merge tokens, compare).

Six aggregators are registered in :data:`AGGREGATORS`:

* ``scores`` reduces the last dimension with an aggregation function, then L1-normalises each generated-token column;
* ``spans`` merges contiguous token spans; ``subwords`` finds word spans and merges them; ``split`` merges spans
  delimited by a regular expression;
* ``pair`` combines two outputs element-wise (difference by default);
* ``slices`` keeps only some attributed tokens.

Example:
    >>> out.aggregate(["subwords", "vnorm"]).show()  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..utils.errors import OutOfRangeError
from ..utils.registry import Registry
from ..utils.typing import TokenWithId
from .aggregation_functions import AGGREGATION_FUNCTIONS, get_aggregation_function
from .attribution import FeatureAttributionSequenceOutput, _replace
from .data_utils import AggregableMixin
from .validation import check_aggregate_kwargs, check_aggregation_result
from .word_spans import get_split_spans, get_word_spans

__all__ = [
    "AGGREGATORS",
    "AggregableMixin",
    "Aggregator",
    "AggregatorPipeline",
    "ContiguousSpanAggregator",
    "PairAggregator",
    "SequenceAttributionAggregator",
    "SliceAggregator",
    "StringSplitAggregator",
    "SubwordAggregator",
    "list_aggregators",
    "normalize_attributions",
    "register_aggregator",
    "rescale_attributions",
    "resolve_aggregator",
]

Span = tuple[int, int]
Attr = FeatureAttributionSequenceOutput


# --------------------------------------------------------------------------------------------------------------------
# Tensor helpers
# --------------------------------------------------------------------------------------------------------------------


def _call_fn(fn: Callable[..., torch.Tensor], tensor: torch.Tensor, dim: int, kwargs: dict) -> torch.Tensor:
    """Call an aggregation function, passing only the keyword arguments its signature accepts."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return check_aggregation_result(fn, fn(tensor, dim), tensor, dim)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return check_aggregation_result(fn, fn(tensor, dim, **kwargs), tensor, dim)
    return check_aggregation_result(
        fn, fn(tensor, dim, **{k: v for k, v in kwargs.items() if k in params}), tensor, dim
    )


def _split_joint(
    source: torch.Tensor | None, target: torch.Tensor | None, transform: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Apply ``transform`` to source and target concatenated on the attributed-token axis, NaNs kept aside."""
    parts = [t for t in (source, target) if t is not None]
    if not parts:
        return source, target
    joint = torch.cat(parts, dim=0)
    nan_mask = joint.isnan()
    joint = transform(joint.nan_to_num(0.0)).masked_fill(nan_mask, float("nan"))
    n_src = source.shape[0] if source is not None else 0
    return (joint[:n_src] if source is not None else None), (joint[n_src:] if target is not None else None)


def normalize_attributions(
    source: torch.Tensor | None, target: torch.Tensor | None, norm_ord: int = 1
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """L1-normalise each generated-token column over source and target rows together (NaN left in place).

    Example:
        >>> normalize_attributions(torch.tensor([[1.0], [3.0]]), None)[0]
        tensor([[0.2500],
                [0.7500]])
    """
    return _split_joint(source, target, lambda x: F.normalize(x, p=norm_ord, dim=0))


def rescale_attributions(
    source: torch.Tensor | None, target: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Divide all scores by the global maximum absolute value (NaN left in place)."""
    return _split_joint(source, target, lambda x: x / x.abs().max().clamp_min(1e-12))


def _merge_groups(tensor: torch.Tensor, groups: list[Span], dim: int, fn: Callable, fn_kwargs: dict) -> torch.Tensor:
    """Reduce each ``(start, end)`` group of ``tensor`` along ``dim`` with ``fn`` (single items are kept as they are)."""
    if all(end - start == 1 for start, end in groups) and len(groups) == tensor.shape[dim]:
        return tensor
    pieces = []
    for start, end in groups:
        chunk = tensor.narrow(dim, start, end - start)
        pieces.append(chunk if end - start == 1 else _call_fn(fn, chunk, dim, fn_kwargs).unsqueeze(dim))
    return torch.cat(pieces, dim=dim)


def _spans_to_groups(spans: list[Span], length: int) -> list[Span]:
    """Partition ``range(length)`` into the given spans plus single items."""
    groups, pos = [], 0
    for start, end in spans:
        groups.extend((i, i + 1) for i in range(pos, start))
        groups.append((start, end))
        pos = end
    groups.extend((i, i + 1) for i in range(pos, length))
    return groups


def validate_spans(spans: Any, length: int, name: str, param: str | None = None) -> list[Span]:
    """Normalise ``(start, end)`` or a list of such into a sorted list, checking bounds and overlaps.

    ``name`` says which tokens the spans cover (``"source"``); ``param`` is the argument they were given as
    (default ``f"{name}_spans"``), named in the errors.

    Raises:
        ValueError: naming the argument, the bad span and the valid range.
    """
    param = param or f"{name}_spans"
    if spans is None:
        return []
    if isinstance(spans, tuple) and len(spans) == 2 and all(isinstance(x, int) for x in spans):
        spans = [spans]
    result: list[Span] = []
    for span in spans:
        if not (isinstance(span, (tuple, list)) and len(span) == 2 and all(isinstance(x, int) for x in span)):
            raise ValueError(f"Invalid {name} span {span!r} in {param}: expected a (start, end) pair of ints.")
        start, end = span
        if not 0 <= start < end <= length:
            raise ValueError(
                f"Invalid {name} span {tuple(span)} in {param}: need 0 <= start < end <= {length} (end is exclusive, "
                f"{length} tokens available)."
            )
        if result and start < result[-1][1]:
            raise ValueError(
                f"Invalid {name} span {tuple(span)} in {param}: spans must be ascending and non-overlapping, but it starts "
                f"before the end of the previous span {result[-1]}."
            )
        result.append((start, end))
    return result


def _is_decoder_only(attr: Attr) -> bool:
    return attr.source_attributions is None and [t.token for t in attr.source] == [
        t.token for t in attr.target[: attr.attr_pos_start]
    ]


def _rebuild(attr: Attr, **changes: Any) -> Attr:
    """A copy of ``attr`` with ``changes``; fully aggregated (<= 2-D) results get an empty default aggregator."""
    # an output still on its class default gets the default of its new shape (e.g. one "mean" fewer)
    default = {"_aggregator": None} if attr._aggregator == attr._default_aggregator() else {}
    out = _replace(attr, _num_dimensions=None, **{**default, **changes})
    if out.attributions_ndim <= 2:
        out._aggregator = []
    return out


# --------------------------------------------------------------------------------------------------------------------
# Aggregators
# --------------------------------------------------------------------------------------------------------------------


class Aggregator:
    """Base class: ``aggregate()`` runs ``pre_aggregate_hook`` -> ``_aggregate`` -> ``post_aggregate_hook``.

    Subclasses set ``aggregator_name``, ``aggregator_family`` (used to pick per-field default functions) and
    ``default_fn``, and are registered with :func:`register_aggregator`.

    Example:
        >>> from inseq.data.aggregator import AGGREGATORS
        >>> subwords = AGGREGATORS.get("subwords")
        >>> issubclass(subwords, Aggregator), subwords.aggregator_name
        (True, 'subwords')
    """

    aggregator_name: ClassVar[str] = ""
    aggregator_family: ClassVar[str] = ""
    default_fn: ClassVar[str | Callable | None] = None

    @classmethod
    def aggregate(
        cls, attr: Attr, do_pre_aggregation_checks: bool = True, do_post_aggregation_checks: bool = True, **kwargs: Any
    ) -> Attr:
        """Aggregate ``attr`` (never modified) and return the result."""
        if do_pre_aggregation_checks:
            cls.pre_aggregate_hook(attr, **kwargs)
        result = cls._aggregate(attr, **kwargs)
        if do_post_aggregation_checks:
            cls.post_aggregate_hook(result, **kwargs)
        return result

    @classmethod
    def pre_aggregate_hook(cls, attr: Attr, **kwargs: Any) -> None:
        """Validate the input; raise on problems."""

    @classmethod
    def post_aggregate_hook(cls, attr: Attr, **kwargs: Any) -> None:
        """Validate the result; raise on problems."""

    @classmethod
    def _aggregate(cls, attr: Attr, **kwargs: Any) -> Attr:
        raise NotImplementedError

    @classmethod
    def _field_fn(cls, attr: Attr, field_name: str, aggregate_fn: Any) -> Callable:
        if aggregate_fn is not None:
            return get_aggregation_function(aggregate_fn)
        fn = (attr._dict_aggregate_fn or {}).get(field_name, {}).get(cls.aggregator_family, cls.default_fn)
        return get_aggregation_function(fn)


class SequenceAttributionAggregator(Aggregator):
    """``scores``: reduce the last dimension of the attributions with ``aggregate_fn`` (default ``mean``).

    Options: ``select_idx`` (int: pick that index; ``(start, end)``: aggregate that range; list: those indices),
    ``normalize`` (default True: each generated-token column sums to 1 in absolute value over source and target),
    ``rescale`` (divide by the global max absolute value; exclusive with ``normalize``) and extra function kwargs
    (e.g. ``vnorm_ord``). Already 2-D attributions are not reduced further (only normalised). Step scores are kept.

    Example:
        >>> import torch
        >>> from inseq.data import GranularFeatureAttributionSequenceOutput
        >>> from inseq.utils import TokenWithId
        >>> toks = [TokenWithId(t, i) for i, t in enumerate(["ĠHel", "lo", "Ġworld", "!"])]
        >>> seq = GranularFeatureAttributionSequenceOutput(
        ...     source=toks[:2], target=toks, target_attributions=torch.rand(4, 2, 8), attr_pos_start=2)
        >>> seq.aggregate("scores", aggregate_fn="sum").target_attributions.shape
        torch.Size([4, 2])
    """

    aggregator_name = "scores"
    aggregator_family = "scores"
    default_fn = "mean"

    @classmethod
    def _reduce(cls, tensor: torch.Tensor | None, fn: Callable, select_idx: Any, kwargs: dict) -> torch.Tensor | None:
        if tensor is None or tensor.ndim <= 2:
            return tensor
        size = tensor.shape[-1]
        if select_idx is None:
            return _call_fn(fn, tensor, -1, kwargs)
        if isinstance(select_idx, int):
            if not -size <= select_idx < size:
                raise OutOfRangeError(f"select_idx {select_idx} is out of range for a last dimension of size {size}.")
            return tensor[..., select_idx]
        if isinstance(select_idx, tuple) and len(select_idx) == 2:
            (start, end) = validate_spans([select_idx], size, "select_idx", "select_idx")[0]
            return _call_fn(fn, tensor[..., start:end], -1, kwargs)
        indices = list(select_idx)
        if not indices or any(not -size <= i < size for i in indices):
            raise OutOfRangeError(f"select_idx {select_idx!r} must be non-empty indices in [-{size}, {size}).")
        return _call_fn(fn, tensor[..., indices], -1, kwargs)

    @classmethod
    def _aggregate(
        cls,
        attr: Attr,
        aggregate_fn: Any = None,
        select_idx: Any = None,
        normalize: bool = True,
        rescale: bool = False,
        **kwargs: Any,
    ) -> Attr:
        fn = get_aggregation_function(aggregate_fn if aggregate_fn is not None else cls.default_fn)
        src = cls._reduce(attr.source_attributions, fn, select_idx, kwargs)
        tgt = cls._reduce(attr.target_attributions, fn, select_idx, kwargs)
        if rescale:
            src, tgt = rescale_attributions(src, tgt)
        elif normalize:
            src, tgt = normalize_attributions(src, tgt)
        seq_scores = None
        if attr.sequence_scores is not None:
            seq_scores = {k: cls._reduce(v, fn, select_idx, kwargs) for k, v in attr.sequence_scores.items()}
        return _rebuild(attr, source_attributions=src, target_attributions=tgt, sequence_scores=seq_scores)

    @classmethod
    def pre_aggregate_hook(cls, attr: Attr, **kwargs: Any) -> None:
        if kwargs.get("normalize") and kwargs.get("rescale"):
            raise ValueError("normalize=True and rescale=True are mutually exclusive: pick one.")

    @classmethod
    def post_aggregate_hook(cls, attr: Attr, **kwargs: Any) -> None:
        if attr.attributions_ndim > 2:
            raise RuntimeError(
                f"Aggregated attributions are still {attr.attributions_ndim}-D (expected 2-D). Aggregate the other "
                "dimensions too (e.g. aggregator=['mean', 'mean']) or pass do_post_aggregation_checks=False."
            )


class ContiguousSpanAggregator(SequenceAttributionAggregator):
    """``spans``: merge contiguous token spans (``source_spans`` / ``target_spans``: ``(start, end)`` or a list).

    Merged tokens are joined into one ``TokenWithId(text, -1)``. Attributions are merged along the attributed-token
    axis and (for target spans) along the generated-token axis with ``aggregate_fn`` (default ``absmax``); step scores
    are merged with their own function (``prod`` for probabilities, ``sum`` for entropies, else ``absmax``).

    Example:
        >>> import torch
        >>> from inseq.data import GranularFeatureAttributionSequenceOutput
        >>> from inseq.utils import TokenWithId
        >>> toks = [TokenWithId(t, i) for i, t in enumerate(["ĠHel", "lo", "Ġworld", "!"])]
        >>> seq = GranularFeatureAttributionSequenceOutput(
        ...     source=toks[:2], target=toks, target_attributions=torch.rand(4, 2, 8), attr_pos_start=2)
        >>> [t.token for t in seq.aggregate("spans", target_spans=(0, 2)).target]
        ['ĠHello', 'Ġworld', '!']
    """

    aggregator_name = "spans"
    aggregator_family = "spans"
    default_fn = "absmax"

    @classmethod
    def pre_aggregate_hook(cls, attr: Attr, source_spans: Any = None, target_spans: Any = None, **kwargs: Any) -> None:
        validate_spans(source_spans, len(attr.source), "source")
        validate_spans(target_spans, len(attr.target), "target")

    @classmethod
    def post_aggregate_hook(cls, attr: Attr, **kwargs: Any) -> None:
        """Shapes are re-checked when the result is built."""

    @classmethod
    def _aggregate(
        cls, attr: Attr, source_spans: Any = None, target_spans: Any = None, aggregate_fn: Any = None, **kwargs: Any
    ) -> Attr:
        decoder_only = _is_decoder_only(attr)
        src_groups = _spans_to_groups(validate_spans(source_spans, len(attr.source), "source"), len(attr.source))
        tgt_groups = _spans_to_groups(validate_spans(target_spans, len(attr.target), "target"), len(attr.target))
        start, end = attr.attr_pos_start, attr.attr_pos_end
        gen_groups = [(max(s, start) - start, min(e, end) - start) for s, e in tgt_groups if s < end and e > start]
        new_start = sum(1 for s, e in tgt_groups if e <= start)
        new_target = _merge_tokens(attr.target, tgt_groups)
        new_source = new_target[:new_start] if decoder_only else _merge_tokens(attr.source, src_groups)
        changes: dict[str, Any] = {
            "source": new_source,
            "target": new_target,
            "attr_pos_start": new_start,
            "attr_pos_end": new_start + len(gen_groups),
        }
        for name, groups in (("source_attributions", src_groups), ("target_attributions", tgt_groups)):
            tensor = getattr(attr, name)
            if tensor is not None:
                fn = cls._field_fn(attr, name, aggregate_fn)
                tensor = _merge_groups(tensor, groups[: _n_groups_within(groups, tensor.shape[0])], 0, fn, kwargs)
                changes[name] = _merge_groups(tensor, gen_groups, 1, fn, kwargs)
        step_fns = (attr._dict_aggregate_fn or {}).get("step_scores", {}).get(cls.aggregator_family, {})
        changes["step_scores"] = {
            k: _merge_groups(v, gen_groups, 0, get_aggregation_function(step_fns.get(k, cls.default_fn)), kwargs)
            for k, v in attr.step_scores.items()
        }
        if attr.sequence_scores is not None:
            fn = get_aggregation_function(aggregate_fn or cls.default_fn)
            sizes = {len(attr.source): src_groups, len(attr.target): tgt_groups, end - start: gen_groups}
            changes["sequence_scores"] = {
                k: _merge_sequence_score(k, v, src_groups, tgt_groups, sizes, fn, kwargs)
                for k, v in attr.sequence_scores.items()
            }
        return _rebuild(attr, **changes)


def _n_groups_within(groups: list[Span], n_rows: int) -> int:
    """Number of groups fully inside the first ``n_rows`` rows (target tensors may have fewer rows than tokens)."""
    return sum(1 for _, e in groups if e <= n_rows)


def _merge_tokens(tokens: list[TokenWithId], groups: list[Span]) -> list[TokenWithId]:
    return [tokens[s] if e - s == 1 else TokenWithId("".join(t.token for t in tokens[s:e]), -1) for s, e in groups]


def _merge_sequence_score(
    name: str, tensor: torch.Tensor, src: list[Span], tgt: list[Span], by_size: dict, fn: Callable, kwargs: dict
) -> torch.Tensor:
    if name.startswith("encoder"):
        dims = [src, src]
    elif name.startswith("decoder"):
        dims = [tgt, tgt]
    else:
        dims = [src, by_size.get(tensor.shape[1]) if tensor.ndim > 1 else None]
    for dim, groups in enumerate(dims[: tensor.ndim]):
        if groups is not None and _n_groups_within(groups, tensor.shape[dim]) == len(groups):
            tensor = _merge_groups(tensor, groups, dim, fn, kwargs)
    return tensor


class SubwordAggregator(ContiguousSpanAggregator):
    """``subwords``: merge the subword tokens of each word (then behaves like ``spans``).

    Options: ``aggregate_source`` / ``aggregate_target`` (default True), ``special_chars`` (marker string or tuple;
    default: automatic detection of GPT-2 ``Ġ``/``Ċ``, SentencePiece ``▁``, leading spaces and WordPiece ``##``),
    ``is_suffix_symbol`` (markers end words) and ``tokenizer`` (used to recover raw token strings from ids, e.g. after
    ``decode_tokens``). Warns and leaves a side unchanged when no marker is found.

    Example:
        >>> import torch
        >>> from inseq.data import GranularFeatureAttributionSequenceOutput
        >>> from inseq.utils import TokenWithId
        >>> toks = [TokenWithId(t, i) for i, t in enumerate(["ĠHel", "lo", "Ġworld", "!"])]
        >>> seq = GranularFeatureAttributionSequenceOutput(
        ...     source=toks[:2], target=toks, target_attributions=torch.rand(4, 2, 8), attr_pos_start=2)
        >>> [t.token for t in seq.aggregate("subwords").target]
        ['ĠHello', 'Ġworld!']
    """

    aggregator_name = "subwords"

    @classmethod
    def _spans(cls, tokens: list[TokenWithId], side: str, tokenizer: Any, special_chars: Any, suffix: bool) -> list:
        strings = [t.token for t in tokens]
        if tokenizer is not None:
            strings = [tokenizer.convert_ids_to_tokens(t.id) if t.id >= 0 else t.token for t in tokens]
        spans = get_word_spans(strings, special_chars, suffix)
        if spans is None:
            warnings.warn(
                f"No word-boundary marker found in the {side} tokens (special_chars={special_chars!r}); "
                f"{side} tokens are left unmerged. Pass special_chars=... to set the markers.",
                stacklevel=4,
            )
            return []
        return spans

    @classmethod
    def _aggregate(
        cls,
        attr: Attr,
        aggregate_source: bool = True,
        aggregate_target: bool = True,
        special_chars: str | Sequence[str] | None = None,
        is_suffix_symbol: bool = False,
        tokenizer: Any = None,
        **kwargs: Any,
    ) -> Attr:
        kwargs.pop("source_spans", None)
        kwargs.pop("target_spans", None)
        src = tgt = None
        if aggregate_source and attr.source and not _is_decoder_only(attr):
            src = cls._spans(attr.source, "source", tokenizer, special_chars, is_suffix_symbol)
        if aggregate_target and attr.target:
            tgt = cls._spans(attr.target, "target", tokenizer, special_chars, is_suffix_symbol)
        return super()._aggregate(attr, source_spans=src, target_spans=tgt, **kwargs)

    @classmethod
    def pre_aggregate_hook(cls, attr: Attr, **kwargs: Any) -> None:
        """Spans are computed from the tokens, so nothing to validate."""


class StringSplitAggregator(ContiguousSpanAggregator):
    """``split``: merge spans delimited by the regex ``split_pattern`` on the concatenated token strings.

    ``split_mode``: ``"single"`` (delimiter matches become their own spans), ``"start"`` (a match starts the next
    span) or ``"end"`` (a match ends the previous span). ``aggregate_source`` / ``aggregate_target`` as for subwords.

    Example:
        >>> StringSplitAggregator.aggregator_name
        'split'
        >>> out.aggregate("split", split_pattern=r"\\.", split_mode="end")  # doctest: +SKIP
    """

    aggregator_name = "split"

    @classmethod
    def _aggregate(
        cls,
        attr: Attr,
        split_pattern: str | None = None,
        split_mode: str = "single",
        aggregate_source: bool = True,
        aggregate_target: bool = True,
        **kwargs: Any,
    ) -> Attr:
        if not split_pattern:
            raise ValueError("The 'split' aggregator needs split_pattern=<regex>, e.g. split_pattern=r'[.!?]'.")
        kwargs.pop("source_spans", None)
        kwargs.pop("target_spans", None)
        src = tgt = None
        if aggregate_source and not _is_decoder_only(attr):
            src = get_split_spans([t.token for t in attr.source], split_pattern, split_mode)
        if aggregate_target:
            tgt = get_split_spans([t.token for t in attr.target], split_pattern, split_mode)
        return super()._aggregate(attr, source_spans=src, target_spans=tgt, **kwargs)

    @classmethod
    def pre_aggregate_hook(cls, attr: Attr, **kwargs: Any) -> None:
        """Spans are computed from the tokens, so nothing to validate."""


def _difference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x - y


class PairAggregator(Aggregator):
    """``pair``: combine an output with ``paired_attr`` element-wise (``aggregate_fn(self, other)``, default ``x - y``).

    Both outputs must have the same shapes and attributed positions. Tokens that differ are shown as
    ``"tok → other"`` (id -1). Note: inseq 0.7's default was ``other - self``; here it is ``self - other``.

    Example:
        >>> import torch
        >>> from inseq.data import GranularFeatureAttributionSequenceOutput
        >>> from inseq.utils import TokenWithId
        >>> toks = [TokenWithId(t, i) for i, t in enumerate(["ĠHel", "lo", "Ġworld", "!"])]
        >>> seq = GranularFeatureAttributionSequenceOutput(
        ...     source=toks[:2], target=toks, target_attributions=torch.rand(4, 2, 8), attr_pos_start=2)
        >>> diff = seq.aggregate("pair", paired_attr=seq)  # an output minus itself
        >>> float(diff.target_attributions.nan_to_num().abs().max())
        0.0
    """

    aggregator_name = "pair"
    aggregator_family = "pair"
    default_fn = staticmethod(_difference)

    @classmethod
    def pre_aggregate_hook(cls, attr: Attr, paired_attr: Any = None, **kwargs: Any) -> None:
        if not isinstance(paired_attr, FeatureAttributionSequenceOutput):
            raise ValueError(f"The 'pair' aggregator needs paired_attr=<sequence output>, got {paired_attr!r:.60}.")
        for name in ("source_attributions", "target_attributions"):
            a, b = getattr(attr, name), getattr(paired_attr, name)
            if (a is None) != (b is None) or (a is not None and a.shape != b.shape):
                shape = lambda t: None if t is None else tuple(t.shape)
                raise ValueError(f"Cannot pair outputs: {name} shapes differ ({shape(a)} vs {shape(b)}).")
        for name in ("attr_pos_start", "attr_pos_end"):
            if getattr(attr, name) != getattr(paired_attr, name):
                raise ValueError(
                    f"Cannot pair outputs: {name} differs ({getattr(attr, name)} vs {getattr(paired_attr, name)})."
                )
        if len(attr.source) != len(paired_attr.source) or len(attr.target) != len(paired_attr.target):
            raise ValueError("Cannot pair outputs: they have different numbers of source or target tokens.")

    @classmethod
    def _aggregate(cls, attr: Attr, paired_attr: Attr | None = None, aggregate_fn: Any = None, **kwargs: Any) -> Attr:
        if paired_attr is None:
            raise ValueError("The 'pair' aggregator needs paired_attr=<sequence output>.")
        fn = aggregate_fn if callable(aggregate_fn) else cls.default_fn

        def combine(a: Any, b: Any) -> Any:
            if a is None or b is None:
                return a
            if isinstance(a, dict):
                return {k: fn(a[k], b[k]) if k in b else a[k] for k in a}
            return fn(a, b)

        def pair_tokens(a: list[TokenWithId], b: list[TokenWithId]) -> list[TokenWithId]:
            return [x if x.token == y.token else TokenWithId(f"{x.token} → {y.token}", -1) for x, y in zip(a, b)]

        return _rebuild(
            attr,
            source=pair_tokens(attr.source, paired_attr.source),
            target=pair_tokens(attr.target, paired_attr.target),
            source_attributions=combine(attr.source_attributions, paired_attr.source_attributions),
            target_attributions=combine(attr.target_attributions, paired_attr.target_attributions),
            step_scores=combine(attr.step_scores, paired_attr.step_scores),
            sequence_scores=combine(attr.sequence_scores, paired_attr.sequence_scores),
        )


class SliceAggregator(ContiguousSpanAggregator):
    """``slices``: keep only the tokens in ``source_spans`` / ``target_spans`` (generated positions always kept).

    For decoder-only outputs the spans apply to the prompt (target positions before ``attr_pos_start``; a
    ``source_spans`` argument is read as prompt spans), and the source is the kept prompt.

    Example:
        >>> import torch
        >>> from inseq.data import GranularFeatureAttributionSequenceOutput
        >>> from inseq.utils import TokenWithId
        >>> toks = [TokenWithId(t, i) for i, t in enumerate(["ĠHel", "lo", "Ġworld", "!"])]
        >>> seq = GranularFeatureAttributionSequenceOutput(
        ...     source=toks[:2], target=toks, target_attributions=torch.rand(4, 2, 8), attr_pos_start=2)
        >>> [t.token for t in seq.aggregate("slices", target_spans=(0, 1)).target]  # the prompt's first token
        ['ĠHel', 'Ġworld', '!']
    """

    aggregator_name = "slices"
    default_fn = None

    @classmethod
    def _aggregate(cls, attr: Attr, source_spans: Any = None, target_spans: Any = None, **kwargs: Any) -> Attr:
        start = attr.attr_pos_start
        if _is_decoder_only(attr):
            given = "target_spans" if target_spans is not None else "source_spans"
            spans = validate_spans(target_spans if target_spans is not None else source_spans, start, "prompt", given)
            keep_src = None
        else:
            spans = validate_spans(target_spans, len(attr.target), "target")
            keep_src = (
                _span_indices(validate_spans(source_spans, len(attr.source), "source")) if source_spans else None
            )
        keep_tgt = None
        if spans:
            keep_tgt = sorted({i for i in _span_indices(spans) if i < start} | set(range(start, len(attr.target))))
        changes: dict[str, Any] = {}
        if keep_src is not None:
            changes["source"] = [attr.source[i] for i in keep_src]
            if attr.source_attributions is not None:
                changes["source_attributions"] = attr.source_attributions[keep_src]
        if keep_tgt is not None:
            new_start = sum(1 for i in keep_tgt if i < start)
            changes.update(target=[attr.target[i] for i in keep_tgt], attr_pos_start=new_start)
            changes["attr_pos_end"] = new_start + attr.num_steps
            if attr.target_attributions is not None:
                rows = [i for i in keep_tgt if i < attr.target_attributions.shape[0]]
                changes["target_attributions"] = attr.target_attributions[rows]
            if _is_decoder_only(attr):
                changes["source"] = changes["target"][:new_start]
        if attr.sequence_scores is not None:
            changes["sequence_scores"] = {
                k: _slice_sequence_score(k, v, keep_src, keep_tgt) for k, v in attr.sequence_scores.items()
            }
        return _rebuild(attr, **changes)

    @classmethod
    def pre_aggregate_hook(cls, attr: Attr, **kwargs: Any) -> None:
        """Spans are validated while slicing."""


def _span_indices(spans: list[Span]) -> list[int]:
    return [i for s, e in spans for i in range(s, e)]


def _slice_sequence_score(name: str, tensor: torch.Tensor, src: list | None, tgt: list | None) -> torch.Tensor:
    dims = [src, src] if name.startswith("encoder") else [tgt, tgt] if name.startswith("decoder") else [src]
    for dim, keep in enumerate(dims[: tensor.ndim]):
        if keep is not None and all(i < tensor.shape[dim] for i in keep):
            tensor = tensor.index_select(dim, torch.tensor(keep, dtype=torch.long))
    return tensor


def slice_span(attr: Attr, index: slice) -> dict[str, Span]:
    """Translate ``seq[a:b]`` into ``slices`` aggregator arguments (source for enc-dec, prompt for decoder-only)."""
    if _is_decoder_only(attr):
        start, stop, _ = index.indices(attr.attr_pos_start)
        return {"target_spans": (start, stop)}
    start, stop, _ = index.indices(len(attr.source))
    return {"source_spans": (start, stop)}


# --------------------------------------------------------------------------------------------------------------------
# Registry, pipelines and resolution of aggregate() arguments
# --------------------------------------------------------------------------------------------------------------------

AGGREGATORS: Registry[type[Aggregator]] = Registry("aggregator")


def register_aggregator(cls: type[Aggregator], overwrite: bool = False) -> type[Aggregator]:
    """Register an :class:`Aggregator` subclass under its ``aggregator_name`` (usable as a decorator).

    Example:
        >>> class Keep(SequenceAttributionAggregator):
        ...     aggregator_name = "keep_example"
        >>> _ = register_aggregator(Keep, overwrite=True)
        >>> "keep_example" in list_aggregators()
        True
    """
    if not (isinstance(cls, type) and issubclass(cls, Aggregator)) or not cls.aggregator_name:
        raise ValueError(f"{cls!r} must be an Aggregator subclass with a non-empty aggregator_name.")
    AGGREGATORS.register(cls.aggregator_name, cls, overwrite=overwrite)
    return cls


for _agg in (
    SequenceAttributionAggregator,
    ContiguousSpanAggregator,
    SubwordAggregator,
    StringSplitAggregator,
    PairAggregator,
    SliceAggregator,
):
    register_aggregator(_agg)


def list_aggregators() -> list[str]:
    """Identifiers of the registered aggregators.

    Example:
        >>> list_aggregators()[:6]
        ['scores', 'spans', 'subwords', 'split', 'pair', 'slices']
    """
    return AGGREGATORS.keys()


class AggregatorPipeline:
    """A sequence of aggregators applied in order, each with its own aggregation function.

    Args:
        aggregators: aggregator ids or classes; an aggregation-function id (``"mean"``) means ``("scores", fn)``.
        aggregate_fn: one function (id, callable or None) per aggregator.

    Example:
        >>> pipe = AggregatorPipeline(["subwords", "vnorm"])
        >>> [(cls.aggregator_name, fn) for cls, fn in pipe.steps]
        [('subwords', None), ('scores', 'vnorm')]
    """

    def __init__(self, aggregators: Sequence[Any], aggregate_fn: Sequence[Any] | None = None) -> None:
        aggregators = list(aggregators)
        fns = list(aggregate_fn) if aggregate_fn is not None else [None] * len(aggregators)
        if len(fns) != len(aggregators):
            raise ValueError(f"Got {len(aggregators)} aggregators but {len(fns)} aggregate_fn values.")
        where = (lambda i: f"aggregator[{i}]") if len(aggregators) > 1 else (lambda i: "aggregator")
        self.steps: list[tuple[type[Aggregator], Any]] = [
            _resolve_step(a, f, where(i)) for i, (a, f) in enumerate(zip(aggregators, fns))
        ]

    def aggregate(
        self, attr: Attr, do_pre_aggregation_checks: bool = True, do_post_aggregation_checks: bool = True, **kwargs
    ) -> Attr:
        """Apply every step; post-aggregation checks of all steps run once on the final result."""
        kwargs.pop("aggregate_fn", None)
        check_aggregate_kwargs(self.steps, kwargs)
        if not self.steps:
            return copy.deepcopy(attr)
        for cls, fn in self.steps:
            attr = cls.aggregate(
                attr,
                aggregate_fn=fn,
                do_pre_aggregation_checks=do_pre_aggregation_checks,
                do_post_aggregation_checks=False,
                **kwargs,
            )
        if do_post_aggregation_checks:
            for cls, _ in self.steps:
                cls.post_aggregate_hook(attr, **kwargs)
        return attr

    def __repr__(self) -> str:
        return f"AggregatorPipeline({[(cls.aggregator_name, fn) for cls, fn in self.steps]})"


def _resolve_step(aggregator: Any, aggregate_fn: Any, where: str = "aggregator") -> tuple[type[Aggregator], Any]:
    if isinstance(aggregator, tuple) and len(aggregator) == 2 and aggregate_fn is None:
        aggregator, aggregate_fn = aggregator
    if isinstance(aggregator, type) and issubclass(aggregator, Aggregator):
        return aggregator, aggregate_fn
    if isinstance(aggregator, str):
        if aggregator in AGGREGATORS:
            return AGGREGATORS.get(aggregator), aggregate_fn
        if aggregator in AGGREGATION_FUNCTIONS:
            if aggregate_fn is not None:
                raise ValueError(
                    f"{aggregator!r} is an aggregation function, so aggregate_fn={aggregate_fn!r} cannot be given too. "
                    f"Use aggregator='scores', aggregate_fn={aggregate_fn!r} instead."
                )
            return SequenceAttributionAggregator, aggregator
    raise ValueError(
        f"Unknown aggregator {aggregator!r} ({where}={aggregator!r}). Valid: aggregator ids ({', '.join(AGGREGATORS)}), aggregation function "
        f"ids ({', '.join(AGGREGATION_FUNCTIONS)}), Aggregator classes, lists of these or an AggregatorPipeline."
    )


def resolve_aggregator(aggregator: Any, aggregate_fn: Any = None) -> AggregatorPipeline:
    """Turn any accepted ``aggregate()`` argument into an :class:`AggregatorPipeline`.

    Example:
        >>> resolve_aggregator(["mean", ("spans", "sum")])
        AggregatorPipeline([('scores', 'mean'), ('spans', 'sum')])
    """
    if isinstance(aggregator, AggregatorPipeline):
        if aggregate_fn is not None:
            raise ValueError("aggregate_fn cannot be combined with an AggregatorPipeline (set it in the pipeline).")
        return aggregator
    if isinstance(aggregator, (list, tuple)) and not _is_pair(aggregator):
        fns = aggregate_fn if isinstance(aggregate_fn, (list, tuple)) else None
        if aggregate_fn is not None and fns is None:
            raise ValueError("With a list of aggregators, aggregate_fn must be a list of the same length.")
        return AggregatorPipeline(aggregator, fns)
    return AggregatorPipeline([aggregator], [aggregate_fn])


def _is_pair(value: Any) -> bool:
    """``("spans", "sum")``: an (aggregator, function) pair rather than a list of two aggregators."""
    if not (isinstance(value, tuple) and len(value) == 2):
        return False
    agg, fn = value
    is_agg = agg in AGGREGATORS if isinstance(agg, str) else isinstance(agg, type) and issubclass(agg, Aggregator)
    is_fn = fn in AGGREGATION_FUNCTIONS if isinstance(fn, str) else callable(fn) and not isinstance(fn, type)
    return is_agg and is_fn

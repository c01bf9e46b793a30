"""Attribution output classes: per-step outputs, per-sequence outputs and the user-facing container.

The engine builds :class:`FeatureAttributionSequenceOutput` objects (or one of their subclasses, which only differ in
their default aggregation) and wraps them in a :class:`FeatureAttributionOutput`.

Shapes (per sequence, ``n_steps = attr_pos_end - attr_pos_start``):

* ``source_attributions``: ``[len(source), n_steps, *extra]`` or None (decoder-only models);
* ``target_attributions``: ``[len(target), n_steps, *extra]`` or None, NaN where the attributed row is at or after
  the generated position;
* ``step_scores``: ``{name: [n_steps]}``.

Example:
    >>> import torch
    >>> from inseq.utils.typing import TokenWithId
    >>> toks = [TokenWithId("a", 1), TokenWithId("b", 2)]
    >>> seq = FeatureAttributionSequenceOutput(
    ...     source=toks, target=toks, source_attributions=torch.ones(2, 1, 3), attr_pos_start=1, attr_pos_end=2
    ... )
    >>> seq.aggregate().source_attributions
    tensor([[0.5000],
            [0.5000]])
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ..utils.checks import check_index, describe
from ..utils.errors import LengthMismatchError, UnknownStepScoreError
from ..utils.typing import TokenWithId
from .aggregation_functions import default_aggregate_map
from .data_utils import AggregableMixin, TensorWrapper, fields_equal, public_fields, to_float32

if TYPE_CHECKING:
    import pandas

__all__ = [
    "CoarseFeatureAttributionSequenceOutput",
    "CoarseFeatureAttributionStepOutput",
    "FeatureAttributionOutput",
    "FeatureAttributionSequenceOutput",
    "FeatureAttributionStepOutput",
    "GranularFeatureAttributionSequenceOutput",
    "GranularFeatureAttributionStepOutput",
    "MultiDimensionalFeatureAttributionSequenceOutput",
    "MultiDimensionalFeatureAttributionStepOutput",
    "merge_attributions",
]

AggregatorSpec = Any  # str | type | list | AggregatorPipeline | None; resolved by inseq.data.aggregator

_BASE_DIM_NAMES = {0: "Input Tokens", 1: "Generated Tokens"}


# --------------------------------------------------------------------------------------------------------------------
# Sequence outputs
# --------------------------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class FeatureAttributionSequenceOutput(TensorWrapper, AggregableMixin):
    """Attributions of one generated sequence.

    Private fields (``_aggregator``, ``_dict_aggregate_fn``, ``_attribution_dim_names``, ``_num_dimensions``) are
    per-instance configuration; when omitted they are filled with the class defaults. Unlike inseq 0.7, creating an
    output never modifies a module-level dictionary.

    Args:
        source: source tokens (encoder-decoder) or prompt tokens (decoder-only).
        target: full target tokens (decoder-only: prompt + generation).
        source_attributions: ``[len(source), n_steps, *extra]`` or None.
        target_attributions: ``[len(target), n_steps, *extra]`` or None.
        step_scores: ``{name: Tensor[n_steps]}``.
        sequence_scores: extra per-sequence tensors (e.g. encoder self-attention) or None.
        attr_pos_start: first attributed target position.
        attr_pos_end: one past the last attributed target position (defaults to ``len(target)``).

    Example:
        >>> import torch
        >>> from inseq.utils.typing import TokenWithId
        >>> tgt = [TokenWithId("Hi", 1), TokenWithId("there", 2)]
        >>> out = FeatureAttributionSequenceOutput(
        ...     source=tgt[:1], target=tgt, target_attributions=torch.tensor([[1.0], [float("nan")]]),
        ...     attr_pos_start=1, attr_pos_end=2)
        >>> len(out.target), out.target_attributions.shape
        (2, torch.Size([2, 1]))
    """

    source: list[TokenWithId]
    target: list[TokenWithId]
    source_attributions: torch.Tensor | None = None
    target_attributions: torch.Tensor | None = None
    step_scores: dict[str, torch.Tensor] | None = None
    sequence_scores: dict[str, torch.Tensor] | None = None
    attr_pos_start: int = 0
    attr_pos_end: int | None = None
    _aggregator: AggregatorSpec = field(default=None, repr=False)
    _dict_aggregate_fn: dict[str, Any] | None = field(default=None, repr=False)
    _attribution_dim_names: dict[int, str] | None = field(default=None, repr=False)
    _num_dimensions: int | None = field(default=None, repr=False)

    _extra_dim_names: ClassVar[dict[int, str]] = {}

    def __post_init__(self) -> None:
        self.source = list(self.source) if self.source is not None else []
        self.target = list(self.target) if self.target is not None else []
        self.source_attributions = to_float32(self.source_attributions)
        self.target_attributions = to_float32(self.target_attributions)
        self.step_scores = to_float32(self.step_scores) if self.step_scores is not None else {}
        self.sequence_scores = to_float32(self.sequence_scores)
        if self.attr_pos_end is None:
            self.attr_pos_end = self.attr_pos_start + self._infer_num_steps(
                default=len(self.target) - self.attr_pos_start
            )
        if self._dict_aggregate_fn is None:
            self._dict_aggregate_fn = self._default_aggregate_map()
        if self._attribution_dim_names is None:
            self._attribution_dim_names = {**_BASE_DIM_NAMES, **self._extra_dim_names}
        if self._num_dimensions is None:
            self._num_dimensions = max(self.attributions_ndim - 2, 0)
        if self._aggregator is None:
            self._aggregator = self._default_aggregator()
        self._check_shapes()

    # -- construction helpers ----------------------------------------------------------------------------------------

    def _infer_num_steps(self, default: int) -> int:
        for tensor in (self.source_attributions, self.target_attributions):
            if tensor is not None and tensor.ndim >= 2:
                return tensor.shape[1]
        for score in self.step_scores.values():
            return score.shape[0]
        return default

    def _default_aggregate_map(self) -> dict[str, Any]:
        return default_aggregate_map()

    def _default_aggregator(self) -> AggregatorSpec:
        return "scores"

    def _check_shapes(self) -> None:
        n_steps = self.attr_pos_end - self.attr_pos_start
        checks = [("source_attributions", self.source_attributions, len(self.source))]
        checks.append(("target_attributions", self.target_attributions, len(self.target)))
        for name, tensor, n_rows in checks:
            if tensor is None:
                continue
            if tensor.ndim < 2:
                raise LengthMismatchError(f"{name} must have at least 2 dimensions, got shape {tuple(tensor.shape)}.")
            if tensor.shape[0] > n_rows or (name == "source_attributions" and tensor.shape[0] != n_rows):
                raise LengthMismatchError(
                    f"{name} has {tensor.shape[0]} rows but there are {n_rows} {name.split('_')[0]} tokens."
                )
            if tensor.shape[1] != n_steps:
                raise LengthMismatchError(
                    f"{name} has {tensor.shape[1]} columns but attr_pos_end - attr_pos_start = {n_steps}."
                )
        for name, score in self.step_scores.items():
            if score.ndim != 1 or score.shape[0] != n_steps:
                raise LengthMismatchError(
                    f"Step score {name!r} has shape {tuple(score.shape)}, expected ({n_steps},) (one value per step)."
                )

    # -- basic properties --------------------------------------------------------------------------------------------

    @property
    def attributions_ndim(self) -> int:
        """Number of dimensions of the attribution tensors (2 once fully aggregated; 0 when there are none)."""
        dims = [t.ndim for t in (self.source_attributions, self.target_attributions) if t is not None]
        return max(dims) if dims else 0

    @property
    def num_steps(self) -> int:
        """Number of attributed generation steps (``attr_pos_end - attr_pos_start``)."""
        return self.attr_pos_end - self.attr_pos_start

    @property
    def generated_tokens(self) -> list[TokenWithId]:
        """The attributed target tokens (``target[attr_pos_start:attr_pos_end]``)."""
        return self.target[self.attr_pos_start : self.attr_pos_end]

    @property
    def default_aggregator(self) -> AggregatorSpec:
        """The aggregator applied by ``aggregate()`` / ``show()`` when none is given."""
        return self._default_aggregator() if self._aggregator is None else self._aggregator

    @property
    def config(self) -> dict[str, Any]:
        """The private per-instance configuration."""
        return {
            "aggregator": self.default_aggregator,
            "dict_aggregate_fn": self._dict_aggregate_fn,
            "attribution_dim_names": self._attribution_dim_names,
            "num_dimensions": self._num_dimensions,
        }

    @property
    def minimum(self) -> float:
        """Smallest attribution value over both tensors (NaN read as 0, so the result is never above 0)."""
        values = [t.nan_to_num(0.0).min().item() for t in self._tensors() if t.numel()]
        return min([0.0, *values])

    @property
    def maximum(self) -> float:
        """Largest attribution value over both tensors (NaN read as 0, so the result is never below 0)."""
        values = [t.nan_to_num(0.0).max().item() for t in self._tensors() if t.numel()]
        return max([0.0, *values])

    def _tensors(self) -> list[torch.Tensor]:
        return [t for t in (self.source_attributions, self.target_attributions) if t is not None]

    # -- dunders -----------------------------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return fields_equal(public_fields(self), public_fields(other))

    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, index: int | slice) -> FeatureAttributionSequenceOutput:
        """Keep only some attributed tokens: source tokens (encoder-decoder) or prompt tokens (decoder-only).

        Generated positions are always kept. Uses the ``slices`` aggregator.
        """
        if isinstance(index, int):
            length = len(self.source) if self.source_attributions is not None else self.attr_pos_start
            check_index("Sequence output (attributed tokens)", index, length)
            start = index + length if index < 0 else index
            index = slice(start, start + 1)
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError(f"Sequence outputs can be indexed by an int or a step-1 slice, got {index!r}.")
        from .aggregator import slice_span

        return self.aggregate("slices", **slice_span(self, index))

    def __sub__(self, other: FeatureAttributionSequenceOutput) -> FeatureAttributionSequenceOutput:
        """Pairwise difference ``self - other`` (uses the ``pair`` aggregator).

        Note: inseq 0.7 returned ``other - self`` here; this implementation returns ``self - other``.
        """
        if not isinstance(other, FeatureAttributionSequenceOutput):
            return NotImplemented
        return self.aggregate("pair", paired_attr=other, do_post_aggregation_checks=False)

    # -- aggregation -------------------------------------------------------------------------------------------------

    def aggregate(
        self,
        aggregator: AggregatorSpec = None,
        aggregate_fn: Any = None,
        do_pre_aggregation_checks: bool = True,
        do_post_aggregation_checks: bool = True,
        **kwargs: Any,
    ) -> FeatureAttributionSequenceOutput:
        """Return an aggregated copy (``self`` is left unchanged).

        Args:
            aggregator: None (the default for this output class), an aggregator id (``"spans"``), an aggregation
                function id (``"mean"``), an aggregator class, a list of those or of ``(aggregator, fn)`` pairs, or an
                :class:`~inseq.data.aggregator.AggregatorPipeline`.
            aggregate_fn: aggregation function (id or callable) for a single aggregator, or one per pipeline step.
            do_pre_aggregation_checks: validate inputs before aggregating.
            do_post_aggregation_checks: validate the result.
            **kwargs: aggregator options (``source_spans``, ``special_chars``, ``normalize``, ``tokenizer``...).

        Example:
            >>> out.aggregate("subwords").aggregate()  # doctest: +SKIP
        """
        from .aggregator import resolve_aggregator

        if aggregator is None:
            aggregator = self.default_aggregator
        agg = resolve_aggregator(aggregator, aggregate_fn)
        return agg.aggregate(
            self,
            do_pre_aggregation_checks=do_pre_aggregation_checks,
            do_post_aggregation_checks=do_post_aggregation_checks,
            **kwargs,
        )

    def weight_attributions(self, step_fn_id: str) -> FeatureAttributionSequenceOutput:
        """Multiply each (default-aggregated) generated-token column by a step score, in place.

        The attributions are replaced by their weighted 2-D version and the default aggregator becomes empty.

        Raises:
            KeyError: if ``step_fn_id`` is not one of the step scores.
        """
        if step_fn_id not in self.step_scores:
            raise UnknownStepScoreError(
                f"Step score {step_fn_id!r} not found. Available: {', '.join(self.step_scores) or 'none'}."
            )
        aggregated = self.aggregate()
        weights = self.step_scores[step_fn_id].unsqueeze(0)
        if aggregated.source_attributions is not None:
            self.source_attributions = aggregated.source_attributions * weights
        if aggregated.target_attributions is not None:
            self.target_attributions = aggregated.target_attributions * weights
        self._aggregator = []
        self._num_dimensions = 0
        return self

    # -- views and exports -------------------------------------------------------------------------------------------

    def get_scores_dicts(
        self, aggregator: AggregatorSpec = None, do_aggregation: bool = True, **kwargs: Any
    ) -> dict[str, dict[tuple[int, str], dict[Any, float]]]:
        """Scores as nested dicts keyed by ``(position, token)`` (NaN entries are left out).

        Returns:
            ``{"source_attributions": {(tgt_idx, tgt_tok): {(src_idx, src_tok): score}}, "target_attributions": {...},
            "step_scores": {(tgt_idx, tgt_tok): {score_name: value}}}``.
        """
        attr = self.aggregate(aggregator, **kwargs) if do_aggregation else self
        result: dict[str, dict] = {"source_attributions": {}, "target_attributions": {}, "step_scores": {}}
        for step, gen_tok in enumerate(attr.generated_tokens):
            key = (attr.attr_pos_start + step, gen_tok.token)
            for name, tensor, toks in attr._sides():
                if tensor.ndim != 2:
                    raise ValueError(f"get_scores_dicts needs 2-D attributions, got {name} of {tensor.ndim} dims.")
                column = tensor[:, step].tolist()
                scores = {(i, toks[i].token): v for i, v in enumerate(column) if v == v}
                result[f"{name}_attributions"][key] = scores
            result["step_scores"][key] = {n: s[step].item() for n, s in attr.step_scores.items()}
        return result

    def _sides(self) -> list[tuple[str, torch.Tensor, list[TokenWithId]]]:
        sides = []
        if self.source_attributions is not None:
            sides.append(("source", self.source_attributions, self.source))
        if self.target_attributions is not None:
            sides.append(("target", self.target_attributions, self.target))
        return sides

    def to_dataframe(
        self, aggregator: AggregatorSpec = None, do_aggregation: bool = True, dropna: bool = True, **kwargs: Any
    ) -> pandas.DataFrame:
        """Long-format table: one row per (generated token, attributed token, side) with the aggregated score.

        Columns: ``sequence_idx``, ``generated_idx``, ``generated_token``, ``attributed_idx``,
        ``attributed_token``, ``side`` (``"source"`` / ``"target"``), ``score``, then one column per step score
        (repeated on every row of its generated token). ``dropna`` drops NaN cells (future target tokens).

        Raises:
            ImportError: if pandas is not installed.

        Example:
            >>> df = out.to_dataframe()  # doctest: +SKIP
            >>> df.pivot_table(index="attributed_token", columns="generated_token", values="score")  # doctest: +SKIP
        """
        from .dataframe import sequences_to_dataframe

        return sequences_to_dataframe([self], aggregator, do_aggregation, dropna, **kwargs)

    def decode_tokens(self, tokenizer: Any) -> FeatureAttributionSequenceOutput:
        """Replace token strings by their decoded form (tokens with id < 0, e.g. merged spans, are kept), in place."""

        def decode(tokens: list[TokenWithId]) -> list[TokenWithId]:
            return [TokenWithId(tokenizer.decode([t.id]), t.id) if t.id >= 0 else t for t in tokens]

        self.source = decode(self.source)
        self.target = decode(self.target)
        return self

    def show(
        self,
        min_val: float | None = None,
        max_val: float | None = None,
        max_show_size: int | None = None,
        show_dim: int | str | None = None,
        slice_dims: dict | None = None,
        display: bool = True,
        return_html: bool = False,
        return_figure: bool = False,
        aggregator: AggregatorSpec = None,
        do_aggregation: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Aggregate (with ``aggregator`` or the default) and show a heatmap (rich console or notebook HTML).

        When the result still has extra dimensions, the granular view is shown instead (as in inseq 0.7).

        Returns:
            The HTML string when ``return_html``, a matplotlib figure when ``return_figure``, else None.

        Example:
            >>> html = seq.show(display=False, return_html=True)  # doctest: +SKIP
        """
        from ..viz import show_attributions, show_granular_attributions
        from ..viz.validation import check_view_dims

        check_view_dims(show_dim, slice_dims, max_show_size)
        attr = self.aggregate(aggregator, **kwargs) if do_aggregation else self
        if return_figure:
            if return_html:
                raise ValueError("return_html and return_figure are mutually exclusive.")
            return attr.plot(min_val=min_val, max_val=max_val, do_aggregation=False)
        if attr.attributions_ndim > 2:
            return show_granular_attributions(
                attr, max_show_size or 20, min_val, max_val, show_dim, slice_dims, display, return_html
            )
        return show_attributions(attr, min_val=min_val, max_val=max_val, display=display, return_html=return_html)

    def show_granular(
        self,
        min_val: float | None = None,
        max_val: float | None = None,
        max_show_size: int = 20,
        show_dim: int | str | None = None,
        slice_dims: dict | None = None,
        display: bool = True,
        return_html: bool = False,
        return_figure: bool = False,
        aggregator: AggregatorSpec = None,
        do_aggregation: bool = False,
        **kwargs: Any,
    ) -> str | None:
        """Granular view: the N-D attributions with their extra dimensions selectable (sliders, ``show_dim``).

        See :func:`inseq.viz.show_granular_attributions`. No aggregation unless ``do_aggregation=True``.

        Example:
            >>> html = seq.show_granular(display=False, return_html=True, show_dim="Attention Head")  # doctest: +SKIP
        """
        from ..viz import show_granular_attributions

        attr = self.aggregate(aggregator, **kwargs) if do_aggregation else self
        return show_granular_attributions(
            attr, max_show_size, min_val, max_val, show_dim, slice_dims, display, return_html, return_figure
        )

    def show_tokens(
        self,
        min_val: float | None = None,
        max_val: float | None = None,
        display: bool = True,
        return_html: bool = False,
        return_figure: bool = False,
        replace_char: dict[str, str] | None = None,
        wrap_after: int | str | list[str] | tuple[str, ...] | None = None,
        step_score_highlight: str | None = None,
        aggregator: AggregatorSpec = None,
        do_aggregation: bool = True,
        **kwargs: Any,
    ) -> str | None:
        """Token view: the generated text, each token expandable into its highlighted source and target.

        See :func:`inseq.viz.show_token_attributions`.

        Example:
            >>> html = seq.show_tokens(display=False, return_html=True, replace_char={"Ġ": " "})  # doctest: +SKIP
        """
        from ..viz import show_token_attributions

        attr = self.aggregate(aggregator, **kwargs) if do_aggregation else self
        return show_token_attributions(
            attr, min_val, max_val, display, return_html, return_figure, replace_char, wrap_after, step_score_highlight
        )

    def plot(
        self,
        min_val: float | None = None,
        max_val: float | None = None,
        aggregator: AggregatorSpec = None,
        do_aggregation: bool = True,
        replace_char: dict[str, str] | None = None,
        annotate: bool | None = None,
        title: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """A matplotlib ``Figure``: token heatmaps with a colour bar and the step scores as strips.

        See :func:`inseq.viz.plot_attributions`; ``kwargs`` go to :meth:`aggregate`.

        Example:
            >>> seq.plot().savefig("attributions.png")  # doctest: +SKIP
        """
        from ..viz import plot_attributions

        attr = self.aggregate(aggregator, **kwargs) if do_aggregation else self
        return plot_attributions(attr, min_val, max_val, replace_char=replace_char, annotate=annotate, title=title)

    def _repr_html_(self) -> str:
        from ..viz import show_attributions

        return show_attributions(self, display=False, return_html=True) or ""

    def __repr__(self) -> str:
        parts = [f"{len(self.source)} source tokens", f"{len(self.target)} target tokens"]
        parts.append(f"{self.num_steps} attributed steps ({self.attr_pos_start}..{self.attr_pos_end})")
        for name, tensor in (
            ("source_attributions", self.source_attributions),
            ("target_attributions", self.target_attributions),
        ):
            if tensor is not None:
                parts.append(f"{name}={list(tensor.shape)} {str(tensor.dtype).replace('torch.', '')}")
        if self.step_scores:
            parts.append(f"step_scores={list(self.step_scores)}")
        return f"{type(self).__name__}({', '.join(parts)})"


@dataclass(eq=False, repr=False)
class GranularFeatureAttributionSequenceOutput(FeatureAttributionSequenceOutput):
    """Sequence output with a hidden-size last dimension (gradient methods); default aggregation ``"vnorm"``.

    Example:
        >>> import torch
        >>> from inseq.data import GranularFeatureAttributionSequenceOutput
        >>> from inseq.utils import TokenWithId
        >>> toks = [TokenWithId(t, i) for i, t in enumerate(["ĠHel", "lo", "Ġworld", "!"])]
        >>> seq = GranularFeatureAttributionSequenceOutput(
        ...     source=toks[:2], target=toks, target_attributions=torch.rand(4, 2, 8), attr_pos_start=2)
        >>> seq.aggregate().target_attributions.shape  # L2 norm over the hidden size
        torch.Size([4, 2])
    """

    _extra_dim_names: ClassVar[dict[int, str]] = {2: "Embedding Dimension"}

    def _default_aggregator(self) -> AggregatorSpec:
        return "vnorm"

    def _default_aggregate_map(self) -> dict[str, Any]:
        agg_map = default_aggregate_map()
        agg_map["step_scores"]["spans"]["deltas"] = "absmax"
        return agg_map


@dataclass(eq=False, repr=False)
class CoarseFeatureAttributionSequenceOutput(FeatureAttributionSequenceOutput):
    """Sequence output already 2-D (e.g. occlusion); the default aggregation does nothing.

    Example:
        >>> import torch
        >>> from inseq.utils import TokenWithId
        >>> toks = [TokenWithId(t, i) for i, t in enumerate(["a", "b", "c"])]
        >>> seq = CoarseFeatureAttributionSequenceOutput(
        ...     source=toks[:1], target=toks, target_attributions=torch.rand(3, 2), attr_pos_start=1)
        >>> seq.aggregate().target_attributions.shape
        torch.Size([3, 2])
    """

    def _default_aggregator(self) -> AggregatorSpec:
        return []


@dataclass(eq=False, repr=False)
class MultiDimensionalFeatureAttributionSequenceOutput(FeatureAttributionSequenceOutput):
    """Sequence output with model-internal extra dims (attention: layers, heads); default: one ``"mean"`` per dim.

    Example:
        >>> import torch
        >>> from inseq.utils import TokenWithId
        >>> toks = [TokenWithId(t, i) for i, t in enumerate(["a", "b", "c"])]
        >>> seq = MultiDimensionalFeatureAttributionSequenceOutput(
        ...     source=toks[:1], target=toks, target_attributions=torch.rand(3, 2, 4, 2), attr_pos_start=1,
        ...     _num_dimensions=2)  # 4 layers, 2 heads
        >>> seq.aggregate().target_attributions.shape
        torch.Size([3, 2])
    """

    _extra_dim_names: ClassVar[dict[int, str]] = {2: "Model Layer", 3: "Attention Head"}

    def _default_aggregator(self) -> AggregatorSpec:
        return ["mean"] * (self._num_dimensions or 0)


# --------------------------------------------------------------------------------------------------------------------
# Step outputs
# --------------------------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class FeatureAttributionStepOutput(TensorWrapper):
    """Attributions of one generation step for a batch.

    Args:
        source_attributions: ``[batch, src_len, *extra]`` or None.
        step_scores: ``{name: Tensor[batch]}``.
        target_attributions: ``[batch, prefix_len, *extra]`` or None.
        sequence_scores: extra tensors or None.
        source: source tokens per batch item.
        prefix: target prefix tokens per batch item.
        target: generated token per batch item (lists of one token).

    Example:
        >>> import torch
        >>> FeatureAttributionStepOutput(step_scores={"probability": torch.tensor([0.5])}).sequence_cls.__name__
        'FeatureAttributionSequenceOutput'
    """

    source_attributions: torch.Tensor | None = None
    step_scores: dict[str, torch.Tensor] | None = None
    target_attributions: torch.Tensor | None = None
    sequence_scores: dict[str, torch.Tensor] | None = None
    source: list[list[TokenWithId]] | None = None
    prefix: list[list[TokenWithId]] | None = None
    target: list[list[TokenWithId]] | None = None
    _num_dimensions: int | None = field(default=None, repr=False)

    _sequence_cls: ClassVar[type[FeatureAttributionSequenceOutput]] = FeatureAttributionSequenceOutput

    def __post_init__(self) -> None:
        self.source_attributions = to_float32(self.source_attributions)
        self.target_attributions = to_float32(self.target_attributions)
        self.step_scores = to_float32(self.step_scores) if self.step_scores is not None else {}
        self.sequence_scores = to_float32(self.sequence_scores) if self.sequence_scores is not None else {}

    @property
    def sequence_cls(self) -> type[FeatureAttributionSequenceOutput]:
        """The sequence output class matching this step output class."""
        return self._sequence_cls

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return fields_equal(public_fields(self), public_fields(other))

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False)
class GranularFeatureAttributionStepOutput(FeatureAttributionStepOutput):
    """Step output of gradient-like methods (extra hidden-size dimension).

    Example:
        >>> GranularFeatureAttributionStepOutput().sequence_cls.__name__
        'GranularFeatureAttributionSequenceOutput'
    """

    _sequence_cls: ClassVar[type[FeatureAttributionSequenceOutput]] = GranularFeatureAttributionSequenceOutput


@dataclass(eq=False)
class CoarseFeatureAttributionStepOutput(FeatureAttributionStepOutput):
    """Step output already reduced to one score per token (e.g. occlusion).

    Example:
        >>> CoarseFeatureAttributionStepOutput().sequence_cls.__name__
        'CoarseFeatureAttributionSequenceOutput'
    """

    _sequence_cls: ClassVar[type[FeatureAttributionSequenceOutput]] = CoarseFeatureAttributionSequenceOutput


@dataclass(eq=False)
class MultiDimensionalFeatureAttributionStepOutput(FeatureAttributionStepOutput):
    """Step output with ``_num_dimensions`` model-internal extra dims (e.g. layers and heads).

    Example:
        >>> MultiDimensionalFeatureAttributionStepOutput().sequence_cls.__name__
        'MultiDimensionalFeatureAttributionSequenceOutput'
    """

    _sequence_cls: ClassVar[type[FeatureAttributionSequenceOutput]] = MultiDimensionalFeatureAttributionSequenceOutput


# --------------------------------------------------------------------------------------------------------------------
# Container
# --------------------------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class FeatureAttributionOutput:
    """All the attributions of one ``attribute()`` call, with run information.

    Args:
        sequence_attributions: one output per attributed sequence.
        step_attributions: per-step outputs (only when requested), else None.
        info: run information (model, method, texts, parameters...).

    Example:
        >>> out = FeatureAttributionOutput(sequence_attributions=[], info={"model_name": "gpt2"})
        >>> len(out), out.info["model_name"]
        (0, 'gpt2')
    """

    sequence_attributions: list[FeatureAttributionSequenceOutput]
    step_attributions: list[FeatureAttributionStepOutput] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    _merge_match_info_fields: ClassVar[tuple[str, ...]] = (
        "attribute_target",
        "attribution_method",
        "constrained_decoding",
        "include_eos_baseline",
        "model_class",
        "model_name",
        "step_scores",
        "tokenizer_class",
        "tokenizer_name",
    )

    def __post_init__(self) -> None:
        self.sequence_attributions = list(self.sequence_attributions)
        if self.info is None:
            self.info = {}

    def __getitem__(self, index: int | slice) -> Any:
        check_index("FeatureAttributionOutput", index, len(self.sequence_attributions))
        return self.sequence_attributions[index]

    def __len__(self) -> int:
        return len(self.sequence_attributions)

    def __iter__(self) -> Iterator[FeatureAttributionSequenceOutput]:
        return iter(self.sequence_attributions)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureAttributionOutput):
            return NotImplemented
        return (
            fields_equal(self.info, other.info)
            and self.sequence_attributions == other.sequence_attributions
            and (self.step_attributions or None) == (other.step_attributions or None)
        )

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: FeatureAttributionOutput) -> FeatureAttributionOutput:
        if not isinstance(other, FeatureAttributionOutput):
            return NotImplemented
        return merge_attributions([self, other])

    def __radd__(self, other: Any) -> FeatureAttributionOutput:
        if other == 0:  # support sum([out1, out2])
            return self
        return self.__add__(other)

    def save(
        self,
        path: str | PathLike,
        overwrite: bool = False,
        compress: bool = False,
        ndarray_compact: bool = True,
        use_primitives: bool = False,
        split_sequences: bool = False,
        scores_precision: str = "float32",
    ) -> None:
        """Save to JSON in inseq 0.7's format (see :func:`inseq.data.serialization.save_attributions`).

        Example:
            >>> out.save("attributions.json", overwrite=True)  # doctest: +SKIP
        """
        from .serialization import save_attributions

        save_attributions(
            self,
            path,
            overwrite=overwrite,
            compress=compress,
            ndarray_compact=ndarray_compact,
            use_primitives=use_primitives,
            split_sequences=split_sequences,
            scores_precision=scores_precision,
        )

    @staticmethod
    def load(
        path: str | PathLike, decompress: bool = False, max_inflated_bytes: int | None = None
    ) -> FeatureAttributionOutput:
        """Load a file written by :meth:`save` (or by inseq 0.7); see :func:`inseq.data.serialization.load_attributions`.

        A gzip file is refused once it inflates past ``max_inflated_bytes`` (default ``$INSEQ_MAX_INFLATED_BYTES``,
        else 256 MiB).

        Example:
            >>> out = FeatureAttributionOutput.load("attributions.json")  # doctest: +SKIP
            >>> big = FeatureAttributionOutput.load("big.json.gz", max_inflated_bytes=2 << 30)  # doctest: +SKIP
        """
        from .serialization import load_attributions

        return load_attributions(path, decompress=decompress, max_inflated_bytes=max_inflated_bytes)

    def aggregate(self, aggregator: AggregatorSpec = None, **kwargs: Any) -> FeatureAttributionOutput:
        """Aggregate every sequence (see :meth:`FeatureAttributionSequenceOutput.aggregate`); returns a new output."""
        result = copy.deepcopy(self)
        result.sequence_attributions = [seq.aggregate(aggregator, **kwargs) for seq in self.sequence_attributions]
        return result

    def show(
        self,
        min_val: float | None = None,
        max_val: float | None = None,
        max_show_size: int | None = None,
        show_dim: int | str | None = None,
        slice_dims: dict | None = None,
        display: bool = True,
        return_html: bool = False,
        return_figure: bool = False,
        aggregator: AggregatorSpec = None,
        do_aggregation: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Show every sequence in one view (shared colour scale, metadata header from ``info``).

        Returns:
            The HTML when ``return_html``, a list of matplotlib figures when ``return_figure``, else None.

        Example:
            >>> html = out.show(display=False, return_html=True)  # doctest: +SKIP
        """
        from ..viz import show_attributions, show_granular_attributions
        from ..viz.validation import check_view_dims

        check_view_dims(show_dim, slice_dims, max_show_size)
        seqs = [s.aggregate(aggregator, **kwargs) if do_aggregation else s for s in self.sequence_attributions]
        if return_figure:
            if return_html:
                raise ValueError("return_html and return_figure are mutually exclusive.")
            return [s.plot(min_val=min_val, max_val=max_val, do_aggregation=False) for s in seqs]
        if any(s.attributions_ndim > 2 for s in seqs):
            return show_granular_attributions(
                seqs, max_show_size or 20, min_val, max_val, show_dim, slice_dims, display, return_html, info=self.info
            )
        return show_attributions(
            seqs, min_val=min_val, max_val=max_val, display=display, return_html=return_html, info=self.info
        )

    def show_granular(
        self,
        min_val: float | None = None,
        max_val: float | None = None,
        max_show_size: int = 20,
        show_dim: int | str | None = None,
        slice_dims: dict | None = None,
        display: bool = True,
        return_html: bool = False,
        return_figure: bool = False,
        aggregator: AggregatorSpec = None,
        do_aggregation: bool = False,
        **kwargs: Any,
    ) -> str | None:
        """Granular view of every sequence; see :meth:`FeatureAttributionSequenceOutput.show_granular`.

        Example:
            >>> html = out.show_granular(display=False, return_html=True)  # doctest: +SKIP
        """
        from ..viz import show_granular_attributions

        seqs = [s.aggregate(aggregator, **kwargs) if do_aggregation else s for s in self.sequence_attributions]
        return show_granular_attributions(
            seqs,
            max_show_size,
            min_val,
            max_val,
            show_dim,
            slice_dims,
            display,
            return_html,
            return_figure,
            info=self.info,
        )

    def show_tokens(
        self,
        min_val: float | None = None,
        max_val: float | None = None,
        display: bool = True,
        return_html: bool = False,
        return_figure: bool = False,
        replace_char: dict[str, str] | None = None,
        wrap_after: int | str | list[str] | tuple[str, ...] | None = None,
        step_score_highlight: str | None = None,
        aggregator: AggregatorSpec = None,
        do_aggregation: bool = True,
        **kwargs: Any,
    ) -> str | None:
        """Token view of every sequence; see :meth:`FeatureAttributionSequenceOutput.show_tokens`.

        Example:
            >>> html = out.show_tokens(display=False, return_html=True, step_score_highlight="probability")  # doctest: +SKIP
        """
        from ..viz import show_token_attributions

        seqs = [s.aggregate(aggregator, **kwargs) if do_aggregation else s for s in self.sequence_attributions]
        return show_token_attributions(
            seqs,
            min_val,
            max_val,
            display,
            return_html,
            return_figure,
            replace_char,
            wrap_after,
            step_score_highlight,
            info=self.info,
        )

    def plot(self, **kwargs: Any) -> list[Any]:
        """One matplotlib ``Figure`` per sequence (see :meth:`FeatureAttributionSequenceOutput.plot`).

        Example:
            >>> figures = out.plot()  # doctest: +SKIP
        """
        return [seq.plot(**kwargs) for seq in self.sequence_attributions]

    def save_plots(
        self, directory: str | PathLike, fmt: str = "png", dpi: int = 150, prefix: str = "sequence", **kwargs: Any
    ) -> list[Any]:
        """Save every sequence's figure as ``<directory>/<prefix>_<i>.<fmt>`` (png, svg or pdf); returns the paths.

        ``kwargs`` go to :meth:`FeatureAttributionSequenceOutput.plot`.

        Example:
            >>> out.save_plots("figures", fmt="pdf")  # doctest: +SKIP
        """
        from ..viz.figure import FORMATS

        if fmt not in FORMATS:
            raise ValueError(f"Unsupported figure format {fmt!r}; choose one of {', '.join(FORMATS)}.")
        from pathlib import Path

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for idx, seq in enumerate(self.sequence_attributions):
            path = folder / f"{prefix}_{idx}.{fmt}"
            seq.plot(**kwargs).savefig(path, format=fmt, dpi=dpi)
            paths.append(path)
        return paths

    def _repr_html_(self) -> str:
        return self.show(display=False, return_html=True) or ""

    def __repr__(self) -> str:
        info = [f"{k}={self.info[k]!r}" for k in ("model_name", "attribution_method") if self.info.get(k)]
        seqs = [repr(s) for s in self.sequence_attributions[:3]]
        if len(self.sequence_attributions) > 3:
            seqs.append(f"... {len(self.sequence_attributions) - 3} more")
        body = ", ".join([f"{len(self)} sequences", *info])
        return f"{type(self).__name__}({body}, sequence_attributions=[{', '.join(seqs)}])"

    def weight_attributions(self, step_fn_id: str) -> None:
        """Weight every sequence's attributions by a step score, in place (returns None, as in inseq)."""
        for seq in self.sequence_attributions:
            seq.weight_attributions(step_fn_id)

    def get_scores_dicts(self, aggregator: AggregatorSpec = None, do_aggregation: bool = True, **kwargs: Any) -> list:
        """One :meth:`FeatureAttributionSequenceOutput.get_scores_dicts` dict per sequence."""
        return [s.get_scores_dicts(aggregator, do_aggregation, **kwargs) for s in self.sequence_attributions]

    def decode_tokens(self, tokenizer: Any) -> FeatureAttributionOutput:
        """Decode the tokens of every sequence in place; returns self."""
        for seq in self.sequence_attributions:
            seq.decode_tokens(tokenizer)
        return self

    def to_dataframe(
        self, aggregator: AggregatorSpec = None, do_aggregation: bool = True, dropna: bool = True, **kwargs: Any
    ) -> pandas.DataFrame:
        """Long-format table of all sequences (see :meth:`FeatureAttributionSequenceOutput.to_dataframe`).

        Example:
            >>> out.to_dataframe().groupby("generated_token")["score"].sum()  # doctest: +SKIP
        """
        from .dataframe import sequences_to_dataframe

        return sequences_to_dataframe(self.sequence_attributions, aggregator, do_aggregation, dropna, **kwargs)


def merge_attributions(attributions: Sequence[FeatureAttributionOutput]) -> FeatureAttributionOutput:
    """Concatenate several outputs of compatible runs into one.

    The ``info`` fields listed in ``FeatureAttributionOutput._merge_match_info_fields`` must be equal where present.
    The merged info is the first one's, with ``attr_pos_end`` set to the maximum and ``input_texts`` /
    ``generated_texts`` concatenated.

    Raises:
        TypeError: if an item is not a :class:`FeatureAttributionOutput`.
        ValueError: on an empty list or a mismatching info field (named in the message).

    Example:
        >>> a = FeatureAttributionOutput([], info={"model_name": "gpt2", "input_texts": ["a"]})
        >>> b = FeatureAttributionOutput([], info={"model_name": "gpt2", "input_texts": ["b"]})
        >>> merge_attributions([a, b]).info["input_texts"]
        ['a', 'b']
    """
    attributions = list(attributions)
    if not attributions:
        raise ValueError("merge_attributions needs at least one FeatureAttributionOutput, got an empty list.")
    for idx, item in enumerate(attributions):
        if not isinstance(item, FeatureAttributionOutput):
            raise TypeError(
                f"merge_attributions(): attributions[{idx}] must be a FeatureAttributionOutput, got {describe(item)}."
            )
    first = attributions[0]
    for key in FeatureAttributionOutput._merge_match_info_fields:
        for idx, item in enumerate(attributions[1:], start=1):
            if key in first.info and key in item.info and first.info[key] != item.info[key]:
                raise ValueError(
                    f"Cannot merge attributions: info field {key!r} differs between item 0 ({first.info[key]!r}) "
                    f"and item {idx} ({item.info[key]!r})."
                )
    info = copy.deepcopy(first.info)
    ends = [a.info["attr_pos_end"] for a in attributions if a.info.get("attr_pos_end") is not None]
    if ends:
        info["attr_pos_end"] = max(ends)
    for key in ("input_texts", "generated_texts"):
        if any(key in a.info for a in attributions):
            info[key] = [text for a in attributions for text in _as_list(a.info.get(key))]
    sequences = [copy.deepcopy(s) for a in attributions for s in a.sequence_attributions]
    steps = None
    if first.step_attributions is not None:
        steps = [copy.deepcopy(s) for a in attributions for s in (a.step_attributions or [])]
    return FeatureAttributionOutput(sequence_attributions=sequences, step_attributions=steps, info=info)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _replace(attr: FeatureAttributionSequenceOutput, **changes: Any) -> FeatureAttributionSequenceOutput:
    """``dataclasses.replace`` keeping the private configuration (deep-copied)."""
    private = {f.name: copy.deepcopy(getattr(attr, f.name)) for f in dataclasses.fields(attr) if f.name[0] == "_"}
    return dataclasses.replace(attr, **{**private, **changes})

"""Value zeroing (Mohebbi et al., 2023): the ``value_zeroing`` method of the internals family.

One clean forward captures every layer's input; each layer is then recomputed with some tokens' value vectors zeroed.
With a causal decoder the query at position ``p - 1`` only sees tokens ``< p``, so its corrupted block output is what
attributing target position ``p`` from its prefix needs. Value projections are found by inspecting the model;
``inseq.register_model_config`` overrides the names for unusual models.
"""

from __future__ import annotations

from typing import Any

import torch

from ....utils.budgets import announce_forwards, get_budgets
from ....utils.checks import check_spans, span_windows
from ...engine import AttributionContext
from ...port import AttentionSite
from ..base import MethodResult
from .attention import InternalsAttribution, _grid_rows, _per_example_square


class _ValueMask:
    """Forward hook zeroing, for each stacked copy of the batch, one window's value vectors in some heads."""

    def __init__(self, site: AttentionSite) -> None:
        self.site = site
        self.tokens: list[tuple[int, int]] | None = None  # one (start, end) window of tokens per copy
        self.units: list[int] | None = None
        self.batch_size = 1

    def __call__(self, module: torch.nn.Module, args: Any, output: Any) -> Any:
        if self.tokens is None:
            return None
        tensor = output[0] if isinstance(output, tuple) else output
        rows, seq, width = tensor.shape
        keep = torch.ones(rows, seq, width, dtype=tensor.dtype, device=tensor.device)
        cols = self.site.value_columns(width, self.units).to(tensor.device)
        for c, (start, end) in enumerate(self.tokens):
            keep[c * self.batch_size : (c + 1) * self.batch_size, start : min(end, seq), cols] = 0
        tensor = tensor * keep
        return (tensor, *output[1:]) if isinstance(output, tuple) else tensor


class _ColumnsOff:
    """Forward hook zeroing some output columns of a projection at every token (the layout probe)."""

    def __init__(self, cols: torch.Tensor) -> None:
        self.cols = cols

    def __call__(self, module: torch.nn.Module, args: Any, output: Any) -> Any:
        tensor = output[0] if isinstance(output, tuple) else output
        tensor = tensor.masked_fill(self.cols.to(tensor.device), 0)
        return (tensor, *output[1:]) if isinstance(output, tuple) else tensor


def _attention_output(site: AttentionSite, args: Any, kwargs: dict[str, Any], cols: torch.Tensor | None):
    """The attention module's output in one call of the block, with the projection columns ``cols`` zeroed."""
    seen: list[torch.Tensor] = []
    handles = [site.attention.register_forward_hook(lambda m, a, out: seen.append(_block_output(out).detach()))]
    if cols is not None:
        handles.append(site.value.register_forward_hook(_ColumnsOff(cols)))
    try:
        with torch.no_grad():
            site.block(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return seen[0].double()


def decide_fused_layout(site: AttentionSite, args: Any, kwargs: dict[str, Any]) -> str | None:
    """Find which columns of a fused ``query_key_value`` projection hold the values, by behaviour.

    A layout is right when zeroing its value columns (at every token) leaves the attention output exactly as when
    the whole projection is zeroed: with no values left, queries and keys no longer matter. Each layout of
    ``FUSED_LAYOUTS`` (``inseq/models/structure.py``) the projection's width allows is tried on the layer's captured
    clean inputs; the one found is kept on the site. Sites without a fused projection are left alone (None).

    Raises:
        RuntimeError: when no layout, or more than one, behaves so.

    Example:
        >>> decide_fused_layout(structure.decoder_self[0], args, kwargs)  # doctest: +SKIP
        'contiguous'
    """
    columns = site.value_columns
    if not getattr(columns, "fused", False):
        return None
    if columns.layout is not None:
        return columns.layout
    width = getattr(site.value, "out_features", None) or site.value.weight.shape[0]
    candidates = columns.layouts(width)
    nothing = _attention_output(site, args, kwargs, torch.ones(width, dtype=torch.bool))
    scale = (_attention_output(site, args, kwargs, None) - nothing).abs().max().item()
    right = [
        layout
        for layout, mask in candidates.items()
        if (_attention_output(site, args, kwargs, mask) - nothing).abs().max().item() <= 1e-5 * scale + 1e-9
    ]
    if len(right) != 1:
        raise RuntimeError(
            f"{columns.owner}: cannot tell which columns of the fused query_key_value projection of "
            f"{type(site.attention).__name__} hold the values (layouts tried: {sorted(candidates)}, behaving as "
            f"values: {right}); register the value projection with inseq.register_model_config."
        )
    columns.layout = right[0]
    return right[0]


def _units(spec: Any, layer: int, name: str) -> list[int] | None | bool:
    """Heads to zero at ``layer``: None for all, a list, or False when the layer is left out of a dict."""
    if isinstance(spec, dict):
        if layer not in spec:
            return False
        spec = spec[layer]
    if spec is None:
        return None
    if isinstance(spec, int):
        return [spec]
    if isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(v, int) for v in spec):
        return list(range(spec[0], spec[1]))
    if isinstance(spec, list | tuple) and all(isinstance(v, int) for v in spec):
        return list(spec)
    raise ValueError(
        f"{name} must be None, an int, a (start, end) tuple, a list of ints or a {{layer: heads}} dict, got {spec!r}."
    )


def _repeat(value: Any, batch: int, k: int) -> Any:
    """Repeat every tensor with a batch dimension ``k`` times along it (nested tuples, lists and dicts too)."""
    if isinstance(value, torch.Tensor):
        if value.ndim >= 2 and value.shape[0] == batch:
            return value.repeat(k, *([1] * (value.ndim - 1)))
        return value
    if isinstance(value, tuple | list):
        return type(value)(_repeat(v, batch, k) for v in value)
    if isinstance(value, dict):
        return {key: _repeat(v, batch, k) for key, v in value.items()}
    return value


def _block_output(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple | list) else output


class _Capture:
    """Records the inputs and the output of each layer during the clean forward."""

    def __init__(self, layers: list[torch.nn.Module]) -> None:
        self.inputs: dict[int, tuple[Any, dict[str, Any]]] = {}
        self.outputs: dict[int, torch.Tensor] = {}
        self.handles = []
        for i, layer in enumerate(layers):
            self.handles.append(layer.register_forward_pre_hook(self._pre(i), with_kwargs=True))
            self.handles.append(layer.register_forward_hook(self._post(i)))

    def _pre(self, i: int):
        def hook(module, args, kwargs):
            self.inputs[i] = (args, dict(kwargs))

        return hook

    def _post(self, i: int):
        def hook(module, args, output):
            self.outputs[i] = _block_output(output).detach()

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


class ValueZeroingAttribution(InternalsAttribution):
    """Value zeroing (Mohebbi et al., 2023): how much a layer's output changes when a token's values are zeroed.

    For each layer and each token ``j``, the value vectors of ``j`` in that layer's attention (the selected heads)
    are set to zero and the layer is recomputed from its clean input; the score of ``j`` for query ``q`` is the
    dissimilarity (``1 - cosine`` or the Euclidean distance) between the clean and corrupted layer outputs at ``q``.
    Scores under ``1e-5`` are set to 0 and each row is normalised to sum to 1 over the attributed tokens. Target
    position ``p`` reads query ``p - 1``. Output ``[attributed_len, n_steps, layers]``.

    Decoder-only: target scores from the self-attention. Encoder-decoder: source scores from the cross-attention,
    target scores (``attribute_target``) from the decoder self-attention, and ``sequence_scores``
    ``encoder_self_scores`` / ``decoder_self_scores`` ``[len, len, layers]`` (key first, then query).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "value_zeroing")  # doctest: +SKIP
        >>> out = model.attribute("Hello", "Hello world!", decoder_zeroed_units_indices=[0, 1])  # doctest: +SKIP
        >>> out[0].target_attributions.shape  # [tgt, n_steps, layers]  # doctest: +SKIP
        torch.Size([3, 2, 12])
    """

    method_name = "value_zeroing"
    output_kind = "multidim"
    num_extra_dims = 1
    uses_attributed_fn = False

    def compute(
        self,
        ctx: AttributionContext,
        *,
        similarity_metric: str = "cosine",
        encoder_zeroed_units_indices: Any = None,
        decoder_zeroed_units_indices: Any = None,
        cross_zeroed_units_indices: Any = None,
        output_decoder_self_scores: bool = True,
        output_encoder_self_scores: bool = True,
        tokens_per_eval: int | None = None,
        spans: Any = None,
    ) -> MethodResult:
        """Compute value zeroing scores.

        Args:
            ctx: The engine context.
            similarity_metric: ``"cosine"`` (score ``1 - cos``) or ``"euclidean"`` (score = distance).
            encoder_zeroed_units_indices: Heads zeroed in the encoder self-attention (None: all; int; ``(start,
                end)``; list; ``{layer: heads}``, layers left out of a dict get score 0).
            decoder_zeroed_units_indices: Same, for the decoder self-attention.
            cross_zeroed_units_indices: Same, for the cross-attention.
            output_decoder_self_scores: Encoder-decoder without ``attribute_target``: also return the decoder
                self-attention scores as ``sequence_scores["decoder_self_scores"]``.
            output_encoder_self_scores: Encoder-decoder: return ``sequence_scores["encoder_self_scores"]``.
            tokens_per_eval: Tokens zeroed in one layer call (copies of the batch stacked); default: as many as the
                ``zeroed_tokens`` memory budget allows (``inseq.utils.budgets.memory_budgets``), so the peak memory
                follows the budget and not the input length.
            spans: ``(start, end)`` token ranges (end exclusive) of the attributed input whose values are zeroed
                together, one layer recomputation per span: the target (prompt included) of a decoder-only model,
                the source (cross- and encoder self-attention keys) of an encoder-decoder. One list for the batch;
                each token of a span gets the span's dissimilarity before the row normalisation, tokens outside
                every span are zeroed one at a time as without spans. Spans must not overlap.
        """
        _check_options(similarity_metric, tokens_per_eval)
        batch = ctx.batch
        length = int(ctx.positions[-1])
        mask = batch.target_mask[:, :length]
        result = MethodResult()
        structure = ctx.model.structure()
        dec_layers, enc_layers = structure.decoder_layers, structure.encoder_layers
        capture = _Capture(dec_layers + enc_layers)
        try:
            ctx.model.clean_forward(batch, length)
        finally:
            capture.remove()
        n_dec = len(dec_layers)
        run = _Runner(capture, similarity_metric, tokens_per_eval)
        run.set_spans(spans, batch, length)
        specs = (decoder_zeroed_units_indices, cross_zeroed_units_indices, encoder_zeroed_units_indices)
        _announce(
            ctx, structure, specs, run, ctx.wants_target or output_decoder_self_scores, output_encoder_self_scores
        )
        tgt_len = batch.target_ids.shape[1]
        # only the queries predicting the attributed positions are compared, unless the whole square is returned
        rows = (ctx.positions - 1).to(torch.long)
        if ctx.wants_target or output_decoder_self_scores:
            units, self_rows = decoder_zeroed_units_indices, rows if ctx.wants_target else None
            scores = run.layers(
                structure.decoder_self, 0, mask, units, "decoder_zeroed_units_indices", self_rows, keys="target"
            )
            if ctx.wants_target:
                result.target = _grid_rows(scores, ctx, tgt_len, rows)
            else:
                ends = [e - 1 for e in batch.attr_end]
                squares = [_future_nan(square) for square in _per_example_square(scores, ends)]
                result.sequence_scores["decoder_self_scores"] = squares
        if structure.cross:
            cross = cross_zeroed_units_indices
            scores = run.layers(
                structure.cross, 0, batch.source_mask, cross, "cross_zeroed_units_indices", rows, "source"
            )
            result.source = _grid_rows(scores, ctx, batch.source_ids.shape[1], rows)
        if structure.encoder_self and output_encoder_self_scores:
            enc, name = encoder_zeroed_units_indices, "encoder_zeroed_units_indices"
            scores = run.layers(structure.encoder_self, n_dec, batch.source_mask, enc, name, keys="source")
            result.sequence_scores["encoder_self_scores"] = _per_example_square(scores, batch.source_lengths)
        if ctx.progress is not None:
            ctx.progress(ctx.n_positions)
        return result


def _announce(
    ctx: AttributionContext, structure: Any, specs: tuple[Any, Any, Any], run: _Runner, dec_self: bool, enc_self: bool
) -> None:
    """Log (and warn above ``quadratic_forwards``) the layer recomputations that will run: one per zeroed token,
    layer and example, for the decoder self-attention, the cross-attention and the encoder self-attention."""
    batch, length = ctx.batch, int(ctx.positions[-1])
    src_len = int(batch.source_ids.shape[1]) if batch.source_ids is not None else 0
    names = ("decoder_zeroed_units_indices", "cross_zeroed_units_indices", "encoder_zeroed_units_indices")
    units = dict(zip(names, specs, strict=True))
    groups = []
    if dec_self:
        groups.append((structure.decoder_self, "decoder_zeroed_units_indices", len(run.windows(length, "target"))))
    if structure.cross:
        groups.append((structure.cross, "cross_zeroed_units_indices", len(run.windows(src_len, "source"))))
    if structure.encoder_self and enc_self:
        groups.append((structure.encoder_self, "encoder_zeroed_units_indices", len(run.windows(src_len, "source"))))
    total = sum(
        keys * sum(_units(units[name], i, name) is not False for i in range(len(sites)))
        for sites, name, keys in groups
    )
    announce_forwards(
        "value_zeroing",
        total * batch.size,
        max(length, src_len),
        unit="layer recomputations",
        hint="Zero fewer layers ({decoder,cross,encoder}_zeroed_units_indices as {layer: heads}). ",
    )


def _future_nan(square: torch.Tensor) -> torch.Tensor:
    """NaN in the cells of a ``(key, query, ...)`` decoder square whose key comes after the query (a token not yet
    generated when the query's position was predicted), as inseq 0.7.1 returns them.

    Example:
        >>> _future_nan(torch.ones(2, 2, 1))[..., 0]
        tensor([[1., 1.],
                [nan, 1.]])
    """
    n = square.shape[0]
    future = torch.ones(n, n, dtype=torch.bool).tril(-1)  # key > query
    return square.masked_fill(future.view(n, n, *[1] * (square.ndim - 2)), float("nan"))


def _check_options(similarity_metric: Any, tokens_per_eval: Any) -> None:
    """Refuse an unknown metric or a ``tokens_per_eval`` that is not a positive integer (or None)."""
    if similarity_metric not in ("cosine", "euclidean"):
        raise ValueError(f"similarity_metric must be 'cosine' or 'euclidean', got {similarity_metric!r}.")
    if tokens_per_eval is not None and (
        not isinstance(tokens_per_eval, int) or isinstance(tokens_per_eval, bool) or tokens_per_eval < 1
    ):
        raise ValueError(
            f"tokens_per_eval must be a positive integer or None (the zeroed_tokens memory budget), "
            f"got {tokens_per_eval!r}."
        )


class _Runner:
    """Recomputes layers from their captured clean inputs with some tokens' values zeroed."""

    def __init__(self, capture: _Capture, metric: str, tokens_per_eval: int | None) -> None:
        self.capture = capture
        self.metric = metric
        self.tokens_per_eval = tokens_per_eval
        self.spans: list[tuple[int, int]] | None = None
        self.span_keys = ""

    def set_spans(self, spans: Any, batch: Any, length: int) -> None:
        """Validate ``spans`` against the attributed input (the source of an encoder-decoder, else the target up to
        ``length``) and zero them together from now on; None: one token at a time."""
        if spans is None:
            return
        is_enc_dec = batch.source_ids is not None
        limit = min(batch.source_lengths) if is_enc_dec else min(length, min(batch.target_lengths))
        self.spans = check_spans(spans, limit)
        self.span_keys = "source" if is_enc_dec else "target"

    def windows(self, n_keys: int, keys: str) -> list[tuple[int, int]]:
        """The windows zeroed together over ``n_keys`` keys of the ``keys`` input: the spans (when they index that
        input) and one token at a time elsewhere.

        Example:
            >>> run = _Runner(None, "cosine", None)
            >>> run.spans, run.span_keys = [(1, 3)], "target"
            >>> run.windows(4, "target"), run.windows(2, "source")
            ([(0, 1), (1, 3), (3, 4)], [(0, 1), (1, 2)])
        """
        if self.spans is None or keys != self.span_keys:
            return [(t, t + 1) for t in range(n_keys)]
        return span_windows(self.spans, n_keys)

    def layers(
        self,
        sites: list[AttentionSite],
        offset: int,
        key_mask: torch.Tensor,
        spec: Any,
        spec_name: str,
        rows: torch.Tensor | None = None,
        keys: str = "",
    ) -> torch.Tensor:
        """``(batch, q, k, layers)`` normalised scores of zeroing key ``k``'s values, read at the queries ``rows``
        (None: every query)."""
        per_layer = []
        for i, site in enumerate(sites):
            units = _units(spec, i, spec_name)
            clean = self.capture.outputs[offset + i]
            n_keys = key_mask.shape[1]
            if units is False:
                n_rows = clean.shape[1] if rows is None else len(rows)
                per_layer.append(torch.zeros(clean.shape[0], n_rows, n_keys))
                continue
            per_layer.append(self._layer(site, offset + i, units, self.windows(n_keys, keys), rows))
        scores = torch.stack(per_layer, dim=-1)
        return _normalise(scores, key_mask.cpu())

    def tokens_per_call(self, batch: int, seq: int) -> int:
        """Tokens zeroed in one layer call: ``tokens_per_eval``, or as many as the ``zeroed_tokens`` budget allows.

        Example:
            >>> from inseq.utils.budgets import memory_budgets
            >>> with memory_budgets(zeroed_tokens=2048):
            ...     _Runner(None, "cosine", None).tokens_per_call(batch=1, seq=240)
            8
        """
        if self.tokens_per_eval is not None:
            return self.tokens_per_eval
        return max(1, get_budgets().zeroed_tokens // max(1, batch * seq))

    def _layer(
        self,
        site: AttentionSite,
        index: int,
        units: list[int] | None,
        windows: list[tuple[int, int]],
        rows: torch.Tensor | None,
    ) -> torch.Tensor:
        args, kwargs = self.capture.inputs[index]
        decide_fused_layout(site, args, kwargs)
        clean = self.capture.outputs[index]
        batch = clean.shape[0]
        if rows is not None:
            clean = clean[:, rows.to(clean.device)]
        hook = _ValueMask(site)
        hook.units, hook.batch_size = units, batch
        handle = site.value.register_forward_hook(hook)
        out = torch.zeros(batch, clean.shape[1], windows[-1][1] if windows else 0)
        step = self.tokens_per_call(batch, self.capture.outputs[index].shape[1])
        try:
            with torch.no_grad():
                for first in range(0, len(windows), step):
                    group = windows[first : first + step]
                    k = len(group)
                    hook.tokens = group
                    corrupted = _block_output(site.block(*_repeat(args, batch, k), **_repeat(kwargs, batch, k)))
                    if rows is not None:
                        corrupted = corrupted[:, rows.to(corrupted.device)]
                    corrupted = corrupted.reshape(k, batch, *clean.shape[1:])
                    dist = _dissimilarity(clean.unsqueeze(0), corrupted, self.metric)
                    dist = dist.permute(1, 2, 0).float().cpu()
                    for c, (start, end) in enumerate(group):
                        out[:, :, start:end] = dist[:, :, c : c + 1]
                    del corrupted, dist
        finally:
            handle.remove()
        return out


def _dissimilarity(clean: torch.Tensor, corrupted: torch.Tensor, metric: str) -> torch.Tensor:
    """``1 - cos`` (or the Euclidean distance) of hidden states, computed in float64.

    ``1 - cos`` of nearly identical states cancels in float32 (absolute error about 6e-8, i.e. percents of the small
    scores near the 1e-5 cut-off), so a cell close to the cut-off can be kept by one float32 computation and zeroed
    by another: this is the value zeroing cell that differed from inseq 0.7. Float64 removes the cancellation.

    Example:
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> _dissimilarity(x, torch.tensor([[0.0, 1.0]]), "cosine")
        tensor([1.], dtype=torch.float64)
    """
    clean, corrupted = clean.double(), corrupted.double()
    if metric == "cosine":
        return 1 - torch.nn.functional.cosine_similarity(clean, corrupted, dim=-1)
    return (clean - corrupted).norm(dim=-1)


def _normalise(scores: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """Zero scores under 1e-5 and padding keys, then divide each (query, layer) row by its sum over keys."""
    scores = scores.clone()
    scores[scores < 1e-5] = 0
    scores = scores * key_mask.view(key_mask.shape[0], 1, -1, 1).to(scores.dtype)
    total = scores.sum(2, keepdim=True)
    return torch.where(total > 0, scores / total.clamp_min(1e-30), torch.zeros_like(scores))

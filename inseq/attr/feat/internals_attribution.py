"""Attribution methods reading or perturbing model internals: ``attention`` and ``value_zeroing``.

Both need only one clean forward over the whole (truncated) sequence: with a causal decoder the query at position
``p - 1`` only sees tokens ``< p``, so its attention row (or its corrupted block output) is what attributing target
position ``p`` from its prefix needs. Attention modules and value projections are found by inspecting the model, so
no per-architecture table is needed; ``inseq.register_model_config`` overrides the names for unusual models.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from ...models.model_config import ModelConfig, get_model_config
from ..engine import AttributionContext
from .feature_attribution import FeatureAttribution, MethodResult

# ----------------------------------------------------------------------------------------------------------------
# Eager attention switch
# ----------------------------------------------------------------------------------------------------------------


def _configs(model: torch.nn.Module) -> list[Any]:
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
    configs = _configs(model)
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


def _require(value: Any, model: torch.nn.Module, what: str) -> Any:
    if value is None or (isinstance(value, tuple | list) and any(v is None for v in value)):
        raise RuntimeError(f"{type(model).__name__} did not return {what} even with eager attention.")
    return value


def _stack_attn(attentions: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``layers x (batch, heads, q, k)`` -> ``(batch, q, k, layers, heads)``."""
    return torch.stack([a.detach().float() for a in attentions], dim=-1).permute(0, 2, 3, 4, 1).cpu()


def _grid_rows(scores: torch.Tensor, ctx: AttributionContext, length: int) -> torch.Tensor:
    """Rows ``p - 1`` of ``(batch, q, k, *extra)`` scores, as a ``(batch, n_positions, length, *extra)`` grid."""
    picked = scores[:, ctx.positions - 1]
    out = torch.full((*picked.shape[:2], length, *picked.shape[3:]), float("nan"))
    out[:, :, : picked.shape[2]] = picked
    return out


def _per_example_square(scores: torch.Tensor, lengths: list[int]) -> list[torch.Tensor]:
    """``(batch, q, k, *extra)`` -> per example ``(k, q, *extra)`` (key first, like attributions), unpadded."""
    return [scores[b, :n, :n].transpose(0, 1).contiguous() for b, n in enumerate(lengths)]


class AttentionWeightsAttribution(FeatureAttribution):
    """Attention weights of every layer and head, read from one forward with eager attention.

    Decoder-only: target scores are the self-attention of the query predicting each position, ``[tgt, n_steps,
    layers, heads]``. Encoder-decoder: source scores are the cross-attention, target scores (``attribute_target``)
    the decoder self-attention; ``sequence_scores`` hold ``encoder_self_attentions`` ``[src, src, layers, heads]``
    (key first, then query) and, without ``attribute_target``, ``decoder_self_attentions``. Step scores can be
    requested alongside. The model is switched to eager attention for the call and restored afterwards.

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "attention")  # doctest: +SKIP
        >>> out = model.attribute("Hello", "Hello world!", step_scores=["probability"])  # doctest: +SKIP
        >>> out[0].target_attributions.shape  # [tgt, n_steps, layers, heads]  # doctest: +SKIP
        torch.Size([3, 2, 12, 12])
    """

    method_name = "attention"
    output_kind = "multidim"
    num_extra_dims = 2
    uses_attributed_fn = False
    is_final_step_method = True

    def compute(self, ctx: AttributionContext) -> MethodResult:
        batch, hf = ctx.batch, ctx.model.model
        length = int(ctx.positions[-1])
        ids, mask = batch.target_ids[:, :length], batch.target_mask[:, :length]
        result = MethodResult()
        with torch.no_grad(), eager_attention(hf):
            if batch.is_encoder_decoder:
                out = hf(
                    input_ids=batch.source_ids,
                    attention_mask=batch.source_mask,
                    decoder_input_ids=ids,
                    decoder_attention_mask=mask,
                    output_attentions=True,
                    use_cache=False,
                )
                cross = _stack_attn(_require(out.cross_attentions, hf, "cross-attention weights"))
                dec = _stack_attn(_require(out.decoder_attentions, hf, "decoder self-attention weights"))
                enc = _stack_attn(_require(out.encoder_attentions, hf, "encoder self-attention weights"))
                result.source = _grid_rows(cross, ctx, batch.source_ids.shape[1])
                if ctx.attribute_target:
                    result.target = _grid_rows(dec, ctx, batch.target_ids.shape[1])
                else:
                    ends = [e - 1 for e in batch.attr_end]
                    result.sequence_scores["decoder_self_attentions"] = _per_example_square(dec, ends)
                result.sequence_scores["encoder_self_attentions"] = _per_example_square(enc, batch.source_lengths)
            else:
                out = hf(input_ids=ids, attention_mask=mask, output_attentions=True, use_cache=False)
                dec = _stack_attn(_require(out.attentions, hf, "self-attention weights"))
                result.target = _grid_rows(dec, ctx, batch.target_ids.shape[1])
        if ctx.progress is not None:
            ctx.progress(ctx.n_positions)
        return result


# ----------------------------------------------------------------------------------------------------------------
# Value zeroing
# ----------------------------------------------------------------------------------------------------------------

#: Names of value projections, checked in order on each attention module.
_VALUE_NAMES = ("v_proj", "value", "v", "v_lin", "c_attn", "query_key_value")


@dataclass
class _Site:
    """One attention module of one layer and the projection producing its values."""

    block: torch.nn.Module
    attention: torch.nn.Module
    value: torch.nn.Module
    value_name: str
    head_dim: int | None


class _ValueMask:
    """Forward hook zeroing, for each stacked copy of the batch, one token's value vectors in some heads."""

    def __init__(self, site: _Site, owner: str) -> None:
        self.site = site
        self.owner = owner
        self.tokens: list[int] | None = None
        self.units: list[int] | None = None
        self.batch_size = 1

    def _columns(self, width: int) -> torch.Tensor:
        """Boolean ``(width,)`` mask of the output columns holding the values of the selected heads."""
        name, head_dim = self.site.value_name, self.site.head_dim
        cols = torch.zeros(width, dtype=torch.bool)
        if name == "c_attn":
            value_width = width // 3
            offset, stride, unit = 2 * value_width, head_dim or value_width, head_dim or value_width
            n_units = value_width // unit
            starts = [offset + h * stride for h in range(n_units)]
        elif name == "query_key_value":
            if head_dim is None:
                raise RuntimeError(f"{self.owner}: cannot find the head size of the fused query_key_value projection.")
            n_units = width // (3 * head_dim)
            unit = head_dim
            starts = [h * 3 * head_dim + 2 * head_dim for h in range(n_units)]
        else:
            unit = head_dim or width
            n_units = width // unit
            starts = [h * unit for h in range(n_units)]
        units = range(n_units) if self.units is None else self.units
        for h in units:
            if not 0 <= h < n_units:
                raise ValueError(f"Head index {h} is out of range: {self.owner} has {n_units} heads.")
            cols[starts[h] : starts[h] + unit] = True
        return cols

    def __call__(self, module: torch.nn.Module, args: Any, output: Any) -> Any:
        if self.tokens is None:
            return None
        tensor = output[0] if isinstance(output, tuple) else output
        rows, seq, width = tensor.shape
        keep = torch.ones(rows, seq, width, dtype=tensor.dtype, device=tensor.device)
        cols = self._columns(width).to(tensor.device)
        for c, j in enumerate(self.tokens):
            if j < seq:
                keep[c * self.batch_size : (c + 1) * self.batch_size, j, cols] = 0
        tensor = tensor * keep
        return (tensor, *output[1:]) if isinstance(output, tuple) else tensor


def _model_name(model: torch.nn.Module) -> str:
    return type(model).__name__


def _find_layers(root: torch.nn.Module, model: torch.nn.Module, where: str) -> list[torch.nn.Module]:
    """The layer stack of ``root``: the shallowest ``ModuleList`` whose every element holds an attention module."""
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


def _sites(
    layers: list[torch.nn.Module], model: torch.nn.Module, which: str, config: ModelConfig | None
) -> list[_Site]:
    """The self (``which="self"``) or cross (``"cross"``) attention site of each layer."""
    sites = []
    override = None
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
        sites.append(_Site(block, attention, getattr(attention, name), name, _head_dim(attention, model)))
    return sites


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


class ValueZeroingAttribution(FeatureAttribution):
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
    is_final_step_method = True

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
            tokens_per_eval: Tokens zeroed in one layer call (copies of the batch stacked); default: all of them.
        """
        if similarity_metric not in ("cosine", "euclidean"):
            raise ValueError(f"similarity_metric must be 'cosine' or 'euclidean', got {similarity_metric!r}.")
        batch, hf = ctx.batch, ctx.model.model
        config = get_model_config(type(hf).__name__)
        length = int(ctx.positions[-1])
        ids, mask = batch.target_ids[:, :length], batch.target_mask[:, :length]
        result = MethodResult()
        enc_dec = batch.is_encoder_decoder
        dec_layers = _find_layers(ctx.model.get_decoder(), hf, "decoder")
        dec_self = _sites(dec_layers, hf, "self", config)
        cross = _sites(dec_layers, hf, "cross", config) if enc_dec else []
        enc_layers = _find_layers(ctx.model.get_encoder(), hf, "encoder") if enc_dec else []
        enc_self = _sites(enc_layers, hf, "self", config) if enc_dec and output_encoder_self_scores else []
        capture = _Capture(dec_layers + enc_layers)
        try:
            with torch.no_grad():
                if enc_dec:
                    hf(
                        input_ids=batch.source_ids,
                        attention_mask=batch.source_mask,
                        decoder_input_ids=ids,
                        decoder_attention_mask=mask,
                        use_cache=False,
                    )
                else:
                    hf(input_ids=ids, attention_mask=mask, use_cache=False)
        finally:
            capture.remove()
        n_dec = len(dec_layers)
        run = _Runner(ctx, capture, similarity_metric, tokens_per_eval)
        tgt_len = batch.target_ids.shape[1]
        want_dec_self = not enc_dec or ctx.attribute_target or output_decoder_self_scores
        if want_dec_self:
            scores = run.layers(dec_self, 0, mask, decoder_zeroed_units_indices, "decoder_zeroed_units_indices")
            if not enc_dec or ctx.attribute_target:
                result.target = _grid_rows(scores, ctx, tgt_len)
            else:
                ends = [e - 1 for e in batch.attr_end]
                result.sequence_scores["decoder_self_scores"] = _per_example_square(scores, ends)
        if enc_dec:
            scores = run.layers(cross, 0, batch.source_mask, cross_zeroed_units_indices, "cross_zeroed_units_indices")
            result.source = _grid_rows(scores, ctx, batch.source_ids.shape[1])
            if enc_self:
                scores = run.layers(
                    enc_self, n_dec, batch.source_mask, encoder_zeroed_units_indices, "encoder_zeroed_units_indices"
                )
                result.sequence_scores["encoder_self_scores"] = _per_example_square(scores, batch.source_lengths)
        if ctx.progress is not None:
            ctx.progress(ctx.n_positions)
        return result


class _Runner:
    """Recomputes layers from their captured clean inputs with some tokens' values zeroed."""

    def __init__(self, ctx: AttributionContext, capture: _Capture, metric: str, tokens_per_eval: int | None) -> None:
        self.ctx = ctx
        self.capture = capture
        self.metric = metric
        self.tokens_per_eval = tokens_per_eval
        self.owner = type(ctx.model.model).__name__

    def layers(
        self, sites: list[_Site], offset: int, key_mask: torch.Tensor, spec: Any, spec_name: str
    ) -> torch.Tensor:
        """``(batch, q, k, layers)`` normalised scores of zeroing key ``k``'s values, read at query ``q``."""
        per_layer = []
        for i, site in enumerate(sites):
            units = _units(spec, i, spec_name)
            clean = self.capture.outputs[offset + i]
            n_keys = key_mask.shape[1]
            if units is False:
                per_layer.append(torch.zeros(clean.shape[0], clean.shape[1], n_keys))
                continue
            per_layer.append(self._layer(site, offset + i, units, n_keys, key_mask))
        scores = torch.stack(per_layer, dim=-1)
        return _normalise(scores, key_mask.cpu())

    def _layer(self, site: _Site, index: int, units: list[int] | None, n_keys: int, key_mask) -> torch.Tensor:
        args, kwargs = self.capture.inputs[index]
        clean = self.capture.outputs[index]
        batch = clean.shape[0]
        hook = _ValueMask(site, self.owner)
        hook.units, hook.batch_size = units, batch
        handle = site.value.register_forward_hook(hook)
        out = torch.zeros(batch, clean.shape[1], n_keys)
        step = self.tokens_per_eval or n_keys
        try:
            with torch.no_grad():
                for first in range(0, n_keys, step):
                    tokens = list(range(first, min(n_keys, first + step)))
                    k = len(tokens)
                    hook.tokens = tokens
                    corrupted = _block_output(site.block(*_repeat(args, batch, k), **_repeat(kwargs, batch, k)))
                    corrupted = corrupted.view(k, batch, *clean.shape[1:]).float()
                    reference = clean.float().unsqueeze(0)
                    if self.metric == "cosine":
                        sim = torch.nn.functional.cosine_similarity(reference, corrupted, dim=-1)
                        dist = 1 - sim
                    else:
                        dist = (reference - corrupted).norm(dim=-1)
                    out[:, :, first : first + k] = dist.permute(1, 2, 0).cpu()
        finally:
            handle.remove()
        return out


def _normalise(scores: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """Zero scores under 1e-5 and padding keys, then divide each (query, layer) row by its sum over keys."""
    scores = scores.clone()
    scores[scores < 1e-5] = 0
    scores = scores * key_mask.view(key_mask.shape[0], 1, -1, 1).to(scores.dtype)
    total = scores.sum(2, keepdim=True)
    return torch.where(total > 0, scores / total.clamp_min(1e-30), torch.zeros_like(scores))

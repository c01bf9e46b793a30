"""AttnLRP and CP-LRP: each rule against relevance computed by hand, conservation, and the public API on every
tiny architecture (nothing of the model changed afterwards, batch and chunk invariance)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

import inseq
from inseq.attr.feat import METHODS, InputXGradientAttribution
from inseq.attr.feat.lrp.methods import AttnLRPAttribution, CPLRPAttribution
from inseq.attr.feat.lrp.rules import (
    LRPFunctionMode,
    RuleReport,
    decomposed_sdpa,
    identity_rule,
    lrp_rules,
    norm_rule,
)
from inseq.testing import TINY_MODEL_NAMES, is_encoder_decoder

DEC_PROMPT, DEC_TEXT = "The small cat", "The small cat sees the dog"
ENC_TEXT = "The small cat sees the dog"

# ----------------------------------------------------------------------------------------------------------------
# Rules, one at a time, against relevance computed by hand
# ----------------------------------------------------------------------------------------------------------------


def _relevance(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Input x (modified) gradient of a scalar ``out``."""
    return x * torch.autograd.grad(out, x)[0]


def test_identity_rule_passes_relevance_unchanged() -> None:
    torch.manual_seed(0)
    x = torch.randn(5, 7, requires_grad=True)
    c = torch.randn(5, 7)
    for f in (F.silu, F.gelu, torch.tanh):
        y = identity_rule(x, f(x))
        assert torch.equal(y, f(x))  # forward value unchanged
        # upstream relevance of y under out = sum(c * y) is c * y; the identity rule hands it to x unchanged
        torch.testing.assert_close(_relevance(x, (c * y).sum()), c * f(x), atol=1e-5, rtol=1e-4)


def test_norm_rule_matches_hand_jacobian_with_frozen_sigma() -> None:
    torch.manual_seed(0)
    ln = torch.nn.LayerNorm(6)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-1, 1)
    x = torch.randn(3, 6, requires_grad=True)
    c = torch.randn(3, 6)
    y = norm_rule(x, ln(x), centered=True, eps=ln.eps, weight=ln.weight, bias=ln.bias)
    grad = torch.autograd.grad((c * y).sum(), x)[0]
    # by hand: d/dx [(x - mean(x)) / sigma * w] with sigma constant = (I - 11^T / n) diag(w) / sigma
    xd = x.detach()
    sigma = (xd.var(-1, unbiased=False, keepdim=True) + ln.eps).sqrt()
    upstream = c * ln.weight.detach() / sigma
    expected = upstream - upstream.mean(-1, keepdim=True)
    torch.testing.assert_close(grad, expected, atol=1e-5, rtol=1e-4)


def test_uniform_rule_splits_products_in_halves() -> None:
    torch.manual_seed(0)
    a = torch.randn(4, 3, requires_grad=True)
    b = torch.randn(4, 3, requires_grad=True)
    m = torch.randn(3, 5, requires_grad=True)
    with LRPFunctionMode(False, RuleReport()):
        prod = a * b
        mat = a @ m
        ein = torch.einsum("ik,kj->ij", a, m)
        bad = torch.baddbmm(torch.zeros(1, 4, 5), a[None], m[None])
    assert torch.equal(prod, a.detach() * b.detach()) and torch.equal(mat, a.detach() @ m.detach())
    # element-wise: each factor gets half of the relevance of each product term
    ga, gb = torch.autograd.grad(prod.sum(), (a, b))
    torch.testing.assert_close(a * ga, prod / 2)
    torch.testing.assert_close(b * gb, prod / 2)
    # matmul: relevance of a_ik = sum_j a_ik m_kj / 2, and both operands together receive the whole output
    ga, gm = torch.autograd.grad(mat.sum(), (a, m))
    torch.testing.assert_close(a * ga, a.detach() * m.detach().sum(1) / 2)
    torch.testing.assert_close((a * ga).sum() + (m * gm).sum(), mat.sum())
    for other in (ein, bad[0]):  # einsum and baddbmm get the same rule
        torch.testing.assert_close(torch.autograd.grad(other.sum(), (a, m)), (ga, gm))


def test_product_with_a_constant_keeps_the_plain_gradient() -> None:
    a = torch.randn(4, 3, requires_grad=True)
    w = torch.nn.Parameter(torch.randn(4, 3))  # parameters are constants for LRP
    with LRPFunctionMode(False, RuleReport()):
        out = (a * w).sum() + (a * 3.0).sum()
    torch.testing.assert_close(torch.autograd.grad(out, a)[0], w.detach() + 3.0)


@pytest.mark.parametrize("constant", [False, True])
def test_softmax_rule(constant: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, requires_grad=True)
    c = torch.randn(2, 5)
    with LRPFunctionMode(constant, RuleReport()):
        s = F.softmax(x, dim=-1)
    relevance = _relevance(x, (c * s).sum()) if not constant else None
    if constant:
        assert not s.requires_grad  # CP-LRP: attention weights are constants
        return
    # AttnLRP (Achtibat et al., 2024, Prop. 3.1): R_x = x * (R_s - s * sum(R_s)), with R_s = c * s here
    sd = s.detach()
    r_s = c * sd
    torch.testing.assert_close(relevance, x.detach() * (r_s - sd * r_s.sum(-1, keepdim=True)))


@pytest.mark.parametrize("constant", [False, True])
def test_sdpa_is_decomposed_under_the_rules(constant: bool) -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 4, 8, requires_grad=True) for _ in range(3))
    mask = torch.tensor([True, True, True, False]).expand(4, 4)
    with LRPFunctionMode(constant, RuleReport()):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=False)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-6, rtol=1e-5)
    # reference: the eager composition with the rules written out by hand
    scores = (q * 0.5 + (q * 0.5).detach()) @ (k * 0.5 + (k * 0.5).detach()).transpose(-2, -1) / 8**0.5
    weights = scores.masked_fill(~mask, torch.finfo(scores.dtype).min).softmax(-1)
    weights = weights.detach() if constant else weights * 0.5 + (weights * 0.5).detach()
    values = v if constant else v * 0.5 + (v * 0.5).detach()
    reference = weights @ values
    got = torch.autograd.grad(out.sum(), (q, k, v), allow_unused=True)
    want = torch.autograd.grad(reference.sum(), (q, k, v), allow_unused=True)
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None or torch.count_nonzero(g) == 0
        else:
            torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4)
    assert decomposed_sdpa(q, k, v, is_causal=True).shape == out.shape


class MyRMSNorm(torch.nn.Module):
    """A hand-written RMSNorm, like those transformers families define (no torch norm function used)."""

    def __init__(self, dim: int, offset: bool = False) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.rand(dim) + 0.5)
        self.variance_epsilon = 1e-6
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return x * (1 + self.weight if self.offset else self.weight)


class MyGELU(torch.nn.Module):
    """A composite activation module (GPT-2's tanh GELU written out)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(0.7978845608 * (x + 0.044715 * x**3)))


class GatedBlock(torch.nn.Module):
    """norm -> gated MLP (composite activation) -> linear, without biases."""

    def __init__(self, dim: int = 6, hidden: int = 10, offset: bool = False) -> None:
        super().__init__()
        self.norm = MyRMSNorm(dim, offset)
        self.gate = torch.nn.Linear(dim, hidden, bias=False)
        self.up = torch.nn.Linear(dim, hidden, bias=False)
        self.act = MyGELU()
        self.down = torch.nn.Linear(hidden, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm(x)
        return self.down(self.act(self.gate(n)) * self.up(n))


def _explicit_lrp(block: GatedBlock, x: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Layer-by-layer LRP of ``block`` written out by hand (epsilon rule on linears, identity, uniform)."""
    with torch.no_grad():
        scale = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + block.norm.variance_epsilon)
        w_norm = 1 + block.norm.weight if block.norm.offset else block.norm.weight
        n = x * scale * w_norm
        gate, up = block.gate(n), block.up(n)
        act = block.act(gate)
        h = act * up
        out = block.down(h)
        # linear down: R_h_j = h_j W_j R_out / out
        r_h = h * block.down.weight[0] * out / (out + eps)
        r_act, r_up = r_h / 2, r_h / 2  # uniform rule on the product
        r_gate = r_act  # identity rule on the activation
        # linears gate/up: R_n_k = sum_i n_k W_ik R_i / z_i
        r_n = n * ((r_gate / (gate + eps)) @ block.gate.weight + (r_up / (up + eps)) @ block.up.weight)
        return r_n  # identity rule through the normalising factor: x gets n's relevance, feature by feature


@pytest.mark.parametrize("offset", [False, True])
def test_hand_built_block_against_explicit_lrp(offset: bool) -> None:
    torch.manual_seed(0)
    block = GatedBlock(offset=offset).eval()
    for p in block.parameters():
        p.requires_grad_(False)
    x = torch.randn(3, 6, requires_grad=True)
    with lrp_rules(block) as report:
        out = block(x)
    assert torch.equal(out, block(x))
    relevance = _relevance(x, out.sum())
    torch.testing.assert_close(relevance, _explicit_lrp(block, x), atol=1e-5, rtol=1e-4)
    # conservation: no bias anywhere, so the relevance of each row sums to its output
    torch.testing.assert_close(relevance.sum(-1), out.detach()[:, 0], atol=1e-5, rtol=1e-4)
    assert report.counts["norm"] == 1 and report.counts["activation"] >= 1 and not report.plain


class FakeNorm(torch.nn.Module):
    """Named like a norm, with a weight, but not a normalisation."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + x.pow(2)


class Pooling(torch.nn.Module):
    """Named like an activation but not element-wise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(-1, keepdim=True)


def test_unplaceable_rules_warn_naming_the_module() -> None:
    model = torch.nn.Sequential()
    model.add_module("weird_norm", FakeNorm())
    model.add_module("pool", type("PoolActivation", (Pooling,), {})())
    x = torch.randn(2, 4, requires_grad=True)
    with pytest.warns(UserWarning, match="'weird_norm' \\(FakeNorm\\) is treated with the plain gradient"):
        with pytest.warns(UserWarning, match="'pool' \\(PoolActivation\\)"):
            with lrp_rules(model) as report:
                out = model(x)
    assert set(report.plain) == {"weird_norm", "pool"}
    expected = torch.autograd.grad(model(x).sum(), x)[0]
    torch.testing.assert_close(torch.autograd.grad(out.sum(), x)[0], expected)  # plain gradient there


# ----------------------------------------------------------------------------------------------------------------
# Registration and the public API on every tiny architecture
# ----------------------------------------------------------------------------------------------------------------


def test_methods_are_registered_without_shadowing_input_x_gradient() -> None:
    methods = inseq.list_feature_attribution_methods()
    assert "attnlrp" in methods and "cp_lrp" in methods
    assert METHODS.get("attnlrp") is AttnLRPAttribution and METHODS.get("cp_lrp") is CPLRPAttribution
    assert METHODS.get("input_x_gradient") is InputXGradientAttribution
    assert "patented" in AttnLRPAttribution.__doc__ and "patented" in CPLRPAttribution.__doc__


@pytest.fixture(scope="module")
def loaded(tiny_model_path: Callable[[str], Path]) -> Callable[[str], Any]:
    cache: dict[str, Any] = {}

    def _get(name: str) -> Any:
        if name not in cache:
            cache[name] = inseq.load_model(str(tiny_model_path(name)), "attnlrp")
        return cache[name]

    return _get


def _attribute(model: Any, method: str, **kwargs: Any) -> Any:
    if model.is_encoder_decoder:
        kwargs.setdefault("attribute_target", True)
        return model.attribute(ENC_TEXT, generation_args={"max_new_tokens": 4}, method=method, **kwargs)
    return model.attribute(DEC_PROMPT, DEC_TEXT, method=method, **kwargs)


def _total_relevance(seq: Any) -> torch.Tensor:
    """Per generated step, the sum of all input relevances (source and target prefix)."""
    total = seq.target_attributions.nan_to_num().sum((0, 2))
    if seq.source_attributions is not None:
        total = total + seq.source_attributions.nan_to_num().sum((0, 2))
    return total


@pytest.mark.parametrize("arch", TINY_MODEL_NAMES)
@pytest.mark.parametrize("method", ["attnlrp", "cp_lrp"])
def test_runs_on_every_tiny_architecture(loaded: Callable[[str], Any], arch: str, method: str) -> None:
    model = loaded(arch)
    with warnings.catch_warnings(record=True) as with_warnings:
        warnings.simplefilter("always")
        out = _attribute(model, method, attributed_fn="logit", step_scores=["logit"], show_progress=False)
    assert not [w for w in with_warnings if "LRP" in str(w.message)]  # every rule placed
    seq = out[0]
    assert seq.target_attributions is not None and torch.isfinite(seq.target_attributions.nan_to_num()).all()
    if is_encoder_decoder(arch):
        assert seq.source_attributions is not None
    saliency = _attribute(model, "input_x_gradient", attributed_fn="logit", show_progress=False)[0]
    assert not torch.allclose(seq.target_attributions.nan_to_num(), saliency.target_attributions.nan_to_num())
    agg = seq.aggregate()
    assert agg.target_attributions.ndim == 2


@pytest.mark.parametrize("arch", ["llama", "t5"])
def test_cp_lrp_conserves_relevance_on_bias_free_models(loaded: Callable[[str], Any], arch: str) -> None:
    model = loaded(arch)
    config = model.model.config
    assert not getattr(config, "attention_bias", False) and not getattr(config, "mlp_bias", False)
    with torch.no_grad():  # make sure the check is not vacuous: no bias of a linear layer is non-zero
        biases = [m.bias for m in model.model.modules() if isinstance(m, torch.nn.Linear) and m.bias is not None]
        assert all(torch.count_nonzero(b) == 0 for b in biases)
    seq = _attribute(model, "cp_lrp", attributed_fn="logit", step_scores=["logit"], show_progress=False)[0]
    gap = (_total_relevance(seq) - seq.step_scores["logit"]).abs()
    print(f"cp_lrp conservation gap on {arch}: max {gap.max():.2e}")
    assert gap.max() < 1e-4


def test_cp_lrp_gap_with_biases_is_the_relevance_of_the_biases(loaded: Callable[[str], Any]) -> None:
    """Llama with random biases: sum(input relevance) + sum(bias * dlogit/dbias) = the logit (LRP-epsilon)."""
    from transformers import LlamaForCausalLM

    model = loaded("llama")
    config = model.model.config.to_dict() | {"attention_bias": True, "mlp_bias": True}
    torch.manual_seed(0)
    hf = LlamaForCausalLM(type(model.model.config).from_dict(config)).eval()
    biases = [m.bias for m in hf.modules() if isinstance(m, torch.nn.Linear) and m.bias is not None]
    with torch.no_grad():
        for b in biases:
            b.normal_(0, 0.5)
    embeds = hf.get_input_embeddings()(model.encode(DEC_TEXT).input_ids).detach().requires_grad_(True)
    with lrp_rules(hf, constant_attention=True):
        logit = hf(inputs_embeds=embeds, use_cache=False).logits[0, -1, 5]
    grads = torch.autograd.grad(logit, [embeds, *biases], allow_unused=True)  # q/k biases: no path under CP-LRP
    total = (embeds * grads[0]).sum()
    bias_relevance = sum((b * g).sum() for b, g in zip(biases, grads[1:], strict=True) if g is not None)
    gap = float((logit - total).detach())
    print(f"cp_lrp gap on llama with biases: {gap:.3e} (logit {float(logit.detach()):.3f})")
    assert abs(gap) > 1e-3  # the biases do absorb relevance
    torch.testing.assert_close(total + bias_relevance, logit.detach(), atol=1e-5, rtol=1e-4)


class _SoftmaxLedger(TorchFunctionMode):
    """Records the relevance entering (``s * g_s``) and leaving (``x * g_x``) every softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.absorbed: list[torch.Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in (F.softmax, torch.softmax, torch.Tensor.softmax) and args[0].requires_grad:
            x, s = args[0], out
            entry: dict[str, torch.Tensor] = {}
            x.register_hook(lambda g: entry.__setitem__("x", (x.detach() * g).nan_to_num().sum()))
            s.register_hook(lambda g: entry.__setitem__("s", (s.detach() * g).sum()))
            self.absorbed.append(entry)
        return out


def test_attnlrp_loses_relevance_only_in_the_softmax_bias_term(loaded: Callable[[str], Any]) -> None:
    """On bias-free Llama, sum(input relevance) + relevance absorbed by AttnLRP's softmax rule = the logit."""
    model = loaded("llama")
    hf = model.model
    ids = model.encode(DEC_TEXT).input_ids
    embeds = model.embed_ids(ids).detach().requires_grad_(True)
    ledger = _SoftmaxLedger()
    with lrp_rules(hf, eager=model.eager_attention), ledger:  # eager: the ledger reads each softmax call
        logit = hf(inputs_embeds=embeds, use_cache=False).logits[0, -1, 5]
    total = _relevance(embeds, logit).sum()
    absorbed = sum(entry["s"] - entry["x"] for entry in ledger.absorbed)
    print(
        f"attnlrp conservation gap on llama: {float((logit - total).detach()):.3e} (logit {float(logit.detach()):.3f})"
    )
    assert len(ledger.absorbed) == hf.config.num_hidden_layers
    torch.testing.assert_close(total + absorbed, logit.detach(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("constant", [False, True])
def test_sdpa_model_gives_the_eager_relevance(loaded: Callable[[str], Any], constant: bool) -> None:
    model = loaded("qwen2")
    hf = model.model
    assert hf.config._attn_implementation == "sdpa"
    ids = model.encode(DEC_TEXT).input_ids
    relevances = []
    for eager in (True, False):
        embeds = model.embed_ids(ids).detach().requires_grad_(True)
        with lrp_rules(hf, constant_attention=constant, eager=model.eager_attention if eager else None) as report:
            logit = hf(inputs_embeds=embeds, use_cache=False).logits[0, -1, 5]
        assert report.counts["softmax"] == hf.config.num_hidden_layers
        relevances.append(_relevance(embeds, logit))
    torch.testing.assert_close(relevances[0], relevances[1], atol=1e-5, rtol=1e-4)


def test_rules_placed_in_half_precision(loaded: Callable[[str], Any]) -> None:
    import copy

    model = loaded("llama")
    hf = copy.deepcopy(model.model).to(torch.bfloat16)
    embeds = hf.get_input_embeddings()(model.encode(DEC_TEXT).input_ids).detach().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with lrp_rules(hf) as report:
            logit = hf(inputs_embeds=embeds, use_cache=False).logits[0, -1, 5]
    n_norms = sum(1 for m in hf.modules() if type(m).__name__ == "LlamaRMSNorm")
    assert report.counts["norm"] == n_norms and not report.plain
    assert torch.isfinite(torch.autograd.grad(logit, embeds)[0]).all()


def _plain_forward_and_grad(model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    hf = model.model
    ids = model.encode(ENC_TEXT).input_ids
    embeds = model.embed_ids(ids).detach().requires_grad_(True)
    kwargs = {"decoder_inputs_embeds": embeds} if model.is_encoder_decoder else {}
    out = hf(inputs_embeds=embeds, use_cache=False, **kwargs).logits
    return out.detach(), torch.autograd.grad(out[0, -1].max(), embeds)[0]


@pytest.mark.parametrize("arch", ["gpt2", "t5"])
def test_model_unchanged_after_attribution(loaded: Callable[[str], Any], arch: str) -> None:
    model = loaded(arch)
    hf = model.model
    before = _plain_forward_and_grad(model)
    impl = hf.config._attn_implementation
    for method in ("attnlrp", "cp_lrp"):
        _attribute(model, method, show_progress=False)
    after = _plain_forward_and_grad(model)
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])
    assert hf.config._attn_implementation == impl and not hf.training
    for module in hf.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    assert not torch.overrides._is_torch_function_mode_enabled()


@pytest.mark.parametrize("arch", ["qwen2", "bart"])
def test_batch_and_chunk_invariance(loaded: Callable[[str], Any], arch: str) -> None:
    model = loaded(arch)
    if model.is_encoder_decoder:
        inputs, texts = ["The small cat sees the dog", "Hello world"], ["The dog", "Hello, this is a world"]
    else:
        inputs, texts = ["The small cat", "Hello"], ["The small cat sees the dog", "Hello world, this is"]
    kwargs = {"attribute_target": True} if model.is_encoder_decoder else {}
    batched = model.attribute(inputs, texts, method="attnlrp", show_progress=False, **kwargs)
    for i in range(2):
        alone = model.attribute(inputs[i], texts[i], method="attnlrp", show_progress=False, **kwargs)[0]
        one_by_one = model.attribute(
            inputs[i], texts[i], method="attnlrp", max_chunk_size=1, show_progress=False, **kwargs
        )
        for got in (batched[i], one_by_one[0]):
            torch.testing.assert_close(
                got.target_attributions, alone.target_attributions, atol=1e-5, rtol=1e-4, equal_nan=True
            )
            if alone.source_attributions is not None:
                torch.testing.assert_close(
                    got.source_attributions, alone.source_attributions, atol=1e-5, rtol=1e-4, equal_nan=True
                )


def test_contrastive_function_forced_targets_and_save(loaded: Callable[[str], Any], tmp_path: Path) -> None:
    from inseq import FeatureAttributionOutput

    model = loaded("gpt2")
    out = model.attribute(
        DEC_PROMPT,
        DEC_TEXT,
        method="cp_lrp",
        attributed_fn="contrast_prob_diff",
        contrast_targets="The small cat sees the cat",
        step_scores=["probability"],
        show_progress=False,
    )
    seq = out[0]
    assert torch.isfinite(seq.target_attributions.nan_to_num()).all() and "probability" in seq.step_scores
    out.save(tmp_path / "lrp.json")
    loaded_back = FeatureAttributionOutput.load(tmp_path / "lrp.json")
    assert loaded_back.info["attribution_method"] == "cp_lrp"
    torch.testing.assert_close(loaded_back[0].target_attributions, seq.target_attributions, equal_nan=True)

"""LRP rules decided by the operation (issue 23, item 8): activations written inline get the identity rule, products of
two activations the uniform rule, and an operation that changes relevance with no rule is named in a warning.

The checks are conservation on bias-free MLPs: with the plain (epsilon) gradient through the linear layers, the identity
rule on the activation and the uniform rule on products, the input relevances of a row sum to the row's output.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from inseq.attr.feat.lrp.rules import LRPFunctionMode, RuleReport, lrp_rules, pointwise_op_name


def _swiglu(h: torch.Tensor) -> torch.Tensor:
    gate, up = h.chunk(2, dim=-1)
    return F.silu(gate) * up


def _gelu_erf(h: torch.Tensor) -> torch.Tensor:
    return 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))


def _gelu_tanh(h: torch.Tensor) -> torch.Tensor:
    return 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * torch.pow(h, 3.0))))


#: Activations as a model would write them inline; each name maps to the function and the width it halves (GLUs).
INLINE_ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], bool]] = {
    "x * sigmoid(x)": (lambda h: h * torch.sigmoid(h), False),
    "x / (1 + exp(-x))": (lambda h: h / (1 + torch.exp(-h)), False),
    "x * (1 / (1 + exp(-x)))": (lambda h: h * (1 / (1 + torch.exp(-h))), False),
    "erf gelu": (_gelu_erf, False),
    "tanh gelu": (_gelu_tanh, False),
    "F.gelu": (F.gelu, False),
    "F.elu": (F.elu, False),
    "F.softplus": (F.softplus, False),
    "Tensor.tanh": (lambda h: h.tanh(), False),
    "F.glu": (lambda h: F.glu(h, dim=-1), True),
    "inline swiglu": (_swiglu, True),
}


class InlineMLP(torch.nn.Module):
    """``down(act(up(x)))`` without biases; ``act`` is a plain function, not a module, so no hook can see it."""

    def __init__(self, act: Callable[[torch.Tensor], torch.Tensor], halves: bool, dim: int = 8, hidden: int = 16):
        super().__init__()
        self.act = act
        self.up = torch.nn.Linear(dim, hidden, bias=False)
        self.down = torch.nn.Linear(hidden // 2 if halves else hidden, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))


def _row_relevance(
    model: torch.nn.Module, x: torch.Tensor, rules: bool
) -> tuple[torch.Tensor, torch.Tensor, RuleReport]:
    report = RuleReport()
    if rules:
        with lrp_rules(model) as report:
            out = model(x)
    else:
        out = model(x)
    grad = torch.autograd.grad(out.sum(), x)[0]
    return (x * grad).sum(-1), out.detach()[:, 0], report


@pytest.mark.parametrize("name", list(INLINE_ACTIVATIONS))
def test_inline_activation_conserves_relevance(name: str) -> None:
    torch.manual_seed(0)
    act, halves = INLINE_ACTIVATIONS[name]
    model = InlineMLP(act, halves).eval().requires_grad_(False)
    x = torch.randn(16, 8, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every operation has its rule: no warning
        relevance, out, report = _row_relevance(model, x, rules=True)
    assert not report.no_rule and not report.plain
    assert report.counts.get("activation", 0) + report.counts.get("product", 0) >= 1
    torch.testing.assert_close(relevance, out, atol=2e-6, rtol=1e-4)
    # not vacuous: the plain gradient does not conserve through these activations
    plain, _, _ = _row_relevance(model, x, rules=False)
    assert (plain - out).abs().max() > 1e-2


def test_activation_inside_an_unnamed_module_gets_its_rule() -> None:
    """A two-layer block whose activation module has no activation-like name: decided by its operations."""

    class Block(torch.nn.Module):
        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return _gelu_erf(h)

    torch.manual_seed(1)
    model = (
        torch.nn.Sequential(
            torch.nn.Linear(6, 12, bias=False),
            Block(),
            torch.nn.Linear(12, 12, bias=False),
            Block(),
            torch.nn.Linear(12, 1, bias=False),
        )
        .eval()
        .requires_grad_(False)
    )
    x = torch.randn(10, 6, requires_grad=True)
    relevance, out, report = _row_relevance(model, x, rules=True)
    torch.testing.assert_close(relevance, out, atol=2e-6, rtol=1e-4)
    assert report.counts["activation"] >= 2 and not report.no_rule


def test_product_of_two_activations_gets_the_uniform_rule() -> None:
    torch.manual_seed(0)
    a = torch.randn(4, 5, requires_grad=True)
    b = torch.randn(4, 5, requires_grad=True)
    with LRPFunctionMode(False, RuleReport()):
        y = torch.tanh(a) * F.elu(b)  # two different roots: a product
    ga, gb = torch.autograd.grad(y.sum(), (a, b))
    torch.testing.assert_close(a * ga, y.detach() / 2, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(b * gb, y.detach() / 2, atol=1e-6, rtol=1e-5)


def test_linear_maps_by_numbers_keep_the_plain_gradient() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    with LRPFunctionMode(False, RuleReport()):
        y = -(x * 3.0 / 2.0) * torch.tensor(2.0)
    assert torch.equal(torch.autograd.grad(y.sum(), x)[0], torch.full_like(x, -3.0))


@pytest.mark.parametrize(
    ("expression", "op"),
    [
        (lambda a, b: a / (b.abs() + 1.0), "div"),
        (lambda a, b: torch.atan2(a, b), "atan2"),
        (lambda a, b: a + torch.linalg.vector_norm(b, dim=-1, keepdim=True), "linalg_vector_norm"),
        (lambda a, b: a - b.var(-1, keepdim=True), "var"),
    ],
)
def test_operation_without_rule_warns_naming_it(expression: Callable[..., torch.Tensor], op: str) -> None:
    a = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(3, 4, requires_grad=True)
    report = RuleReport()
    with pytest.warns(UserWarning, match=f"operation '{op}' has no LRP rule"):
        with LRPFunctionMode(False, report):
            out = expression(a, b)
    assert op in report.no_rule
    # the plain gradient is kept there
    torch.testing.assert_close(torch.autograd.grad(out.sum(), a)[0], torch.autograd.grad(expression(a, b).sum(), a)[0])


def test_pointwise_ops_are_found_by_their_torch_tag() -> None:
    assert pointwise_op_name(torch.erf) == "erf"
    assert pointwise_op_name(F.elu) == "elu"
    assert pointwise_op_name(torch.Tensor.__rsub__) == "rsub"
    assert pointwise_op_name(torch.Tensor.__rtruediv__) == "reciprocal"  # number / tensor is not linear
    assert pointwise_op_name(torch.Tensor.mul_) == "mul"
    for not_pointwise in (torch.matmul, torch.softmax, torch.sum, F.linear, F.layer_norm):
        assert pointwise_op_name(not_pointwise) is None, not_pointwise

"""LRP rules for transformers as modified gradients, installed on any model for the duration of a call.

In the input x gradient formulation of LRP for transformers (Arras et al., 2025; the rules are AttnLRP's, Achtibat
et al., 2024) the relevance of a tensor ``t`` is ``t * g_t`` where ``g_t`` is a *modified* gradient: linear layers
(LRP-epsilon) and residual sums keep the plain gradient, and only a few operations need a different backward:

- element-wise non-linearities ``y = f(x)`` (GELU, SiLU, tanh, ...): identity rule ``R_x = R_y``, i.e.
  ``g_x = g_y * f(x) / x``;
- normalisations (LayerNorm, RMSNorm and look-alikes): identity rule through the normalising factor, i.e. the
  gradient with the per-token ``1 / sigma(x)`` held constant;
- products of two activations (gated MLPs, ``Q K^T``, ``A V``; ``mul``, ``matmul``, ``bmm``, ``baddbmm`` and
  two-operand ``einsum``): uniform rule, each factor gets half of the
  relevance, i.e. half of the plain gradient for each operand;
- softmax: AttnLRP's rule ``R_x = x * (R_s - s * sum(R_s))`` is, in this formulation, exactly the plain softmax
  gradient; CP-LRP (Ali et al., 2022) instead treats the attention weights as constants (detached).

Every rule keeps the forward values bit-identical: a rule returns ``value.detach() + (surrogate - surrogate.detach())``
whose value is the original output and whose gradient is the surrogate's. Only plain torch operations are used, so
the rules work under ``torch.autograd.grad(..., is_grads_batched=True)`` (vmap over grad outputs).

The rules are decided by the operation, without any per-architecture table: a
:class:`torch.overrides.TorchFunctionMode`, active only while the model's (and its encoder's) forward runs, sees every
torch function call and classifies it with torch's own operator tags (``torch.Tag.pointwise`` of the ATen operator of
the same name):

- element-wise operations of one activation (``erf``, ``tanh``, ``exp``, ``F.elu``, ``x * sigmoid(x)``, an inline
  ``0.5 * x * (1 + erf(x / sqrt(2)))``, ...; other operands Python numbers) are followed as a *chain* from their
  root tensor: every member of the chain carries the identity rule with respect to the root, so a composite
  activation written inline gets the same rule as ``F.gelu``; multiplications and divisions by a number keep the
  plain (equal) gradient;
- element-wise products of two different activations (``gate * up``) and ``matmul``/``bmm``/``baddbmm``/two-operand
  ``einsum`` get the uniform rule, sums and selections (``add``, ``sub``, ``where``, ``maximum``, ...) the plain
  gradient; ``F.glu`` is its product of two halves;
- ``softmax`` and ``scaled_dot_product_attention`` get the attention rule; ``layer_norm``/``rms_norm`` the norm rule;
- any other operation that changes the relevance and has no rule (``var``, ``norm``, a quotient of two activations,
  ...) keeps the plain gradient with a warning naming it (:attr:`RuleReport.no_rule`).

``F.scaled_dot_product_attention`` stays the fused, memory-efficient kernel (:func:`lrp_sdpa`): through one
attention block, AttnLRP's rules (uniform on ``Q K^T`` and on ``A V``, the plain softmax gradient in between) are
SDPA's own backward with the gradients of the queries and keys scaled by 1/4 and of the values by 1/2 (each factor
applied with :func:`half_gradient`, the uniform rule's own function); CP-LRP detaches queries and keys and keeps the
values' plain gradient. No ``L x L`` attention map is stored. The attribution methods leave models on their attention
implementation when it is ``sdpa`` or ``eager`` and switch only the others to eager for the call
(:mod:`inseq.attr.feat.lrp.attention`).

Forward hooks on modules found by inspecting the module tree handle hand-written normalisations (``LlamaRMSNorm``,
``T5LayerNorm``), whose kind is recognised by behaviour, and activation modules (whose forward then runs without
interception). The model runs in eval mode for the call; hooks and training flags are restored afterwards. Blocks
checkpointed by the ``checkpoint_mb`` budget are recomputed in the backward with the rules in force again
(:func:`~inseq.attr.checkpointing.recompute_with`), so checkpointing leaves the relevances unchanged.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ...checkpointing import recompute_with

#: Stabiliser of the identity rule's ``f(x) / x``.
IDENTITY_EPS = 1e-6

_ACTIVATION_NAME = re.compile(r"gelu|silu|swish|mish|tanh|sigmoid|softplus|activation", re.IGNORECASE)
_MATMUL_FUNCS = (torch.matmul, torch.Tensor.matmul, torch.bmm, torch.Tensor.bmm)
_SOFTMAX_FUNCS = (F.softmax, torch.softmax, torch.Tensor.softmax)
#: Python operator methods and their ATen operator.
_DUNDER_OPS = {
    "__rsub__": "rsub",
    "__rdiv__": "reciprocal",  # number / tensor: not linear in the tensor
    "__rtruediv__": "reciprocal",
    "__truediv__": "div",
    "__pow__": "pow",
    "__rpow__": "pow",
    "__neg__": "neg",
    "__mul__": "mul",
    "__rmul__": "mul",
    "__add__": "add",
    "__radd__": "add",
    "__sub__": "sub",
}
#: Element-wise operations that are linear in their activation when every other operand is a number.
_SCALAR_LINEAR_OPS = frozenset({"mul", "div", "true_divide", "neg", "negative", "positive"})
_QUOTIENT_OPS = frozenset({"div", "true_divide"})
#: Element-wise operations of several activations whose plain gradient is LRP's: sums and selections.
_SUM_OPS = frozenset(
    {"add", "sub", "rsub", "subtract", "where", "maximum", "minimum", "fmax", "fmin", "clamp", "clip", "masked_fill"}
)
#: Element-wise products of two activations: the uniform rule.
_PRODUCT_OPS = frozenset({"mul", "multiply"})
#: Operations (not element-wise) that change the relevance and have no LRP rule here: a warning names them.
_NO_RULE_OPS = frozenset(
    {
        "var",
        "std",
        "var_mean",
        "std_mean",
        "norm",
        "vector_norm",
        "linalg_vector_norm",
        "logsumexp",
        "log_softmax",
        "prod",
        "cumprod",
        "normalize",
        "cosine_similarity",
        "cdist",
        "logcumsumexp",
    }
)
_POINTWISE_CACHE: dict[Any, str | None] = {}


# ----------------------------------------------------------------------------------------------------------------
# The rules, as functions of tensors
# ----------------------------------------------------------------------------------------------------------------


def straight_through(value: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """A tensor with the value of ``value`` and the gradient of ``surrogate``.

    Example:
        >>> x = torch.tensor([2.0], requires_grad=True)
        >>> y = straight_through(x**2, 3 * x)
        >>> y.item(), torch.autograd.grad(y, x)[0].item()
        (4.0, 3.0)
    """
    return value.detach() + (surrogate - surrogate.detach())


def half_gradient(x: torch.Tensor) -> torch.Tensor:
    """``x`` unchanged (bit for bit) with half of its gradient: the uniform rule for one factor of a product.

    Example:
        >>> x = torch.tensor([3.0], requires_grad=True)
        >>> torch.autograd.grad((half_gradient(x) * 2).sum(), x)[0].item()
        1.0
    """
    half = x * 0.5
    return half + half.detach()


def identity_rule(x: torch.Tensor, y: torch.Tensor, eps: float = IDENTITY_EPS) -> torch.Tensor:
    """``y = f(x)`` for an element-wise ``f`` with the identity rule: gradient ``f(x) / x`` (``R_x = R_y``).

    Example:
        >>> x = torch.tensor([2.0, -1.0], requires_grad=True)
        >>> y = identity_rule(x, torch.nn.functional.silu(x))
        >>> torch.allclose(x * torch.autograd.grad(y.sum(), x)[0], y)  # relevance passes unchanged
        True
    """
    if not x.requires_grad:
        return y
    with torch.no_grad():
        denom = x.float() + torch.where(x >= 0, eps, -eps)
        ratio = (y.float() / denom).to(y.dtype)
    return y.detach() + (x - x.detach()).to(y.dtype) * ratio


def _frozen_norm(x: torch.Tensor, centered: bool, eps: float, dims: tuple[int, ...]) -> torch.Tensor:
    """``(x - mean) / sigma`` (``x / rms`` when not centered) with ``1 / sigma`` detached, in float32."""
    z = x.float()
    if centered:
        z = z - z.mean(dims, keepdim=True)
    inv = torch.rsqrt(z.detach().pow(2).mean(dims, keepdim=True) + eps)
    return z * inv


def norm_rule(
    x: torch.Tensor,
    y: torch.Tensor,
    centered: bool,
    eps: float,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    ndim: int = 1,
) -> torch.Tensor:
    """``y = norm(x) * weight + bias`` with the identity rule through the normalising factor ``1 / sigma(x)``.

    Args:
        x: The normalised input.
        y: The normalisation's output (its value is returned unchanged).
        centered: LayerNorm-like (mean removed) rather than RMSNorm-like.
        eps: The normalisation's epsilon.
        weight: Effective per-feature scale (``1 + weight`` for Gemma-style norms), or None.
        bias: Per-feature shift, or None.
        ndim: Number of trailing dimensions normalised.

    Example:
        >>> x = torch.randn(2, 4, requires_grad=True)
        >>> ln = torch.nn.LayerNorm(4)
        >>> y = norm_rule(x, ln(x), centered=True, eps=ln.eps, weight=ln.weight, bias=ln.bias)
        >>> torch.equal(y, ln(x))
        True
    """
    if not x.requires_grad:
        return y
    dims = tuple(range(-ndim, 0))
    surrogate = _frozen_norm(x, centered, eps, dims)
    if weight is not None:
        surrogate = surrogate * weight.detach().float()
    if bias is not None:
        surrogate = surrogate + bias.detach().float()
    return straight_through(y, surrogate.to(y.dtype))


def _needs_grad(*tensors: Any) -> bool:
    """Whether every operand is an activation carrying gradients (parameters count as constants)."""
    return all(
        isinstance(t, torch.Tensor)
        and not isinstance(t, torch.nn.Parameter)
        and t.requires_grad
        and t.is_floating_point()
        for t in tensors
    )


def decomposed_sdpa(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    constant_weights: bool = False,
) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` as matmul, softmax and matmul under the LRP rules (dropout ignored).

    Example:
        >>> q = k = v = torch.randn(1, 2, 3, 4)
        >>> torch.allclose(decomposed_sdpa(q, k, v), torch.nn.functional.scaled_dot_product_attention(q, k, v), atol=1e-6)
        True
    """
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        groups = query.shape[-3] // key.shape[-3]
        key, value = key.repeat_interleave(groups, dim=-3), value.repeat_interleave(groups, dim=-3)
    scores = bilinear(torch.matmul, query, key.transpose(-2, -1)) * scale
    lq, lk = scores.shape[-2:]
    minimum = torch.finfo(scores.dtype).min
    if is_causal:
        causal = torch.ones(lq, lk, dtype=torch.bool, device=scores.device).tril(lk - lq)
        scores = scores.masked_fill(~causal, minimum)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, minimum) if attn_mask.dtype == torch.bool else scores + attn_mask
    weights = torch.softmax(scores.float(), dim=-1).to(query.dtype)
    if constant_weights:
        weights = weights.detach()
    return bilinear(torch.matmul, weights, value)


def lrp_sdpa(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    constant_weights: bool = False,
) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` itself (fused, no ``L x L`` map kept) with the LRP rules on its inputs.

    The gradients equal :func:`decomposed_sdpa`'s: the uniform rule halves the gradient of each factor of ``Q K^T``
    and of ``A V`` and AttnLRP's softmax rule is the plain softmax gradient, so queries and keys get 1/4 of SDPA's
    own gradient and values 1/2 (each half only where the other factor is an activation too). CP-LRP
    (``constant_weights``): queries and keys get none, values the plain gradient. Dropout is not applied.

    Example:
        >>> q, k, v = (torch.randn(1, 2, 3, 4, requires_grad=True) for _ in range(3))
        >>> out = lrp_sdpa(q, k, v, is_causal=True)
        >>> ref = decomposed_sdpa(q, k, v, is_causal=True)
        >>> all(torch.allclose(a, b, atol=1e-6) for a, b in zip(torch.autograd.grad(out.sum(), (q, k, v)),
        ...                                                      torch.autograd.grad(ref.sum(), (q, k, v))))
        True
    """
    q_act, k_act, v_act = (_needs_grad(t) for t in (query, key, value))
    if constant_weights:
        query, key = query.detach(), key.detach()
    else:
        if q_act and k_act:  # uniform rule on Q K^T
            query, key = half_gradient(query), half_gradient(key)
        if v_act and (q_act or k_act):  # uniform rule on A V: the weights' half reaches Q and K linearly
            query = half_gradient(query) if q_act else query
            key = half_gradient(key) if k_act else key
            value = half_gradient(value)
    extra = {"enable_gqa": True} if enable_gqa else {}
    return F.scaled_dot_product_attention(
        query, key, value, attn_mask=attn_mask, dropout_p=0.0, is_causal=is_causal, scale=scale, **extra
    )


def glu_rule(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``F.glu(x, dim)`` (``a * sigmoid(b)`` of the two halves): uniform rule on the product, identity on the sigmoid.

    Example:
        >>> x = torch.randn(2, 6, requires_grad=True)
        >>> y = glu_rule(x)
        >>> torch.equal(y, torch.nn.functional.glu(x)), torch.allclose((x * torch.autograd.grad(y.sum(), x)[0]).sum(),
        ...                                                             y.sum(), atol=1e-5)
        (True, True)
    """
    a, b = x.chunk(2, dim=dim)
    return bilinear(torch.mul, a, identity_rule(b, torch.sigmoid(b)))


def pointwise_op_name(func: Any) -> str | None:
    """The ATen name of ``func`` when it is an element-wise operation (``torch.Tag.pointwise``), else None.

    In-place variants (``add_``) map to their operator's name; Python operators (``__rsub__``) to theirs.

    Example:
        >>> pointwise_op_name(torch.erf), pointwise_op_name(torch.nn.functional.elu), pointwise_op_name(torch.matmul)
        ('erf', 'elu', None)
    """
    try:
        return _POINTWISE_CACHE[func]
    except (KeyError, TypeError):
        pass
    name = getattr(func, "__name__", None)
    result = None
    if isinstance(name, str):
        name = _DUNDER_OPS.get(name, name)
        if not name.startswith("_"):
            base = name[:-1] if name.endswith("_") else name
            op = getattr(torch.ops.aten, base, None) if base.isidentifier() else None
            try:
                overloads = [getattr(op, o) for o in op.overloads()] if op is not None else []
            except (AttributeError, RuntimeError):
                overloads = []
            if any(torch.Tag.pointwise in overload.tags for overload in overloads):
                result = base
    try:
        _POINTWISE_CACHE[func] = result
    except TypeError:
        pass
    return result


def bilinear(func: Callable[..., torch.Tensor], a: Any, b: Any, *rest: Any, **kwargs: Any) -> torch.Tensor:
    """``func(a, b)`` with the uniform rule when both operands carry gradients (plain otherwise: a linear map).

    Example:
        >>> a, b = torch.ones(2, requires_grad=True), torch.full((2,), 3.0, requires_grad=True)
        >>> torch.autograd.grad(bilinear(torch.mul, a, b).sum(), a)[0].tolist()
        [1.5, 1.5]
    """
    if _needs_grad(a, b):
        return func(half_gradient(a), half_gradient(b), *rest, **kwargs)
    return func(a, b, *rest, **kwargs)


# ----------------------------------------------------------------------------------------------------------------
# Interception of torch functions
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class RuleReport:
    """What the rules did during a call: counts per rule and the modules left with the plain gradient.

    Example:
        >>> report = RuleReport()
        >>> report.add("norm")
        >>> report.counts
        {'norm': 1}
    """

    counts: dict[str, int] = field(default_factory=dict)
    plain: dict[str, str] = field(default_factory=dict)
    no_rule: dict[str, str] = field(default_factory=dict)

    def add(self, rule: str) -> None:
        self.counts[rule] = self.counts.get(rule, 0) + 1

    def warn_no_rule(self, op: str, why: str) -> None:
        """Record (and warn once about) an operation left with the plain gradient although it changes relevance."""
        if op in self.no_rule:
            return
        self.no_rule[op] = why
        warnings.warn(f"LRP: operation {op!r} has no LRP rule and keeps the plain gradient: {why}.", stacklevel=4)


def _is_number(value: Any) -> bool:
    """A Python number or a 0-d constant tensor: an operand that keeps an element-wise op a function of one tensor."""
    if isinstance(value, bool | int | float):
        return True
    return isinstance(value, torch.Tensor) and value.ndim == 0 and not _needs_grad(value)


class LRPFunctionMode(TorchFunctionMode):
    """Replaces the backward of the torch functions by their LRP rule, decided by the operation (module docstring).

    Args:
        constant_attention: CP-LRP: detach softmax outputs (attention weights treated as constants).
        report: Collects how often each rule fired and the operations left without a rule.

    Example:
        >>> x = torch.randn(3, requires_grad=True)
        >>> with LRPFunctionMode(constant_attention=True, report=RuleReport()):
        ...     weights = torch.softmax(x, dim=-1)
        >>> weights.requires_grad
        False
    """

    def __init__(self, constant_attention: bool, report: RuleReport) -> None:
        super().__init__()
        self.constant_attention = constant_attention
        self.report = report
        self.paused = 0
        self._token = object()  # tags chain members of this mode only

    # -------------------------------------------------------------------------------- chains of element-wise ops
    def _root(self, t: torch.Tensor) -> torch.Tensor:
        tag = getattr(t, "_lrp_chain", None)
        return tag[1] if tag is not None and tag[0] is self._token else t

    def _tag(self, out: Any, root: torch.Tensor) -> Any:
        if isinstance(out, torch.Tensor) and out is not root:
            out._lrp_chain = (self._token, root)
        return out

    def _pointwise(self, op: str, func: Any, args: tuple, kwargs: dict) -> Any:
        operands = [*args, *kwargs.values()]
        acts = [t for t in operands if _needs_grad(t)]
        if not acts:
            return func(*args, **kwargs)
        if op != func.__name__ and func.__name__.endswith("_") and not func.__name__.startswith("__"):
            out = func(*args, **kwargs)  # in-place: plain, and no longer a chain member
            if isinstance(out, torch.Tensor) and hasattr(out, "_lrp_chain"):
                del out._lrp_chain
            return out
        roots = {id(self._root(t)): self._root(t) for t in acts}
        constants = [v for v in operands if isinstance(v, torch.Tensor) and not _needs_grad(v) and not _is_number(v)]
        if len(roots) == 1:
            if constants:  # an affine map with a constant tensor (mask, bias, frozen weight): the plain gradient
                return func(*args, **kwargs)
            (root,) = roots.values()
            # linear in the one activation (times or over a number): the plain gradient equals the identity rule's
            if op in _SCALAR_LINEAR_OPS and len(acts) == 1 and (op not in _QUOTIENT_OPS or args[0] is acts[0]):
                return self._tag(func(*args, **kwargs), root)
            with torch.no_grad():
                value = func(*args, **kwargs)
            if isinstance(value, torch.Tensor) and not value.is_floating_point():
                return value  # comparisons, masks: no gradient to carry
            if not isinstance(value, torch.Tensor) or value.shape != root.shape:  # several outputs, broadcasting
                return func(*args, **kwargs)
            self.report.add("activation")
            return self._tag(identity_rule(root, value), root)
        if op in _PRODUCT_OPS and len(acts) == 2 and len(args) >= 2 and not kwargs:
            self.report.add("product")
            return bilinear(func, *args)
        if op not in _SUM_OPS:
            self.report.warn_no_rule(
                op, "an element-wise operation of several activations that is not a sum or a product"
            )
        return func(*args, **kwargs)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if self.paused or not torch.is_grad_enabled():
            return func(*args, **kwargs)
        op = pointwise_op_name(func)
        if op is not None:
            return self._pointwise(op, func, args, kwargs)
        if func in _MATMUL_FUNCS:
            if len(args) >= 2 and _needs_grad(args[0], args[1]):
                self.report.add("product")
                return bilinear(func, *args, **kwargs)
            return func(*args, **kwargs)
        if func is torch.einsum:
            return self._einsum(args, kwargs)
        if func in (torch.baddbmm, torch.Tensor.baddbmm) and len(args) >= 3 and _needs_grad(args[1], args[2]):
            self.report.add("product")  # input + alpha * batch1 @ batch2: the product gets the uniform rule
            return func(args[0], half_gradient(args[1]), half_gradient(args[2]), *args[3:], **kwargs)
        if func in _SOFTMAX_FUNCS:
            self.report.add("softmax")
            out = func(*args, **kwargs)
            return out.detach() if self.constant_attention else out
        if func is F.scaled_dot_product_attention:
            self.report.add("softmax")
            return lrp_sdpa(*args, constant_weights=self.constant_attention, **kwargs)
        if func is F.glu and args and _needs_grad(args[0]):
            self.report.add("product")
            return glu_rule(*args, **kwargs)
        if func is F.layer_norm or func is F.rms_norm:
            return self._functional_norm(func, args, kwargs)
        name = getattr(func, "__name__", "")
        if name in _NO_RULE_OPS and any(_needs_grad(t) for t in (*args, *kwargs.values())):
            self.report.warn_no_rule(name, "a non-linear operation with no LRP rule")
        return func(*args, **kwargs)

    def _einsum(self, args: tuple, kwargs: dict) -> torch.Tensor:
        equation, *operands = args
        if len(operands) == 1 and isinstance(operands[0], list | tuple):
            operands = list(operands[0])
        if len(operands) == 2 and _needs_grad(*operands):
            self.report.add("product")
            return torch.einsum(equation, half_gradient(operands[0]), half_gradient(operands[1]))
        return torch.einsum(equation, *operands, **kwargs)

    def _functional_norm(self, func: Any, args: tuple, kwargs: dict) -> torch.Tensor:
        with torch.no_grad():  # norm_rule keeps only the value
            out = func(*args, **kwargs)
        names = ("input", "normalized_shape", "weight", "bias", "eps") if func is F.layer_norm else None
        names = names or ("input", "normalized_shape", "weight", "eps")
        bound = dict(zip(names, args, strict=False)) | kwargs
        x, shape = bound["input"], bound["normalized_shape"]
        ndim = 1 if isinstance(shape, int) else len(shape)
        eps = bound.get("eps")
        if eps is None:
            eps = 1e-5 if func is F.layer_norm else torch.finfo(x.dtype).eps
        self.report.add("norm")
        centered = func is F.layer_norm
        return norm_rule(x, out, centered, eps, bound.get("weight"), bound.get("bias"), ndim)


# ----------------------------------------------------------------------------------------------------------------
# Module-level rules (composite activations, hand-written norms), found by inspection and recognised by behaviour
# ----------------------------------------------------------------------------------------------------------------


def is_norm_module(module: torch.nn.Module) -> bool:
    """Whether ``module`` looks like a normalisation layer: ``*Norm*`` class name and a 1-D ``weight``.

    ``torch.nn.LayerNorm`` is handled at the functional level (``F.layer_norm``) and is not listed.

    Example:
        >>> from transformers.models.llama.modeling_llama import LlamaRMSNorm
        >>> is_norm_module(LlamaRMSNorm(8)), is_norm_module(torch.nn.Linear(2, 2))
        (True, False)
    """
    if isinstance(module, torch.nn.LayerNorm | torch.nn.RMSNorm):
        return False
    weight = getattr(module, "weight", None)
    return (
        "norm" in type(module).__name__.lower()
        and isinstance(weight, torch.Tensor)
        and weight.ndim == 1
        and not any(True for _ in module.children())
    )


def is_activation_module(module: torch.nn.Module) -> bool:
    """Whether ``module`` looks like an element-wise activation (GELU, SiLU, ... modules; ReLU excluded).

    Example:
        >>> is_activation_module(torch.nn.GELU()), is_activation_module(torch.nn.ReLU())
        (True, False)
    """
    name = type(module).__name__
    if any(True for _ in module.children()) or "relu" in name.lower() or "norm" in name.lower():
        return False
    return bool(_ACTIVATION_NAME.search(name)) or isinstance(
        module, torch.nn.GELU | torch.nn.SiLU | torch.nn.Tanh | torch.nn.Mish | torch.nn.Sigmoid
    )


def _eps_of(module: torch.nn.Module) -> list[float]:
    found = [getattr(module, n, None) for n in ("eps", "variance_epsilon", "epsilon")]
    found = [float(v) for v in found if isinstance(v, int | float)]
    return found or [1e-6, 1e-5, 1e-12]


def recognise_norm(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any] | None:
    """Find which normalisation ``module`` computes, by comparing its output ``y`` with the candidates.

    Candidates: LayerNorm (centered) and RMSNorm, with ``weight`` or ``1 + weight`` as scale, plus ``bias`` when
    the module has one. Returns the keyword arguments of :func:`norm_rule` (without ``x``/``y``), or None.

    Example:
        >>> from transformers.models.llama.modeling_llama import LlamaRMSNorm
        >>> norm, x = LlamaRMSNorm(8), torch.randn(2, 8)
        >>> recognise_norm(norm, x, norm(x))["centered"]
        False
    """
    weight = module.weight
    bias = getattr(module, "bias", None)
    bias = bias if isinstance(bias, torch.Tensor) and bias.shape == weight.shape else None
    if x.shape[-1] != weight.shape[0] or y.shape != x.shape:
        return None
    tol = max(1e-3, 8 * torch.finfo(y.dtype).eps)  # half-precision models round their norm outputs
    with torch.no_grad():
        flat_x, flat_y = x.detach().reshape(-1, x.shape[-1])[:64].float(), y.detach().reshape(-1, y.shape[-1])[:64]
        for eps in _eps_of(module):
            for centered in (False, True):
                for scale in (weight, 1 + weight):
                    guess = _frozen_norm(flat_x, centered, eps, (-1,)) * scale.float()
                    if bias is not None:
                        guess = guess + bias.float()
                    if torch.allclose(guess, flat_y.float(), rtol=tol, atol=tol / 10):
                        return {"centered": centered, "eps": eps, "weight": scale, "bias": bias}
    return None


def _first_tensor(args: tuple, kwargs: dict) -> torch.Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
    return None


@dataclass
class _Installer:
    """Installs the forward hooks and the function mode on one model; :meth:`remove` undoes everything."""

    model: torch.nn.Module
    roots: list[torch.nn.Module]
    mode: LRPFunctionMode
    report: RuleReport
    handles: list[Any] = field(default_factory=list)
    depth: int = 0
    norms: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    pauses: list[bool] = field(default_factory=list)

    def install(self) -> None:
        for root in self.roots:
            self.handles.append(root.register_forward_pre_hook(self._enter))
            self.handles.append(root.register_forward_hook(self._exit, always_call=True))
        for name, module in self.model.named_modules():
            if is_norm_module(module):
                hook = self._norm_hook(name)
            elif is_activation_module(module):
                hook = self._activation_hook(name)
            else:
                continue
            # the module's own forward runs without interception: its output gets the module's rule
            self.handles.append(module.register_forward_pre_hook(self._pause))
            self.handles.append(module.register_forward_hook(hook, with_kwargs=True, always_call=True))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        while self.depth > 0:
            self.depth -= 1
            self.mode.__exit__(None, None, None)

    def _enter(self, module: torch.nn.Module, args: tuple) -> None:
        if self.depth == 0:
            self.mode.__enter__()
        self.depth += 1

    def _exit(self, module: torch.nn.Module, args: tuple, output: Any) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.mode.__exit__(None, None, None)

    @contextmanager
    def recomputing(self) -> Iterator[None]:
        """The rules in force again while a checkpointed block is recomputed in the backward (as inside the model's
        forward), so that the recomputed graph carries the same rules as the first forward."""
        self._enter(self.model, ())
        try:
            yield
        finally:
            self._exit(self.model, (), None)

    def _pause(self, module: torch.nn.Module, args: tuple) -> None:
        paused = self.depth > 0
        self.pauses.append(paused)
        if paused:
            self.mode.paused += 1

    def _resume(self) -> None:
        if self.pauses and self.pauses.pop():
            self.mode.paused -= 1

    def _norm_hook(self, name: str) -> Callable[..., Any]:
        def hook(module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
            try:
                return self._apply_norm(name, module, args, kwargs, output)
            finally:
                self._resume()

        return hook

    def _activation_hook(self, name: str) -> Callable[..., Any]:
        def hook(module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
            try:
                return self._apply_activation(name, module, args, kwargs, output)
            finally:
                self._resume()

        return hook

    def _apply_norm(self, name: str, module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        """The norm rule on a norm module's output (its forward ran paused; the rule runs paused too)."""
        x = _first_tensor(args, kwargs)
        if not self.depth or x is None or not isinstance(output, torch.Tensor) or not x.requires_grad:
            return None
        key = id(module)
        if key not in self.norms:
            self.norms[key] = recognise_norm(module, x, output)
            if self.norms[key] is None:
                self._plain(name, module, "normalisation not recognised as LayerNorm or RMSNorm")
        spec = self.norms[key]
        if spec is None:
            return None
        self.report.add("norm")
        return norm_rule(x, output, **spec)

    def _apply_activation(self, name: str, module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        x = _first_tensor(args, kwargs)
        if not self.depth or x is None or not x.requires_grad:
            return None
        if not isinstance(output, torch.Tensor) or output.shape != x.shape:
            self._plain(name, module, "not an element-wise activation (output shape differs from input)")
            return None
        self.report.add("activation")
        return identity_rule(x, output)

    def _plain(self, name: str, module: torch.nn.Module, why: str) -> None:
        if name in self.report.plain:
            return
        self.report.plain[name] = why
        warnings.warn(
            f"LRP: module {name!r} ({type(module).__name__}) is treated with the plain gradient: {why}.",
            stacklevel=2,
        )


def _roots(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model and, for encoder-decoder models, its encoder (run separately by the engine)."""
    roots = [model]
    get_encoder = getattr(model, "get_encoder", None)
    if callable(get_encoder):
        try:
            encoder = get_encoder()
        except (AttributeError, NotImplementedError, TypeError):
            encoder = None
        if isinstance(encoder, torch.nn.Module) and encoder is not model:
            roots.append(encoder)
    return roots


@contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for module, training in flags:
            module.training = training


@contextmanager
def lrp_rules(
    model: torch.nn.Module,
    constant_attention: bool = False,
    eager: Callable[[], AbstractContextManager[None]] | None = None,
) -> Iterator[RuleReport]:
    """Install the LRP rules on ``model`` for the block; nothing stays installed afterwards.

    Args:
        model: A (transformers) torch module.
        constant_attention: CP-LRP (attention weights treated as constants) instead of AttnLRP's softmax rule.
        eager: A context manager factory switching the model to eager attention for the block (the port's
            ``eager_attention``), or None to keep the model's implementation. Needed only for kernels the function
            mode cannot see (flash or flex attention, see
            :func:`~inseq.attr.feat.lrp.attention.needs_eager_attention`): ``F.scaled_dot_product_attention`` keeps
            its fused kernel under the rules (:func:`lrp_sdpa`).

    Yields:
        A :class:`RuleReport` filled while the model runs.

    Example:
        >>> with lrp_rules(hf_model) as report:  # doctest: +SKIP
        ...     logits = hf_model(inputs_embeds=embeds).logits
        >>> report.counts  # doctest: +SKIP
        {'norm': 5, 'product': 8, 'softmax': 2, 'activation': 2}
    """
    report = RuleReport()
    installer = _Installer(model, _roots(model), LRPFunctionMode(constant_attention, report), report)
    with ExitStack() as stack:
        stack.enter_context(_eval_mode(model))
        if eager is not None:
            stack.enter_context(eager())
        stack.callback(installer.remove)
        installer.install()
        stack.enter_context(recompute_with(installer.recomputing))
        yield report

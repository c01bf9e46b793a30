"""Layer-wise relevance propagation for transformers: ``attnlrp`` and ``cp_lrp``.

Both run on the fast gradient path of :class:`~inseq.attr.feat.gradient.methods.InputXGradientAttribution` (one
forward per chunk of target positions, one batched backward), with LRP's rules installed on the model for the call
by :func:`~inseq.attr.feat.lrp.rules.lrp_rules`: the relevance of an input embedding is the embedding times the
modified gradient. The rules are placed on any architecture by intercepting torch functions (each decided by its
operation) and inspecting the module tree, not by a per-family table; nothing stays patched on the model after the
call. SDPA attention keeps its fused kernel (no ``L x L`` map stored); only other kernels are switched to eager.

Licence note: the authors' reference implementation of AttnLRP states that LRP is a patented technology that may be
used free of charge for personal and scientific purposes only; check whether this applies to your use.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

from ...engine import AttributionContext
from ..base import MethodResult
from ..gradient.methods import InputXGradientAttribution
from .attention import needs_eager_attention
from .rules import lrp_rules


class _LRPAttribution(InputXGradientAttribution):
    """Input x modified gradient under the LRP rules; subclasses choose the softmax rule."""

    method_name = ""  # abstract: must not inherit (and re-register) "input_x_gradient"
    constant_attention: ClassVar[bool] = False

    def compute(self, ctx: AttributionContext, *, max_chunk_size: int | None = None) -> MethodResult:
        module = ctx.model.torch_module
        # SDPA stays fused (its backward, rescaled, is the rules'); only other kernels are switched to eager
        eager = ctx.model.eager_attention if needs_eager_attention(module) else None
        with lrp_rules(module, constant_attention=self.constant_attention, eager=eager) as report:
            result = super().compute(ctx, max_chunk_size=max_chunk_size)
        self.last_report = report
        if not report.counts.get("softmax"):
            warnings.warn(
                f"{self.method_name}: no softmax or scaled_dot_product_attention call was seen in the forward of "
                f"{type(module).__name__}: its attention (if any) is treated with the plain gradient.",
                stacklevel=2,
            )
        return result


class AttnLRPAttribution(_LRPAttribution):
    """AttnLRP (Achtibat et al., 2024): LRP with attention-aware rules, in the input x gradient formulation.

    Rules (Arras et al., 2025 formulation): linear layers LRP-epsilon (plain gradient), element-wise non-linearities
    and normalising factors the identity rule, products of two activations (gated MLPs, ``Q K^T``, attention x
    values) the uniform rule, softmax AttnLRP's rule. Attributions are ``embedding * modified gradient`` of the
    attributed function; explain ``attributed_fn="logit"`` for relevances that sum (approximately, biases and the
    softmax rule absorb some) to the logit. One backward pass per target position, batched like ``saliency``.

    Licence note: the reference implementation of AttnLRP states that LRP is a patented technology, free of charge
    only for personal and scientific use. Check whether this applies to your use before relying on this method.

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "attnlrp")  # doctest: +SKIP
        >>> out = model.attribute("Hello", "Hello world", attributed_fn="logit")  # doctest: +SKIP
    """

    method_name = "attnlrp"


class CPLRPAttribution(_LRPAttribution):
    """CP-LRP (Ali et al., 2022): conservative propagation, attention weights treated as constants.

    Same rules as :class:`AttnLRPAttribution` except that softmax outputs are detached, so relevance reaches the
    inputs through the values only. Bias-free models conserve relevance: the input relevances of a step sum to the
    attributed logit.

    Licence note: the reference implementation of AttnLRP states that LRP is a patented technology, free of charge
    only for personal and scientific use. Check whether this applies to your use before relying on this method.

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "cp_lrp")  # doctest: +SKIP
        >>> out = model.attribute("Hello", "Hello world", attributed_fn="logit")  # doctest: +SKIP
    """

    method_name = "cp_lrp"
    constant_attention = True

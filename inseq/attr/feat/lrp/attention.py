"""Which attention implementation the LRP rules can run on without an ``L x L`` attention map.

The rules of :mod:`inseq.attr.feat.lrp.rules` need either the eager composition (``matmul``, ``softmax``,
``matmul``, each intercepted) or ``torch.nn.functional.scaled_dot_product_attention``, whose fused,
memory-efficient kernel keeps no probability matrix and whose backward, with the gradients of its inputs scaled,
*is* AttnLRP's and CP-LRP's (:func:`~inseq.attr.feat.lrp.rules.lrp_sdpa`). Other implementations (flash attention
2/3, flex attention, paged kernels) call kernels the torch function mode cannot see, so only those are switched to
eager attention for the call.

Example:
    >>> from inseq.attr.feat.lrp.attention import needs_eager_attention
    >>> needs_eager_attention(torch.nn.Linear(2, 2))
    False
"""

from __future__ import annotations

import torch

#: Attention implementations (transformers' ``config._attn_implementation``) the rules run on as they are.
RULE_READY_ATTENTION = frozenset({"eager", "sdpa"})


def attention_implementations(model: torch.nn.Module) -> set[str]:
    """The attention implementations named by the configurations reachable from ``model``'s modules.

    Example:
        >>> attention_implementations(torch.nn.Linear(2, 2))
        set()
    """
    found: set[str] = set()
    for module in model.modules():
        config = getattr(module, "config", None)
        value = getattr(config, "_attn_implementation", None)
        if isinstance(value, str):
            found.add(value)
    return found


def needs_eager_attention(model: torch.nn.Module) -> bool:
    """Whether ``model`` must be switched to eager attention for the LRP rules to see its attention.

    True only for implementations other than ``"eager"`` and ``"sdpa"`` (those keep their own kernels: SDPA stays
    fused and memory-efficient under the rules).

    Example:
        >>> needs_eager_attention(torch.nn.Linear(2, 2))  # no attention at all
        False
    """
    return bool(attention_implementations(model) - RULE_READY_ATTENTION)

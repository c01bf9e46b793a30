"""Fused tanh-GELU: the same logits as transformers' op-by-op activation, restored after the block."""

from __future__ import annotations

import pytest
import torch

import inseq
from inseq.models.fused import TANH_GELU_MODULES, fused_activations


def test_fused_activations_keep_the_logits_and_restore_the_modules(tiny_model_path):
    model = inseq.load_model(str(tiny_model_path("gpt2")), "saliency")
    net = model.torch_module
    ids = torch.tensor([[3, 4, 5, 6, 7]])
    with torch.no_grad():
        plain = net(input_ids=ids).logits
        with fused_activations(net) as switched:
            fused = net(input_ids=ids).logits
    assert switched == sum(isinstance(m, TANH_GELU_MODULES) for m in net.modules()) > 0
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    with pytest.raises(RuntimeError), fused_activations(net):
        raise RuntimeError("inside")
    assert not any("forward" in vars(m) for m in net.modules() if isinstance(m, TANH_GELU_MODULES))

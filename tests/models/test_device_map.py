"""Models split across devices with ``device_map`` (accelerate's dispatch hooks): attributions equal the unsplit ones.

On CPU the split is an explicit map over the tiny model's layers, all on ``"cpu"``, and one with a layer offloaded
to ``"disk"``: accelerate then wraps every module in an ``AlignDevicesHook`` that loads the offloaded weights at
each forward, the path a multi-GPU or CPU-offloaded model takes. The gradients must flow through those hooks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import inseq

pytest.importorskip("accelerate")

GEN = {"max_new_tokens": 3, "min_new_tokens": 3}
TEXTS = ["the cat sat on", "hello world"]
METHODS = {"saliency": {}, "integrated_gradients": {"n_steps": 4}, "attention": {}}


def _layer_map(name: str, last: str) -> dict[str, str]:
    """Explicit device map of a tiny two-layer model; ``last`` is where its last decoder layer goes."""
    if name == "gpt2":  # tied lm_head and wte stay together
        names = ["transformer.wte", "transformer.wpe", "transformer.drop", "transformer.h.0", "transformer.ln_f"]
        return {**dict.fromkeys(names, "cpu"), "transformer.h.1": last, "lm_head": "cpu"}
    names = ["model.embed_tokens", "model.layers.0", "model.norm", "model.rotary_emb", "lm_head"]
    return {**dict.fromkeys(names, "cpu"), "model.layers.1": last}


def _assert_same(split: inseq.FeatureAttributionOutput, whole: inseq.FeatureAttributionOutput) -> None:
    assert len(split.sequence_attributions) == len(whole.sequence_attributions)
    for a, b in zip(split.sequence_attributions, whole.sequence_attributions, strict=True):
        assert a.source == b.source and a.target == b.target
        for name in ("source_attributions", "target_attributions"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None)
            if x is not None:
                assert torch.equal(x.isnan(), y.isnan())
                torch.testing.assert_close(x.nan_to_num(), y.nan_to_num(), rtol=1e-5, atol=1e-6)
                assert x.nan_to_num().abs().sum() > 0  # real scores, not all zeros


@pytest.mark.parametrize("name", ["gpt2", "llama"])
@pytest.mark.parametrize("last", ["cpu", "disk"])
def test_split_model_attributions_equal_the_whole_model(name: str, last: str, tiny_model_path, tmp_path: Path) -> None:
    from accelerate import dispatch_model

    path = str(tiny_model_path(name))
    device_map = _layer_map(name, last)
    whole = inseq.load_model(path, "saliency")
    if last == "disk":  # from_pretrained dispatches the model itself
        model_kwargs = {"device_map": device_map, "offload_folder": str(tmp_path / "offload")}
        split = inseq.load_model(path, "saliency", model_kwargs=model_kwargs)
        layer = split.model.get_submodule(next(k for k, v in device_map.items() if v == "disk"))
        assert all(p.device.type == "meta" for p in layer.parameters())  # loaded from disk at each forward
    else:  # one device: from_pretrained would not add hooks, so dispatch with accelerate's hooks forced
        loaded = inseq.load_model(path, "saliency").model
        split = inseq.load_model(dispatch_model(loaded, device_map, main_device="cpu", force_hooks=True), "saliency")
    assert split.device_map == device_map and split.device == "cpu"
    for module in (split.model.get_submodule(k) for k in device_map):
        assert type(module._hf_hook).__name__ == "AlignDevicesHook"
    for method, kwargs in METHODS.items():
        a = inseq.load_model(whole.model, method, tokenizer=whole.tokenizer)
        b = inseq.load_model(split.model, method, tokenizer=split.tokenizer)
        out_whole = a.attribute(TEXTS, generation_args=GEN, show_progress=False, **kwargs)
        out_split = b.attribute(TEXTS, generation_args=GEN, show_progress=False, **kwargs)
        _assert_same(out_split, out_whole)

"""The port: both adapters implement every member the engine's contract declares."""

from __future__ import annotations

import pytest

from inseq.attr.port import AttributionModelPort, iter_port_members
from inseq.data.batch import DecoderOnlyBatch, EncoderDecoderBatch


@pytest.mark.parametrize(("arch", "batch_cls"), [("gpt2", DecoderOnlyBatch), ("marian", EncoderDecoderBatch)])
def test_adapters_implement_the_port(arch, batch_cls, tiny_models):
    model = tiny_models(arch)
    assert isinstance(model, AttributionModelPort)
    missing = [name for name in iter_port_members() if not hasattr(model, name)]
    assert not missing, f"{type(model).__name__} lacks port members {missing}"
    examples = model.prepare_examples(["a b c"], None, {"max_new_tokens": 2})
    batch = model.build_batch(examples, None, None, False)
    assert type(batch) is batch_cls


def test_decoder_only_has_no_encoder(tiny_models):
    model = tiny_models("gpt2")
    assert model.encode_source(ids=None) is None
    structure = model.structure()
    assert structure.decoder_layers and not structure.encoder_layers and not structure.cross


def test_encoder_decoder_structure(tiny_models):
    structure = tiny_models("marian").structure()
    assert len(structure.cross) == len(structure.decoder_layers) > 0
    assert len(structure.encoder_self) == len(structure.encoder_layers) > 0


@pytest.fixture(scope="module")
def tiny_models(tiny_model_path):
    import inseq

    cache = {}

    def get(arch):
        if arch not in cache:
            cache[arch] = inseq.load_model(str(tiny_model_path(arch)), "saliency")
        return cache[arch]

    return get

"""inseq 0.7's model-configuration semantics: the 44 built-in configurations, a mutable ``MODEL_CONFIGS``, the
default configurations and the warning for architectures without one, while structure discovery keeps inspecting
the model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import inseq
from inseq.models.model_config import (
    BUILTIN_MODEL_CONFIGS,
    DEFAULT_DECODER_ONLY_CONFIG,
    DEFAULT_ENCODER_DECODER_CONFIG,
    MODEL_CONFIGS,
    ModelConfig,
    get_model_config,
)
from inseq.utils.errors import InvalidArgumentTypeError

#: A few rows of inseq 0.7's ``model_config.yaml``, one per distinct configuration.
INSEQ_ROWS = {
    "LlamaForCausalLM": ("self_attn", "value_states", None),
    "BloomForCausalLM": ("self_attention", "value_layer", None),
    "GPT2LMHeadModel": ("attn", "value", None),
    "MptForCausalLM": ("attn", "value_states", None),
    "GPTNeoXForCausalLM": ("attention", "value", None),
    "MarianMTModel": ("self_attn", "value_states", "encoder_attn"),
    "FSMTForConditionalGeneration": ("self_attn", "v", "encoder_attn"),
    "T5ForConditionalGeneration": ("SelfAttention", "value_states", "EncDecAttention"),
    "NllbMoeForConditionalGeneration": ("self_attn", "value_states", "cross_attention"),
    "SeamlessM4Tv2ForTextToText": ("self_attn", "value", "cross_attention"),
}


@pytest.fixture
def restore_configs():
    saved = dict(MODEL_CONFIGS)
    yield
    for name in list(MODEL_CONFIGS):
        del MODEL_CONFIGS[name]
    MODEL_CONFIGS.update(saved)


@pytest.mark.parametrize(("name", "row"), sorted(INSEQ_ROWS.items()))
def test_known_architectures_get_inseq_configuration_without_warning(name: str, row: tuple) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = get_model_config(name)
    assert (config.self_attention_module, config.value_vector, config.cross_attention_module) == row


def test_the_table_holds_inseq_44_configurations() -> None:
    assert len(BUILTIN_MODEL_CONFIGS) == 44
    encoder_decoder = [n for n, c in BUILTIN_MODEL_CONFIGS.items() if c.cross_attention_module is not None]
    assert len(encoder_decoder) == 12
    assert set(BUILTIN_MODEL_CONFIGS) <= set(MODEL_CONFIGS)


@pytest.mark.parametrize(
    ("is_encoder_decoder", "kind", "default"),
    [(False, "decoder-only", DEFAULT_DECODER_ONLY_CONFIG), (True, "encoder-decoder", DEFAULT_ENCODER_DECODER_CONFIG)],
)
def test_unknown_architectures_warn_and_get_the_default(is_encoder_decoder: bool, kind: str, default) -> None:
    with pytest.warns(UserWarning, match=f"'UnknownModel' not found. Using default {kind} configuration"):
        config = get_model_config("UnknownModel", is_encoder_decoder=is_encoder_decoder)
    assert config is default


def test_defaults_are_inseq_defaults() -> None:
    assert (DEFAULT_DECODER_ONLY_CONFIG.self_attention_module, DEFAULT_DECODER_ONLY_CONFIG.value_vector) == (
        "attn",
        "value",
    )
    assert DEFAULT_DECODER_ONLY_CONFIG.cross_attention_module is None
    assert DEFAULT_ENCODER_DECODER_CONFIG == ModelConfig("self_attn", "value", "cross_attention")


def test_model_configs_is_a_mutable_mapping(restore_configs) -> None:
    del MODEL_CONFIGS["GPT2LMHeadModel"]
    assert "GPT2LMHeadModel" not in MODEL_CONFIGS
    with pytest.raises(KeyError, match="No model configuration for 'GPT2LMHeadModel'"):
        MODEL_CONFIGS["GPT2LMHeadModel"]

    class MockModelConfig(ModelConfig):  # inseq 0.7's test subclass
        def __init__(self) -> None:
            super().__init__(**dict.fromkeys(ModelConfig.__dataclass_fields__, "test"))

    MODEL_CONFIGS["GPT2LMHeadModel"] = MockModelConfig()
    assert get_model_config("GPT2LMHeadModel").value_vector == "test"
    with pytest.raises(InvalidArgumentTypeError, match="MODEL_CONFIGS\\['X'\\] must be a ModelConfig, got 'attn'"):
        MODEL_CONFIGS["X"] = "attn"


def test_registration_adds_to_model_configs(restore_configs) -> None:
    inseq.register_model_config(
        "MyModelForCausalLM", {"self_attention_module": "attn", "value_vector": "v_proj"}, allow_partial=True
    )
    assert MODEL_CONFIGS["MyModelForCausalLM"] == ModelConfig("attn", "v_proj", None)
    with pytest.raises(ValueError, match="'LlamaForCausalLM' is already registered"):
        inseq.register_model_config(
            "LlamaForCausalLM", {"self_attention_module": "x", "value_vector": "y"}, allow_partial=True
        )
    with pytest.warns(UserWarning, match="Overwriting the model configuration of 'LlamaForCausalLM'"):
        inseq.register_model_config(
            "LlamaForCausalLM", {"self_attention_module": "x", "value_vector": "y"}, allow_partial=True, overwrite=True
        )
    assert get_model_config("LlamaForCausalLM").self_attention_module == "x"


def test_a_method_needing_the_configuration_warns_and_still_inspects_the_model(
    tiny_gpt2_path: Path, restore_configs
) -> None:
    model = inseq.load_model(str(tiny_gpt2_path), "value_zeroing")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_config = model.attribute("a b", "a b c", show_progress=False)
    del MODEL_CONFIGS["GPT2LMHeadModel"]
    with pytest.warns(UserWarning, match="'GPT2LMHeadModel' not found. Using default decoder-only configuration"):
        without = model.attribute("a b", "a b c", show_progress=False)
    torch.testing.assert_close(without[0].target_attributions, with_config[0].target_attributions, equal_nan=True)

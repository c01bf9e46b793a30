"""Every public name inseq 0.7 code and its test suite import exists at inseq's path.

The list holds the names inseq 0.7's own tests, tutorials and extension code import (a thin re-export where this
package's layout differs). Private helpers (underscored) are not required.
"""

from __future__ import annotations

import importlib

import pytest

INSEQ_IMPORTS: dict[str, list[str]] = {
    "inseq": [
        "AttributionModel",
        "FeatureAttributionOutput",
        "explain",
        "get_version",
        "list_aggregation_functions",
        "list_aggregators",
        "list_feature_attribution_methods",
        "list_step_functions",
        "list_supported_frameworks",
        "load_model",
        "merge_attributions",
        "register_model_config",
        "register_step_function",
        "show_attributions",
        "show_granular_attributions",
        "show_token_attributions",
    ],
    "inseq.utils": [
        "get_default_device",
        "is_joblib_available",
        "is_scikitlearn_available",
        "is_accelerate_available",
        "is_datasets_available",
        "is_nltk_available",
        "pretty_tensor",
        "LengthMismatchError",
        "MissingAttributionMethodError",
        "UnknownAttributionMethodError",
    ],
    "inseq.utils.misc": ["pretty_tensor", "pretty_dict", "extract_signature_args", "rgetattr", "isnotebook"],
    "inseq.utils.typing": ["TokenWithId"],
    "inseq.data": [
        "Aggregator",
        "AggregatorPipeline",
        "AggregationFunction",
        "Batch",
        "BatchEmbedding",
        "BatchEncoding",
        "DecoderOnlyBatch",
        "EncoderDecoderBatch",
        "FeatureAttributionOutput",
        "FeatureAttributionSequenceOutput",
        "FeatureAttributionStepOutput",
        "CoarseFeatureAttributionSequenceOutput",
        "CoarseFeatureAttributionStepOutput",
        "GranularFeatureAttributionStepOutput",
        "MultiDimensionalFeatureAttributionStepOutput",
        "ContiguousSpanAggregator",
        "PairAggregator",
        "SequenceAttributionAggregator",
        "SubwordAggregator",
        "merge_attributions",
        "list_aggregators",
        "list_aggregation_functions",
    ],
    "inseq.data.batch": ["Batch", "BatchEmbedding", "BatchEncoding", "DecoderOnlyBatch", "EncoderDecoderBatch"],
    "inseq.data.data_utils": ["TensorWrapper"],
    "inseq.data.aggregator": [
        "AggregableMixin",
        "AggregatorPipeline",
        "ContiguousSpanAggregator",
        "PairAggregator",
        "SequenceAttributionAggregator",
        "SliceAggregator",
        "StringSplitAggregator",
        "SubwordAggregator",
    ],
    "inseq.data.attribution": [
        "FeatureAttributionOutput",
        "FeatureAttributionSequenceOutput",
        "GranularFeatureAttributionSequenceOutput",
        "MultiDimensionalFeatureAttributionSequenceOutput",
    ],
    "inseq.attr": ["FeatureAttribution", "STEP_SCORES_MAP", "StepFunctionArgs", "extract_args", "list_step_functions"],
    "inseq.attr.feat.attribution_utils": ["extract_args", "join_token_ids"],
    "inseq.attr.step_functions": [
        "StepFunctionArgs",
        "StepFunctionBaseArgs",
        "StepFunctionDecoderOnlyArgs",
        "StepFunctionEncoderDecoderArgs",
        "get_step_scores",
        "probability_fn",
        "contrast_prob_diff_fn",
    ],
    "inseq.attr.feat": [
        "FeatureAttribution",
        "GradientAttributionRegistry",
        "InternalsAttributionRegistry",
        "PerturbationAttributionRegistry",
        "SaliencyAttribution",
        "InputXGradientAttribution",
        "IntegratedGradientsAttribution",
        "DeepLiftAttribution",
        "GradientShapAttribution",
        "DiscretizedIntegratedGradientsAttribution",
        "SequentialIntegratedGradientsAttribution",
        "LayerIntegratedGradientsAttribution",
        "LayerGradientXActivationAttribution",
        "LayerDeepLiftAttribution",
        "AttentionWeightsAttribution",
        "OcclusionAttribution",
        "LimeAttribution",
        "ValueZeroingAttribution",
        "ReagentAttribution",
        "extract_args",
        "join_token_ids",
    ],
    "inseq.attr.feat.internals_attribution": ["InternalsAttributionRegistry", "AttentionWeightsAttribution"],
    "inseq.attr.feat.gradient_attribution": ["GradientAttributionRegistry", "DeepLiftAttribution"],
    "inseq.attr.feat.perturbation_attribution": ["PerturbationAttributionRegistry", "LimeAttribution"],
    "inseq.models": [
        "AttributionModel",
        "DecoderOnlyAttributionModel",
        "EncoderDecoderAttributionModel",
        "HuggingfaceDecoderOnlyModel",
        "HuggingfaceEncoderDecoderModel",
        "HuggingfaceModel",
        "ModelConfig",
        "load_model",
        "register_model_config",
    ],
    "inseq.models.model_config": [
        "DEFAULT_DECODER_ONLY_CONFIG",
        "DEFAULT_ENCODER_DECODER_CONFIG",
        "MODEL_CONFIGS",
        "ModelConfig",
    ],
    "inseq.commands.attribute_context": ["AttributeContextArgs", "AttributeContextOutput", "CCIOutput"],
    "inseq.commands.attribute_context.attribute_context": ["attribute_context", "AttributeContextCommand"],
    "inseq.commands.attribute_context.attribute_context_args": ["AttributeContextArgs"],
    "inseq.commands.attribute_context.attribute_context_output": ["AttributeContextOutput", "CCIOutput"],
    "inseq.commands.attribute.attribute": ["AttributeCommand", "aggregate_attribution_scores"],
    "inseq.commands.attribute.attribute_args": [
        "AttributeBaseArgs",
        "AttributeExtendedArgs",
        "AttributeWithInputsArgs",
    ],
    "inseq.commands.attribute_dataset.attribute_dataset": ["AttributeDatasetCommand"],
    "inseq.commands.attribute_dataset.attribute_dataset_args": ["LoadDatasetArgs"],
}


@pytest.mark.parametrize("module_name", sorted(INSEQ_IMPORTS))
def test_inseq_names_import(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in INSEQ_IMPORTS[module_name] if not hasattr(module, name)]
    assert not missing, f"{module_name} lacks {missing}"


def test_from_import_of_old_module_paths() -> None:
    from inseq.commands.attribute.attribute_args import AttributeBaseArgs
    from inseq.commands.attribute_context.attribute_context import attribute_context

    assert callable(attribute_context)
    assert AttributeBaseArgs.__name__ == "AttributeBaseArgs"


def test_family_bases_and_wrappers_behave_like_inseq() -> None:
    from inseq.attr.feat import (
        GradientAttributionRegistry,
        InternalsAttributionRegistry,
        LimeAttribution,
        PerturbationAttributionRegistry,
        ReagentAttribution,
        SaliencyAttribution,
    )
    from inseq.attr.feat.internals_attribution import AttentionWeightsAttribution
    from inseq.data import FeatureAttributionSequenceOutput
    from inseq.data.aggregator import AggregableMixin
    from inseq.data.data_utils import TensorWrapper

    assert issubclass(SaliencyAttribution, GradientAttributionRegistry)
    assert issubclass(LimeAttribution, PerturbationAttributionRegistry)
    assert issubclass(ReagentAttribution, PerturbationAttributionRegistry)
    assert not issubclass(SaliencyAttribution, PerturbationAttributionRegistry)
    assert issubclass(AttentionWeightsAttribution, InternalsAttributionRegistry)
    # family bases are not methods: no id is registered for them
    import inseq

    assert "internals" not in inseq.list_feature_attribution_methods()
    assert issubclass(FeatureAttributionSequenceOutput, TensorWrapper)
    assert issubclass(FeatureAttributionSequenceOutput, AggregableMixin)


def test_default_aggregator_is_set_on_outputs() -> None:
    import torch

    from inseq.data import FeatureAttributionSequenceOutput
    from inseq.data.attribution import GranularFeatureAttributionSequenceOutput
    from inseq.utils.typing import TokenWithId

    tokens = [TokenWithId("a", 1), TokenWithId("b", 2)]
    granular = GranularFeatureAttributionSequenceOutput(
        source=tokens[:1], target=tokens, target_attributions=torch.ones(2, 1, 3), attr_pos_start=1
    )
    plain = FeatureAttributionSequenceOutput(
        source=tokens[:1], target=tokens, target_attributions=torch.ones(2, 1), attr_pos_start=1
    )
    assert granular._aggregator == "vnorm"
    assert plain._aggregator == "scores"
    assert granular.aggregate(granular._aggregator).target_attributions.shape == (2, 1)

"""inseq 0.7.1's whole import surface works here, each name from its inseq 0.7 path.

``SECTION_A`` holds the names of every ``__all__`` of inseq 0.7.1, module by module; ``SECTION_C`` the names inseq
0.7.1's own test suite imports (private ones included). The lists are written here (not read from a reference
file) so that the test runs from the repository alone. The compatibility names are served by the table of
:mod:`inseq.utils.compat`: they are aliases of this library's objects, never stubs.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

from inseq.utils.compat import ALIASES, MOVED


def _split(names: str) -> tuple[str, ...]:
    return tuple(names.split())


SECTION_A: dict[str, tuple[str, ...]] = {
    "inseq": _split(
        "AttributionModel FeatureAttributionOutput load_model explain show_attributions "
        "show_granular_attributions show_token_attributions list_feature_attribution_methods "
        "list_aggregators list_aggregation_functions list_step_functions list_supported_frameworks "
        "register_step_function register_model_config merge_attributions"
    ),
    "inseq.attr": _split(
        "FeatureAttribution list_feature_attribution_methods list_step_functions register_step_function "
        "STEP_SCORES_MAP extract_args StepFunctionArgs"
    ),
    "inseq.attr.feat": _split(
        "FeatureAttribution extract_args list_feature_attribution_methods join_token_ids "
        "GradientAttributionRegistry GradientShapAttribution DeepLiftAttribution "
        "InputXGradientAttribution IntegratedGradientsAttribution "
        "DiscretizedIntegratedGradientsAttribution SaliencyAttribution "
        "LayerIntegratedGradientsAttribution LayerGradientXActivationAttribution "
        "LayerDeepLiftAttribution InternalsAttributionRegistry AttentionWeightsAttribution "
        "OcclusionAttribution LimeAttribution SequentialIntegratedGradientsAttribution "
        "ValueZeroingAttribution PerturbationAttributionRegistry ReagentAttribution"
    ),
    "inseq.attr.feat.ops": _split(
        "DiscretetizedIntegratedGradients MonotonicPathBuilder ValueZeroing Lime Reagent SequentialIntegratedGradients"
    ),
    "inseq.attr.feat.ops.reagent_core": _split(
        "DeltaProbImportanceScoreEvaluator AggregateRationalizer TopKStoppingConditionEvaluator "
        "UniformTokenReplacer POSTagTokenSampler"
    ),
    "inseq.commands.attribute": _split(
        "AttributeCommand aggregate_attribution_scores AttributeBaseArgs AttributeExtendedArgs AttributeWithInputsArgs"
    ),
    "inseq.commands.attribute_context": _split(
        "AttributeContextCommand AttributeContextArgs AttributeContextOutput CCIOutput visualize_attribute_context"
    ),
    "inseq.commands.attribute_dataset": _split("AttributeDatasetCommand"),
    "inseq.data": _split(
        "Aggregator AggregatorPipeline AggregationFunction SequenceAttributionAggregator "
        "ContiguousSpanAggregator SubwordAggregator PairAggregator Batch DecoderOnlyBatch BatchEmbedding "
        "BatchEncoding EncoderDecoderBatch FeatureAttributionInput FeatureAttributionStepOutput "
        "GranularFeatureAttributionStepOutput CoarseFeatureAttributionSequenceOutput "
        "CoarseFeatureAttributionStepOutput FeatureAttributionSequenceOutput FeatureAttributionOutput "
        "ModelIdentifier OneOrMoreIdSequences OneOrMoreTokenSequences TextInput show_attributions "
        "show_granular_attributions show_token_attributions list_aggregation_functions "
        "MultiDimensionalFeatureAttributionStepOutput get_batch_from_inputs merge_attributions "
        "list_aggregators slice_batch_from_position"
    ),
    "inseq.models": _split(
        "AttributionModel InputFormatter HuggingfaceModel HuggingfaceEncoderDecoderModel "
        "HuggingfaceDecoderOnlyModel DecoderOnlyAttributionModel EncoderDecoderAttributionModel "
        "load_model list_supported_frameworks ModelConfig register_model_config"
    ),
    "inseq.utils": _split(
        "LengthMismatchError MissingAttributionMethodError UnknownAttributionMethodError "
        "MissingAlignmentsError cache_results convert_to_safetensor convert_from_safetensor optional pad "
        "pretty_list pretty_tensor pretty_dict aggregate_token_pair aggregate_token_sequence "
        "format_input_texts rgetattr available_classes isnotebook find_char_indexes "
        "extract_signature_args remap_from_filtered drop_padding normalize rescale aggregate_contiguous "
        "get_front_padding get_sequences_from_batched_steps euclidean_distance Registry INSEQ_HOME_CACHE "
        "INSEQ_ARTIFACTS_CACHE InseqArgumentParser is_ipywidgets_available is_scikitlearn_available "
        "is_transformers_available is_sentencepiece_available is_datasets_available is_captum_available "
        "is_joblib_available is_nltk_available check_device get_default_device ndarray_to_bin_str "
        "hashodict InseqDeprecationWarning get_module_name_from_object gzip_compress gzip_decompress "
        "save_to_file json_advanced_dump json_advanced_dumps bin_str_to_ndarray "
        "lists_of_numbers_to_ndarray scalar_to_numpy get_cls_from_instance_type json_advanced_loads "
        "json_advanced_load get_nn_submodule find_block_stack get_adjusted_alignments get_aligned_idx "
        "top_p_logits_mask filter_logits cli_arg get_post_variable_assignment_hook validate_indices "
        "pad_with_nan recursive_get_submodule is_accelerate_available"
    ),
}

SECTION_C: dict[str, tuple[str, ...]] = {
    "inseq": _split("FeatureAttributionOutput list_feature_attribution_methods load_model"),
    "inseq.attr.feat.feature_attribution": _split("DummyAttribution"),
    "inseq.attr.feat.internals_attribution": _split("InternalsAttributionRegistry"),
    "inseq.attr.feat.ops": _split("MonotonicPathBuilder"),
    "inseq.attr.step_functions": _split("StepFunctionArgs _get_contrast_inputs get_step_scores probability_fn"),
    "inseq.commands.attribute_context": _split("AttributeContextArgs AttributeContextOutput CCIOutput"),
    "inseq.commands.attribute_context.attribute_context": _split("attribute_context"),
    "inseq.data": _split(
        "EncoderDecoderBatch FeatureAttributionOutput FeatureAttributionSequenceOutput "
        "MultiDimensionalFeatureAttributionStepOutput"
    ),
    "inseq.data.aggregator": _split(
        "AggregatorPipeline ContiguousSpanAggregator PairAggregator SequenceAttributionAggregator SubwordAggregator"
    ),
    "inseq.data.attribution": _split("FeatureAttributionSequenceOutput"),
    "inseq.models": _split(
        "DecoderOnlyAttributionModel EncoderDecoderAttributionModel HuggingfaceDecoderOnlyModel "
        "HuggingfaceEncoderDecoderModel"
    ),
    "inseq.models.model_config": _split(
        "DEFAULT_DECODER_ONLY_CONFIG DEFAULT_ENCODER_DECODER_CONFIG MODEL_CONFIGS ModelConfig get_model_config"
    ),
    "inseq.utils": _split("euclidean_distance get_default_device is_joblib_available json_advanced_load"),
    "inseq.utils.misc": _split("pretty_tensor"),
    "inseq.utils.torch_utils": _split("filter_logits"),
    "inseq.utils.typing": _split("InseqAttribution MultiLayerMultiUnitScoreTensor TokenWithId"),
}


def _cases(section: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    return [(module, name) for module, names in section.items() for name in names]


def test_the_lists_hold_inseq_0_7_1_surface() -> None:
    assert len(_cases(SECTION_A)) == 178
    assert len(_cases(SECTION_C)) == 42


def _from_import(module: str, name: str) -> object:
    scope: dict[str, object] = {}
    exec(f"from {module} import {name} as imported", scope)  # the statement inseq 0.7 code writes
    return scope["imported"]


@pytest.mark.parametrize(("module", "name"), _cases(SECTION_A))
def test_declared_name_imports_from_its_inseq_path(module: str, name: str) -> None:
    obj = _from_import(module, name)
    assert obj is not None
    if callable(obj):
        assert not getattr(obj, "__isabstractmethod__", False)


@pytest.mark.parametrize(("module", "name"), _cases(SECTION_C))
def test_name_imported_by_inseq_tests_imports(module: str, name: str) -> None:
    assert _from_import(module, name) is not None


@pytest.mark.parametrize("module", sorted(SECTION_A))
def test_declared_names_are_listed_by_star_import_and_dir(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(SECTION_A[module]) <= set(dir(mod)), sorted(set(SECTION_A[module]) - set(dir(mod)))
    scope: dict[str, object] = {}
    exec(f"from {module} import *", scope)
    assert set(SECTION_A[module]) <= set(scope), sorted(set(SECTION_A[module]) - set(scope))


def test_compatibility_names_are_aliases_of_the_real_objects() -> None:
    from inseq.attr.feat import (
        GradientAttribution,
        GradientAttributionRegistry,
        InternalsAttribution,
        InternalsAttributionRegistry,
        LimeAttribution,
        PerturbationAttribution,
        PerturbationAttributionRegistry,
        ReagentAttribution,
        SaliencyAttribution,
    )
    from inseq.attr.feat.ops import DiscretetizedIntegratedGradients, Lime, Reagent
    from inseq.attr.feat.path.discretized import DiscretizedIntegratedGradientsAttribution
    from inseq.models import DecoderOnlyAttributionModel, HuggingfaceDecoderOnlyModel

    assert GradientAttributionRegistry is GradientAttribution
    assert InternalsAttributionRegistry is InternalsAttribution
    assert PerturbationAttributionRegistry is PerturbationAttribution
    assert PerturbationAttribution.__name__ == "PerturbationAttribution"  # the real class keeps its own name
    assert issubclass(SaliencyAttribution, GradientAttributionRegistry)
    assert issubclass(LimeAttribution, PerturbationAttributionRegistry)
    assert not issubclass(SaliencyAttribution, PerturbationAttributionRegistry)
    assert (Lime, Reagent) == (LimeAttribution, ReagentAttribution)
    assert DiscretetizedIntegratedGradients is DiscretizedIntegratedGradientsAttribution
    assert DecoderOnlyAttributionModel is HuggingfaceDecoderOnlyModel


def test_family_bases_are_not_methods() -> None:
    import inseq

    assert not {"gradient", "internals", "perturbation"} & set(inseq.list_feature_attribution_methods())


def test_old_submodule_paths_keep_the_real_module_names() -> None:
    """Importing ``inseq.commands.attribute_context.attribute_context`` does not hide the parent's function."""
    import inseq.commands.attribute_context as cli_context
    from inseq.commands.attribute.attribute_args import AttributeBaseArgs, AttributeWithInputsArgs
    from inseq.commands.attribute_context.attribute_context import attribute_context
    from inseq.context import attribute_context as library_attribute_context

    importlib.import_module("inseq.commands.attribute_context.attribute_context")
    assert attribute_context is library_attribute_context
    assert cli_context.attribute_context is library_attribute_context
    assert issubclass(AttributeWithInputsArgs, AttributeBaseArgs)


def test_every_table_target_resolves() -> None:
    from inseq.utils.lazy import resolve

    targets = [t for names in ALIASES.values() for t in names.values()]
    targets += [t for moved in MOVED.values() for t in (moved.values() if isinstance(moved, dict) else [moved])]
    unresolved = []
    for target in targets:
        try:
            resolve(target)
        except (ImportError, AttributeError) as err:
            unresolved.append(f"{target}: {err}")
    assert not unresolved


def _fresh_import(module: str) -> object:
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        del sys.modules[name]
    return importlib.import_module(module)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("inseq.faithfulness", "inseq.evaluate.agreement"),
        ("inseq.commands.validation", "inseq.pipelines.validation"),
        ("inseq.attr.feat.path_integral", "inseq.attr.feat.gradient.kernel"),
        ("inseq.attr.feat.perturbed_forward", "inseq.attr.feat.perturbation.kernel"),
        ("inseq.attr.feat.lrp_rules", "inseq.attr.feat.lrp.rules"),
        ("inseq.attr.feat.lrp_attribution", "inseq.attr.feat.lrp.methods"),
        ("inseq.attr.feat.sequential_attribution", "inseq.attr.feat.path"),
        ("inseq.attr.feat.reagent_attribution", "inseq.attr.feat.perturbation.reagent"),
        ("inseq.attr.feat.ops.monotonic_path", "inseq.attr.feat.path.monotonic_path"),
        ("inseq.attr.feat.ops.token_sampler", "inseq.attr.feat.perturbation.token_sampler"),
    ],
)
def test_old_project_paths_warn_with_the_new_path(old: str, new: str) -> None:
    from inseq.utils.errors import InseqDeprecationWarning

    with pytest.warns(InseqDeprecationWarning, match=f"{old} is deprecated: it moved to .*{new}"):
        module = _fresh_import(old)
    public = [n for n in module.__all__ if not n.startswith("_")]
    assert public and all(getattr(module, n) is not None for n in public)


def test_old_project_names_keep_working() -> None:
    from inseq.evaluate.agreement import causal_agreement
    from inseq.pipelines.validation import read_manifest
    from inseq.utils.errors import InseqDeprecationWarning

    for old in ("inseq.commands.validation", "inseq.faithfulness"):
        sys.modules.pop(old, None)
    with pytest.warns(InseqDeprecationWarning) as record:
        from inseq.commands.validation import read_manifest as old_read_manifest
        from inseq.faithfulness import causal_agreement as old_causal_agreement
    assert old_causal_agreement is causal_agreement and old_read_manifest is read_manifest
    assert {w.filename for w in record} == {__file__}  # the warnings point at the importing line


def test_inseq_paths_shared_with_old_project_paths_warn_only_for_the_project_names() -> None:
    from inseq.attr.feat.perturbation.lime import LimeAttribution, lime_masks
    from inseq.utils.errors import InseqDeprecationWarning

    module = _fresh_import("inseq.attr.feat.ops.lime")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert module.Lime is LimeAttribution  # inseq 0.7's name: no warning
    with pytest.warns(InseqDeprecationWarning, match="ops.lime.lime_masks is deprecated; use .*perturbation.lime"):
        assert module.lime_masks is lime_masks


def test_deprecation_warning_is_not_silenced_by_the_test_configuration() -> None:
    from inseq.utils.errors import InseqDeprecationWarning

    assert issubclass(InseqDeprecationWarning, UserWarning)
    assert not issubclass(InseqDeprecationWarning, DeprecationWarning | FutureWarning)


def test_running_an_old_module_says_what_to_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inseq.faithfulness"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0
    assert "python -m inseq.evaluate" in result.stderr


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

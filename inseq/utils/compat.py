"""inseq 0.7's import surface in one table, and the import hook that serves it.

:data:`ALIASES` maps each inseq 0.7 module path to the names it offered that this package keeps elsewhere (or under
another name): ``{"old.module": {"Name": "home.module:attribute"}}``. :data:`MOVED` maps this project's own former
module paths to their new homes; importing them (or using a name only they offered) warns with an
:class:`~inseq.utils.errors.InseqDeprecationWarning` naming the new path. Both hold strings only: nothing is imported
until a name is used, and the table adds no import edge between packages.

:func:`install` (called by ``import inseq``) puts :class:`CompatFinder` first on ``sys.meta_path``. It serves

* old module paths that do not exist here as synthetic modules whose attributes resolve from the table on first use
  (``__getattr__``, ``__all__`` and ``__dir__`` included), and
* real modules that also had other names (``inseq.attr.feat.PerturbationAttributionRegistry``): once the real module
  has run, the table's names are attached to it as lazy attributes.

Example:
    >>> import inseq
    >>> from inseq.attr.feat import PerturbationAttributionRegistry  # an inseq 0.7 name
    >>> PerturbationAttributionRegistry.__name__  # the real class keeps its own name
    'PerturbationAttribution'
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import InseqDeprecationWarning
from .lazy import resolve

__all__ = ["ALIASES", "MOVED", "CompatFinder", "install"]


def _names(home: str, names: str, **renamed: str) -> dict[str, str]:
    """``{name: "home:name"}`` for each of the space-separated ``names``, plus ``{old: "home:new"}`` for ``renamed``."""
    table = {name: f"{home}:{name}" for name in names.split()}
    table.update({old: f"{home}:{new}" for old, new in renamed.items()})
    return table


_FEAT = "inseq.attr.feat"
_GRADIENT_METHODS = (
    "DeepLiftAttribution DiscretizedIntegratedGradientsAttribution GradientShapAttribution InputXGradientAttribution "
    "IntegratedGradientsAttribution LayerDeepLiftAttribution LayerGradientXActivationAttribution "
    "LayerIntegratedGradientsAttribution SaliencyAttribution SequentialIntegratedGradientsAttribution"
)
_FAMILY_BASES = {
    "GradientAttributionRegistry": f"{_FEAT}:GradientAttribution",
    "InternalsAttributionRegistry": f"{_FEAT}:InternalsAttribution",
    "PerturbationAttributionRegistry": f"{_FEAT}:PerturbationAttribution",
}
_OPS = {
    "DiscretetizedIntegratedGradients": f"{_FEAT}.path.discretized:DiscretizedIntegratedGradientsAttribution",
    "MonotonicPathBuilder": f"{_FEAT}.path.path_builder:MonotonicPathBuilder",
    "ValueZeroing": f"{_FEAT}.internals.value_zeroing:ValueZeroingAttribution",
    "Lime": f"{_FEAT}.perturbation.lime:LimeAttribution",
    "Reagent": f"{_FEAT}.perturbation.reagent:ReagentAttribution",
    "SequentialIntegratedGradients": f"{_FEAT}.path.sequential:SequentialIntegratedGradientsAttribution",
}
_REAGENT_CORE = f"{_FEAT}.perturbation.reagent_core"
_CONTEXT_ARGS = "AttributeContextArgs AttributeContextInputArgs AttributeContextMethodArgs AttributeContextOutputArgs"
_SERIALIZATION = _names(
    "inseq.data.serialization", "json_advanced_dump json_advanced_dumps json_advanced_load json_advanced_loads"
)

#: inseq 0.7 module -> {name: "home.module:attribute"}, for the names not defined under that path here.
ALIASES: dict[str, dict[str, str]] = {
    "inseq.attr": {
        "StepFunctionBaseArgs": "inseq.attr.step_functions:StepFunctionArgs",
        "extract_args": "inseq.attr.routing:extract_args",
    },
    "inseq.attr.step_functions": {
        "StepFunctionBaseArgs": "inseq.attr.step_functions:StepFunctionArgs",
        "_get_contrast_inputs": "inseq.utils.contrast_utils:get_contrast_inputs",
    },
    _FEAT: dict(_FAMILY_BASES)
    | {"extract_args": "inseq.attr.routing:extract_args", "join_token_ids": "inseq.attr.contrast:join_token_ids"},
    f"{_FEAT}.attribution_utils": {
        "extract_args": "inseq.attr.routing:extract_args",
        "join_token_ids": "inseq.attr.contrast:join_token_ids",
    },
    f"{_FEAT}.feature_attribution": _names(f"{_FEAT}.base", "DummyAttribution FeatureAttribution")
    | _names(_FEAT, "list_feature_attribution_methods"),
    f"{_FEAT}.gradient_attribution": _names(_FEAT, _GRADIENT_METHODS)
    | {"GradientAttributionRegistry": _FAMILY_BASES["GradientAttributionRegistry"]},
    f"{_FEAT}.internals_attribution": _names(_FEAT, "AttentionWeightsAttribution")
    | {"InternalsAttributionRegistry": _FAMILY_BASES["InternalsAttributionRegistry"]},
    f"{_FEAT}.perturbation_attribution": _names(
        _FEAT, "LimeAttribution OcclusionAttribution ReagentAttribution ValueZeroingAttribution"
    )
    | {"PerturbationAttributionRegistry": _FAMILY_BASES["PerturbationAttributionRegistry"]},
    f"{_FEAT}.ops": dict(_OPS),
    f"{_FEAT}.ops.discretized_integrated_gradients": {
        "DiscretetizedIntegratedGradients": _OPS["DiscretetizedIntegratedGradients"]
    },
    f"{_FEAT}.ops.lime": {"Lime": _OPS["Lime"]},
    f"{_FEAT}.ops.monotonic_path_builder": _names(
        f"{_FEAT}.path.path_builder", "MonotonicPathBuilder PathBuildingStrategies UnknownPathBuildingStrategy"
    ),
    f"{_FEAT}.ops.reagent": {"Reagent": _OPS["Reagent"]},
    f"{_FEAT}.ops.sequential_integrated_gradients": {
        "SequentialIntegratedGradients": _OPS["SequentialIntegratedGradients"]
    },
    f"{_FEAT}.ops.value_zeroing": {"ValueZeroing": _OPS["ValueZeroing"]},
    f"{_FEAT}.ops.reagent_core": _names(
        _REAGENT_CORE,
        "DeltaProbImportanceScoreEvaluator AggregateRationalizer TopKStoppingConditionEvaluator UniformTokenReplacer",
        POSTagTokenSampler="POSTokenSampler",
    ),
    f"{_FEAT}.ops.reagent_core.importance_score_evaluator": _names(_REAGENT_CORE, "DeltaProbImportanceScoreEvaluator"),
    f"{_FEAT}.ops.reagent_core.rationalizer": _names(_REAGENT_CORE, "AggregateRationalizer"),
    f"{_FEAT}.ops.reagent_core.stopping_condition_evaluator": _names(_REAGENT_CORE, "TopKStoppingConditionEvaluator"),
    f"{_FEAT}.ops.reagent_core.token_replacer": _names(_REAGENT_CORE, "UniformTokenReplacer"),
    f"{_FEAT}.ops.reagent_core.token_sampler": _names(_REAGENT_CORE, "", POSTagTokenSampler="POSTokenSampler"),
    "inseq.commands.attribute": {
        "aggregate_attribution_scores": "inseq.pipelines.attribution:aggregate_outputs",
        "AttributeBaseArgs": "inseq.pipelines.args:AttributeBaseArgs",
    },
    "inseq.commands.attribute.attribute": _names("inseq.commands.attribute", "AttributeCommand attribute")
    | {"aggregate_attribution_scores": "inseq.pipelines.attribution:aggregate_outputs"},
    "inseq.commands.attribute.attribute_args": _names(
        "inseq.pipelines.args", "AttributeBaseArgs AttributeExtendedArgs"
    )
    | _names("inseq.commands.attribute", "AttributeWithInputsArgs"),
    "inseq.commands.attribute_context": _names(
        "inseq.context", f"{_CONTEXT_ARGS} AttributeContextOutput CCIOutput visualize_attribute_context"
    ),
    "inseq.commands.attribute_context.attribute_context": _names(
        "inseq.commands.attribute_context", "AttributeContextCommand"
    )
    | _names("inseq.context", "attribute_context"),
    "inseq.commands.attribute_context.attribute_context_args": _names("inseq.context", _CONTEXT_ARGS),
    "inseq.commands.attribute_context.attribute_context_helpers": _names(
        "inseq.context", "AttributeContextOutput CCIOutput"
    ),
    "inseq.commands.attribute_context.attribute_context_output": _names(
        "inseq.context", "AttributeContextOutput CCIOutput"
    ),
    "inseq.commands.attribute_context.attribute_context_viz_helpers": _names(
        "inseq.context", "visualize_attribute_context"
    ),
    "inseq.commands.attribute_dataset.attribute_dataset": _names(
        "inseq.commands.attribute_dataset", "AttributeDatasetCommand"
    ),
    "inseq.commands.attribute_dataset.attribute_dataset_args": _names("inseq.pipelines.args", "LoadDatasetArgs"),
    "inseq.data": _names(
        "inseq.utils.typing", "ModelIdentifier OneOrMoreIdSequences OneOrMoreTokenSequences TextInput"
    )
    | _names("inseq.data.batch_inputs", "FeatureAttributionInput get_batch_from_inputs slice_batch_from_position")
    | _names("inseq.viz", "show_attributions show_granular_attributions show_token_attributions"),
    "inseq.data.attribution": _names("inseq.data.batch_inputs", "FeatureAttributionInput get_batch_from_inputs"),
    "inseq.data.batch": _names("inseq.data.batch_inputs", "slice_batch_from_position"),
    "inseq.data.viz": _names("inseq.viz", "show_attributions show_granular_attributions show_token_attributions"),
    "inseq.models": {
        "DecoderOnlyAttributionModel": "inseq.models.decoder_only:HuggingfaceDecoderOnlyModel",
        "EncoderDecoderAttributionModel": "inseq.models.encoder_decoder:HuggingfaceEncoderDecoderModel",
        "InputFormatter": "inseq.attr.port:AttributionModelPort",
    },
    "inseq.models.decoder_only": {
        "DecoderOnlyAttributionModel": "inseq.models.decoder_only:HuggingfaceDecoderOnlyModel"
    },
    "inseq.models.encoder_decoder": {
        "EncoderDecoderAttributionModel": "inseq.models.encoder_decoder:HuggingfaceEncoderDecoderModel"
    },
    "inseq.models.huggingface_model": {
        "HuggingfaceDecoderOnlyModel": "inseq.models.decoder_only:HuggingfaceDecoderOnlyModel",
        "HuggingfaceEncoderDecoderModel": "inseq.models.encoder_decoder:HuggingfaceEncoderDecoderModel",
    },
    "inseq.utils": _SERIALIZATION
    | _names("inseq.data.serialization", "get_cls_from_instance_type")
    | _names("inseq.commands.cli_args", "InseqArgumentParser")
    | {"get_nn_submodule": "inseq.utils.torch_utils:recursive_get_submodule"},
    "inseq.utils.misc": _names("inseq.data.serialization", "get_cls_from_instance_type"),
    "inseq.utils.serialization": dict(_SERIALIZATION),
    "inseq.utils.argparse": _names("inseq.commands.cli_args", "InseqArgumentParser string_to_bool")
    | _names("inseq.utils.options", "cli_arg"),
    "inseq.utils.id_utils": _names("inseq.explain", "explain"),
}

#: This project's former module paths -> their new module (or ``{name: target}`` when they were split up).
MOVED: dict[str, str | dict[str, str]] = {
    "inseq.faithfulness": "inseq.evaluate.agreement",
    "inseq.commands.validation": _names("inseq.pipelines.validation", "clean_run_temps read_manifest")
    | _names("inseq.utils.options", "check_cli_options"),
    f"{_FEAT}.path_integral": f"{_FEAT}.gradient.kernel",
    f"{_FEAT}.perturbed_forward": f"{_FEAT}.perturbation.kernel",
    f"{_FEAT}.lrp_rules": f"{_FEAT}.lrp.rules",
    f"{_FEAT}.lrp_attribution": f"{_FEAT}.lrp.methods",
    f"{_FEAT}.sequential_attribution": f"{_FEAT}.path",
    f"{_FEAT}.reagent_attribution": f"{_FEAT}.perturbation.reagent",
    f"{_FEAT}.ops": f"{_FEAT}.path.monotonic_path",
    f"{_FEAT}.ops.monotonic_path": f"{_FEAT}.path.monotonic_path",
    f"{_FEAT}.ops.token_sampler": f"{_FEAT}.perturbation.token_sampler",
    f"{_FEAT}.ops.lime": f"{_FEAT}.perturbation.lime",
}

#: What ``python -m <old path>`` should be replaced by.
_MAIN_MOVED = {"inseq.faithfulness": "inseq.evaluate"}


def _parents(names: Iterable[str]) -> frozenset[str]:
    return frozenset(".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1))


#: Module paths with table paths below them (they must be packages, synthetic or given a ``__path__``).
_PARENTS = _parents((*ALIASES, *MOVED))
#: Every module path the finder takes part in importing.
_SERVED = frozenset(ALIASES) | frozenset(MOVED) | _PARENTS


def _is_package(name: str) -> bool:
    return name in _PARENTS


_MACHINERY = (__file__, importlib.__file__)


def _deprecation(message: str) -> None:
    """Warn at the first frame outside the import machinery and this module (the user's import or access)."""
    frame, level = sys._getframe(1), 2  # stacklevel 2 is the frame that called _deprecation
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen") or frame.f_code.co_filename in _MACHINERY
    ):
        # ``warnings`` itself skips importlib's bootstrap frames when counting the stack level
        bootstrap = "importlib" in frame.f_code.co_filename and "_bootstrap" in frame.f_code.co_filename
        frame, level = frame.f_back, level + (0 if bootstrap else 1)
    warnings.warn(message, InseqDeprecationWarning, stacklevel=level)


def _moved_attribute(module_name: str, name: str) -> tuple[bool, Any]:
    """``(found, value)`` of ``name`` in the new home of the former path ``module_name`` (warning when found)."""
    moved = MOVED.get(module_name)
    if moved is None or name.startswith("__"):
        return False, None
    if isinstance(moved, Mapping):
        if name not in moved:
            return False, None
        target = moved[name]
        value = resolve(target)
        new_path = target.replace(":", ".")
    else:
        home = resolve(moved)
        if not hasattr(home, name):
            return False, None
        value, new_path = getattr(home, name), f"{moved}.{name}"
    if module_name in ALIASES:  # an inseq 0.7 path: only the project's own former names are deprecated there
        _deprecation(f"{module_name}.{name} is deprecated; use {new_path}.")
    return True, value


def _table_getattr(module: types.ModuleType, own: Any = None) -> Any:
    """The ``__getattr__`` of a module the table serves: table names, then the module's own lazy names, then MOVED."""
    module_name = module.__name__
    names = ALIASES.get(module_name, {})

    def __getattr__(name: str) -> Any:
        if name in names:
            value = resolve(names[name])
            setattr(module, name, value)
            return value
        if own is not None:
            try:
                return own(name)
            except AttributeError:
                pass
        found, value = _moved_attribute(module_name, name)
        if found:
            return value
        if name == "__all__":
            return _public_names(module_name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__


def _public_names(module_name: str) -> list[str]:
    names = set(ALIASES.get(module_name, {}))
    moved = MOVED.get(module_name)
    if isinstance(moved, Mapping):
        names |= set(moved)
    elif isinstance(moved, str) and module_name not in ALIASES:
        home = resolve(moved)
        names |= set(getattr(home, "__all__", [n for n in vars(home) if not n.startswith("_")]))
    return sorted(names)


class _CompatModule(types.ModuleType):
    """A real module that also serves old names: an old submodule path imported below it never hides its attributes.

    Importing ``inseq.commands.attribute_context.attribute_context`` makes Python set the synthetic submodule as the
    ``attribute_context`` attribute of its parent; the parent's own function of that name is kept instead.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        synthetic = isinstance(getattr(value, "__loader__", None), _SyntheticLoader)
        if synthetic and (name in vars(self) or name in ALIASES.get(self.__name__, {}) or _own_lazy(self, name)):
            return
        super().__setattr__(name, value)


def _own_lazy(module: types.ModuleType, name: str) -> bool:
    lister = vars(module).get("__dir__")
    return lister is not None and name in lister()


def _attach(module: types.ModuleType) -> None:
    """Give a real module the table's names for its path (lazily) and, if old paths live below it, a ``__path__``."""
    name = module.__name__
    current = module.__dict__.get("__getattr__")
    if getattr(current, "_inseq_compat", False):
        return
    getter = _table_getattr(module, current)
    getter._inseq_compat = True  # type: ignore[attr-defined]
    listed = set(ALIASES.get(name, {}))
    own_dir = module.__dict__.get("__dir__")
    module.__getattr__ = getter  # type: ignore[method-assign]
    module.__dir__ = lambda: sorted(set(own_dir() if own_dir else vars(module)) | listed)  # type: ignore[method-assign]
    if listed and isinstance(module.__dict__.get("__all__"), list | tuple):
        module.__all__ = sorted(set(module.__all__) | listed)
    if _is_package(name) and not hasattr(module, "__path__"):
        module.__path__ = []  # old submodules (``inseq.commands.attribute.attribute``) are served by the finder
    if type(module) is types.ModuleType:
        module.__class__ = _CompatModule


class _SyntheticLoader(importlib.abc.Loader):
    """Creates the module of an old path: attributes from the table, a deprecation warning for the project's own."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        name = module.__name__
        module.__getattr__ = _table_getattr(module)  # type: ignore[method-assign]
        module.__dir__ = lambda: _public_names(name)  # type: ignore[method-assign]
        if _is_package(name):
            module.__path__ = []
        moved = MOVED.get(name)
        if moved is not None and name not in ALIASES:
            where = moved if isinstance(moved, str) else ", ".join(sorted({t.split(":")[0] for t in moved.values()}))
            _deprecation(f"{name} is deprecated: it moved to {where}.")

    def get_code(self, fullname: str) -> None:
        """``python -m <old path>``: say what to run instead."""
        replacement = _MAIN_MOVED.get(fullname)
        hint = f" Run `python -m {replacement}` instead." if replacement else ""
        raise ImportError(f"{fullname} is a compatibility alias and cannot be run.{hint}")


class _AttachingLoader(importlib.abc.Loader):
    """Wraps a real module's loader: runs the module, then attaches the table's names for its path."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._inner.exec_module(module)
        _attach(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, is_package... of the real loader
        return getattr(self._inner, name)


class CompatFinder(importlib.abc.MetaPathFinder):
    """Finds the module paths of the table: real modules get their old names attached, the others are synthetic."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _SERVED or fullname == "inseq":
            return None
        # a real module is a file of the package (found along the parent's ``__path__``, as the import system does)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None:
            if spec.loader is not None:
                spec.loader = _AttachingLoader(spec.loader)
            return spec
        if fullname not in ALIASES and fullname not in MOVED:
            return None  # a parent of table paths that does not exist: nothing to serve
        return importlib.util.spec_from_loader(fullname, _SyntheticLoader(), is_package=_is_package(fullname))


def install(modules: Iterable[str] = ()) -> CompatFinder:
    """Put :class:`CompatFinder` first on ``sys.meta_path`` (once) and attach old names to modules already imported.

    Example:
        >>> install() is install()
        True
    """
    for finder in sys.meta_path:
        if isinstance(finder, CompatFinder):
            break
    else:
        finder = CompatFinder()
        sys.meta_path.insert(0, finder)
    for name in (*_SERVED, *modules):
        module = sys.modules.get(name)
        if module is not None and name != "inseq" and not isinstance(module.__loader__, _SyntheticLoader):
            _attach(module)
    return finder

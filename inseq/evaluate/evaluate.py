"""``evaluate(model, out)``: faithfulness of an attribution output, per generated token, with a random control."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

import torch

from ..attr.step_functions import STEP_SCORES_MAP, get_step_function, is_contrastive_step_function
from ..utils.checks import check_int, check_number, describe
from ..utils.errors import InvalidArgumentError, InvalidArgumentTypeError
from ..utils.progress import progress_bar
from .metrics import DEFAULT_FRACTIONS, MetricOptions, StepView, get_metric, list_faithfulness_metrics
from .output import FaithfulnessOutput
from .perturbations import REMOVAL_MODES, Perturbation, PerturbedRows
from .randomization import randomization_value, randomized_scores
from .views import sequence_inputs, step_views

if TYPE_CHECKING:
    from ..data.attribution import FeatureAttributionOutput
    from ..models.attribution_model import AttributionModel


def evaluate(
    model: AttributionModel,
    out: FeatureAttributionOutput,
    metrics: str | Sequence[str] | None = None,
    *,
    removal: str = "baseline",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    curve_steps: int = 10,
    soft_samples: int = 4,
    random_seeds: int = 3,
    absolute: bool = False,
    include_special_tokens: bool = False,
    attributed_fn: str | Callable | None = None,
    attributed_fn_args: dict[str, Any] | None = None,
    randomization_stages: int | None = None,
    batch_size: int | None = None,
    show_progress: bool = False,
) -> FaithfulnessOutput:
    """Measure how faithful the attributions of ``out`` are to ``model``, at every generated step.

    Each metric is computed per attributed step on the teacher-forced prefix: the inputs of step ``t`` are
    perturbed and the attributed function (by default the probability of token ``t``) is read at step ``t``. Every
    metric is also computed for random rankings of the same tokens (``random_seeds`` seeds, averaged): the
    ``random`` column, so that one sees whether the method beats chance. All perturbed inputs go through the model
    in batched forwards (bounded by the engine's token budgets), sorted by length; rows shared by several steps
    (the unperturbed input, leave-one-out removals) are run once.

    Args:
        model: The model ``out`` was computed with.
        out: An attribution output of that model (decoder-only or encoder-decoder, source and target side).
        metrics: Metric ids (default: all, see :func:`list_faithfulness_metrics`).
        removal: ``"baseline"``: a removed token is replaced by the baseline (UNK) token; ``"delete"``: it is
            dropped from the input.
        fractions: Removal fractions of the comprehensiveness / sufficiency AOPC (default ERASER's 1, 5, 10, 20,
            50%; at least one token).
        curve_steps: Points (+1) of the deletion / insertion curves (every token count when there are fewer tokens).
        soft_samples: Bernoulli masks averaged by the soft metrics.
        random_seeds: Seeds of the random control (0 disables it: ``random`` is NaN).
        absolute: Rank tokens by absolute score (default: signed, the most positive first).
        include_special_tokens: Also perturb special tokens (BOS, EOS, decoder start): off by default.
        attributed_fn: Function to read (step function id or callable; default: the output's attributed function).
        attributed_fn_args: Its keyword arguments (default: the output's).
        randomization_stages: Cascade stages of the randomization check (default: every layer).
        batch_size: Sequences evaluated together (default: all).
        show_progress: Show a progress bar.

    Returns:
        A :class:`FaithfulnessOutput` (``.summary()``, ``.to_dataframe()``, ``.show()``).

    Example:
        >>> import inseq
        >>> from inseq.evaluate import evaluate
        >>> model = inseq.load_model(str(inseq.examples.get_example_model_path("toy-gpt2-ioi")), "saliency")  # doctest: +SKIP
        >>> out = model.attribute("Alice Bob Tom Anna. Alice Bob", "Alice Bob Tom Anna. Alice Bob Tom")  # doctest: +SKIP
        >>> evaluate(model, out, ["comprehensiveness", "loo_correlation"]).show()  # doctest: +SKIP
    """
    fractions, curve_steps, soft_samples, random_seeds, batch_size = _check_options(
        fractions, curve_steps, soft_samples, random_seeds, batch_size
    )
    metric_ids = _check(model, out, metrics, removal, random_seeds)
    fn_id, fn, fn_kwargs = _attributed_fn(out, attributed_fn, attributed_fn_args)
    opts = MetricOptions(fractions, curve_steps, soft_samples)
    started = time.perf_counter()
    size = batch_size or len(out)
    records: list[dict[str, Any]] = []
    stats = {"model_rows": 0, "model_forwards": 0}
    with progress_bar(show_progress, transient=False) as bar:
        for lo in range(0, len(out), size):
            seqs = list(out)[lo : lo + size]
            records += _evaluate_group(
                model,
                out,
                seqs,
                lo,
                metric_ids,
                (fn_id, fn, fn_kwargs),
                opts,
                bar,
                removal=removal,
                random_seeds=random_seeds,
                absolute=absolute,
                include_special_tokens=include_special_tokens,
                randomization_stages=randomization_stages,
                stats=stats,
            )
    info = _run_info(model, out, metric_ids, fn_id, fn, started, stats)
    info.update(
        removal=removal,
        fractions=list(fractions),
        curve_steps=curve_steps,
        soft_samples=soft_samples,
        random_seeds=random_seeds,
        absolute=absolute,
    )
    return FaithfulnessOutput(records, info)


def _run_info(model, out, metric_ids, fn_id, fn, started: float, stats: dict[str, int]) -> dict[str, Any]:
    """The ``info`` of a :class:`FaithfulnessOutput`: what was evaluated, how, and how long it took."""
    return {
        "model_name": model.info.get("model_name"),
        "attribution_method": out.info.get("attribution_method"),
        "attributed_fn": fn_id if isinstance(fn_id, str) else getattr(fn, "__name__", repr(fn)),
        "metrics": metric_ids,
        "higher_is_better": {m: get_metric(m).higher_is_better for m in metric_ids},
        "attribution_seconds": out.info.get("exec_time"),
        "evaluation_seconds": time.perf_counter() - started,
        **stats,
    }


def _evaluate_group(model, out, seqs, offset, metric_ids, fn_spec, opts, bar, **o) -> list[dict[str, Any]]:
    fn_id, fn, fn_kwargs = fn_spec
    inputs = [sequence_inputs(model, s, offset + i) for i, s in enumerate(seqs)]
    views = [
        v for i, s in enumerate(seqs) for v in step_views(model, s, i, o["absolute"], o["include_special_tokens"])
    ]
    runner = PerturbedRows(model, inputs, fn, fn_kwargs, o["removal"])
    perturbing = [m for m in metric_ids if not get_metric(m).needs_reattribution]
    randoms = {(v.seq, v.step): _random_scores(v, o["random_seeds"]) for v in views}

    def values(lookup_for: Callable[[StepView], Callable[[Perturbation], float]]) -> dict:
        result = {}
        for v in views:
            f = lookup_for(v)
            for m in perturbing:
                metric = get_metric(m)
                value = metric.compute(v, v.scores, f, opts) if v.n else math.nan
                rand = [metric.compute(v, r, f, opts) for r in randoms[(v.seq, v.step)]] if v.n else []
                result[(v.seq, v.step, m)] = (value, _mean(rand))
        return result

    def recorder(v: StepView) -> Callable[[Perturbation], float]:
        return lambda pert: runner.request(pert, v.position) or 0.0

    values(recorder)
    runner.run(bar.task("Evaluating faithfulness", runner.n_rows))
    o["stats"]["model_rows"] += runner.n_rows
    o["stats"]["model_forwards"] += runner.n_forwards
    results = values(lambda v: lambda pert: runner.value(pert, v.position))
    if "randomization" in metric_ids:
        results.update(_randomization(model, out, seqs, offset, views, randoms, fn_id, o))
    records = []
    for v in views:
        seq = seqs[v.seq]
        for m in metric_ids:
            value, rand = results[(v.seq, v.step, m)]
            records.append(
                {
                    "sequence": offset + v.seq,
                    "step": v.step,
                    "position": v.position,
                    "token": str(seq.target[v.position]),
                    "metric": m,
                    "value": value,
                    "random": rand,
                }
            )
    return records


def _randomization(model, out, seqs, offset, views, randoms, fn_id, o) -> dict:
    from ..data.attribution import FeatureAttributionOutput

    sub = FeatureAttributionOutput(seqs, info=out.info)
    stages = randomized_scores(
        model, sub, fn_id, o["randomization_stages"], 0, o["absolute"], o["include_special_tokens"], offset=0
    )
    result = {}
    for v in views:
        per_stage = stages.get((v.seq, v.position), [])
        value = randomization_value(v, v.scores, per_stage)
        # a seeded random ranking does not depend on the weights: on the randomized model it is the same ranking
        rand = [
            randomization_value(v, r, [dict(zip(v.features, r.tolist()))] * len(per_stage))
            for r in randoms[(v.seq, v.step)]
        ]
        result[(v.seq, v.step, "randomization")] = (value, _mean(rand))
    return result


def _random_scores(view: StepView, seeds: int) -> list[torch.Tensor]:
    out = []
    for s in range(seeds):
        gen = torch.Generator().manual_seed(view.seed("random", s))
        out.append(torch.rand(view.n, generator=gen, dtype=torch.float64))
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _check_options(
    fractions: Any, curve_steps: Any, soft_samples: Any, random_seeds: Any, batch_size: Any
) -> tuple[tuple[float, ...], int, int, int, int | None]:
    """The numeric options of :func:`evaluate`, checked: each error names the parameter, the value and what is valid."""
    if isinstance(fractions, str | bytes) or not isinstance(fractions, Sequence):
        raise InvalidArgumentTypeError(
            f"fractions must be a list of numbers in (0, 1] (e.g. [0.1, 0.5]), got {describe(fractions)}."
        )
    if not fractions:
        raise InvalidArgumentError("fractions must hold at least one number in (0, 1], got [].")
    checked = tuple(
        check_number(f"fractions[{i}]", f, minimum=0.0, maximum=1.0, strict_minimum=True)
        for i, f in enumerate(fractions)
    )
    return (
        checked,
        check_int("curve_steps", curve_steps, minimum=1),
        check_int("soft_samples", soft_samples, minimum=1),
        check_int("random_seeds", random_seeds, minimum=0),
        check_int("batch_size", batch_size, minimum=1, allow_none=True),
    )


def _check(model, out, metrics, removal: str, random_seeds: int) -> list[str]:
    from ..data.attribution import FeatureAttributionOutput

    if not isinstance(out, FeatureAttributionOutput):
        raise TypeError(
            f"evaluate() needs a FeatureAttributionOutput (from model.attribute), got {type(out).__name__}."
        )
    if len(out) == 0:
        raise ValueError("The attribution output is empty: there is nothing to evaluate.")
    name, expected = out.info.get("model_name"), model.info.get("model_name")
    if name is not None and name != expected:
        raise ValueError(
            f"The attribution output comes from model {name!r}, but it is evaluated with model {expected!r}: "
            "evaluate an output with the model that produced it."
        )
    if removal not in REMOVAL_MODES:
        raise ValueError(f"Unknown removal mode {removal!r}: use one of {', '.join(map(repr, REMOVAL_MODES))}.")
    ids = [metrics] if isinstance(metrics, str) else list(metrics or list_faithfulness_metrics("token"))
    if not ids:
        raise ValueError(f"No metric given. Available metrics: {', '.join(list_faithfulness_metrics('token'))}.")
    for metric in ids:
        get_metric(metric)
    vocab = model.vocabulary_embeddings.shape[0]
    for i, seq in enumerate(out):
        if seq.source_attributions is None and seq.target_attributions is None:
            raise ValueError(f"Sequence {i} has no attribution scores (e.g. method 'dummy'): nothing to evaluate.")
        bad = [t.id for t in list(seq.source) + list(seq.target) if t.id >= vocab]
        if bad:
            raise ValueError(f"Sequence {i} has token id {bad[0]} outside the model's vocabulary of {vocab}.")
    return list(dict.fromkeys(ids))


def _attributed_fn(out, attributed_fn, attributed_fn_args) -> tuple[Any, Callable, dict[str, Any]]:
    """The step function to read: given, or the output's (found by id or by function name)."""
    if attributed_fn is None:
        stored = out.info.get("attributed_fn") or "probability"
        match = [k for k, fn in STEP_SCORES_MAP.items() if k == stored or getattr(fn, "__name__", None) == stored]
        if not match:
            raise ValueError(
                f"The output's attributed function {stored!r} is not a registered step function: pass "
                "attributed_fn= (a step function id or callable) to evaluate()."
            )
        attributed_fn = match[0]
    fn = get_step_function(attributed_fn, "evaluate(): attributed_fn")
    if is_contrastive_step_function(fn):
        raise ValueError(
            f"The attributed function {attributed_fn!r} compares with contrastive inputs, which the output does not "
            "store: pass attributed_fn='probability' (or another non-contrastive step function) to evaluate()."
        )
    kwargs = dict(out.info.get("attributed_fn_args") or {}) if attributed_fn_args is None else dict(attributed_fn_args)
    return attributed_fn, fn, kwargs


def faithfulness_path(attributions_path: str | PathLike) -> str:
    """Where ``--evaluate`` writes the metrics of attributions saved at ``attributions_path``.

    Example:
        >>> faithfulness_path("out/attributions.json")
        'out/attributions.faithfulness.json'
    """
    path = str(attributions_path)
    stem = path[: -len(".json")] if path.endswith(".json") else path
    return f"{stem}.faithfulness.json"


def evaluate_and_save(
    model: AttributionModel,
    out: FeatureAttributionOutput,
    metrics: Sequence[str] | None,
    path: str | PathLike,
    **options: Any,
) -> FaithfulnessOutput:
    """Evaluate ``out`` and save the result as JSON at ``path`` (the CLI's ``--evaluate``); returns it.

    Example:
        >>> res = evaluate_and_save(model, out, ["comprehensiveness"], "out.faithfulness.json")  # doctest: +SKIP
    """
    result = evaluate(model, out, metrics, **options)
    result.save(path)
    return result

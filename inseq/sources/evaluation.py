"""Faithfulness of a source attribution: LDS and top-k drop, each next to a random control, on the engine's scorer.

Example:
    >>> out = model.attribute_sources(["Mary cup", "John hat", "Tom key"], "John",
    ...     template="Pairs: {context}. {query}", chat_template=False)  # doctest: +SKIP
    >>> out.evaluate().summary()  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..evaluate.output import FaithfulnessOutput
from ..evaluate.source_metrics import SourceMetricOptions, get_source_metric, list_source_metrics
from ..utils.checks import check_int
from ..utils.errors import InvalidArgumentError
from .prompt import PromptBuilder
from .scoring import SourceScorer

if TYPE_CHECKING:
    from .output import SourceAttributionOutput


def evaluate_sources(
    out: SourceAttributionOutput,
    metrics: str | Sequence[str] = ("lds", "topk_drop"),
    *,
    model: Any = None,
    n_test: int = 32,
    ks: Sequence[int] = (1, 3),
    random_seeds: int = 3,
    seed: int = 10_000,
) -> FaithfulnessOutput:
    """LDS and top-k drop of ``out``'s scores, each next to a random control.

    Args:
        out: A source attribution.
        metrics: Metric ids (see :func:`inseq.evaluate.source_metrics.list_source_metrics`).
        model: The model ``out`` was computed with (only needed for an output loaded from a file).
        n_test: Held-out random ablations of ``lds``.
        ks: Numbers of best sources removed by ``topk_drop``.
        random_seeds: Seeds averaged by the random controls.
        seed: Seed of the held-out ablations and controls (disjoint from the attribution's own by default).

    Returns:
        A :class:`~inseq.evaluate.output.FaithfulnessOutput` with one record per metric (``topk_drop@k`` per ``k``).

    Example:
        >>> out = model.attribute_sources("Paris is in France. Rome is in Italy.", "Where is Rome?")  # doctest: +SKIP
        >>> evaluate_sources(out, metrics=["lds"])["lds"]  # doctest: +SKIP
    """
    ids = [metrics] if isinstance(metrics, str) else list(metrics)
    if not ids:
        raise InvalidArgumentError(f"No metric given; available: {', '.join(list_source_metrics())}.")
    chosen = [get_source_metric(m) for m in ids]
    check_int("n_test", n_test, minimum=2)
    check_int("random_seeds", random_seeds, minimum=0)
    check_int("seed", seed, minimum=0)
    if isinstance(ks, int) or not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise InvalidArgumentError(f"ks={ks!r} must be a non-empty list of positive integers.")
    scorer = out._scorer if model is None else None
    scorer = scorer or rebuild_scorer(out, model)
    opts = SourceMetricOptions(n_test, float(out.info.get("keep_prob") or 0.5), seed, random_seeds, tuple(ks))
    started, before = time.perf_counter(), scorer.n_forwards
    records = []
    for metric in chosen:
        for name, (value, control) in metric.compute(out.scores, out.bias, scorer.token_logprobs, opts).items():
            records.append(
                {"sequence": 0, "step": 0, "position": -1, "token": out.response, "metric": name, "value": value,
                 "random": control}
            )  # fmt: skip
    info = {
        "model_name": out.info.get("model_name"),
        "attribution_method": out.method,
        "metrics": [r["metric"] for r in records],
        "higher_is_better": {r["metric"]: True for r in records},
        "n_forwards": scorer.n_forwards - before,
        "evaluation_seconds": time.perf_counter() - started,
        "n_test": n_test,
        "random_seeds": random_seeds,
    }
    return FaithfulnessOutput(records, info)


def rebuild_scorer(out: SourceAttributionOutput, model: Any) -> SourceScorer:
    """The scorer of a loaded output, rebuilt with ``model`` from what the output stores."""
    if model is None:
        raise InvalidArgumentError("This output was loaded from a file: pass model= (the model it was computed with).")
    info = out.info
    if info.get("model_name") not in (None, getattr(model, "model_name", None)):
        raise InvalidArgumentError(
            f"The output comes from model {info.get('model_name')!r}, not {getattr(model, 'model_name', None)!r}."
        )
    chat = bool(info.get("chat_template"))
    source_type = info.get("source_type") or "sentence"
    if info.get("messages") is not None:
        builder = PromptBuilder.for_messages(
            info["messages"], source_type, info.get("separator", " "), model.tokenizer
        )
    else:
        context = out.context if out.source_spans and _splits_back(out, source_type) else list(out.sources)
        builder = PromptBuilder.for_context(
            context,
            info.get("query"),
            info["template"],
            info.get("separator", " "),
            source_type,
            chat,
            model.tokenizer,
        )
    prompt = model.encode([builder.text()], add_special_tokens=not chat).input_ids[0].tolist()
    example = model.response_example(prompt, list(info["response_ids"]), {})
    return SourceScorer(model, builder, example, not chat)


def _splits_back(out: SourceAttributionOutput, source_type: str) -> bool:
    """Whether splitting the stored context by ``source_type`` gives the stored sources back."""
    from .split import split_sources

    try:
        return [s.text for s in split_sources(out.context, source_type)] == out.sources
    except InvalidArgumentError:
        return False


__all__ = ["evaluate_sources", "rebuild_scorer"]

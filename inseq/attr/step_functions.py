"""Step functions: scores computed for every generated token, usable as step scores or as attribution targets.

A step function takes a :class:`StepFunctionArgs` and keyword arguments of its own, and returns a tensor with one
value per row.

Custom step functions (anything not defined in this module) are called as in inseq 0.7: once per generation step,
with :class:`StepFunctionDecoderOnlyArgs` or :class:`StepFunctionEncoderDecoderArgs` whose ``decoder_*`` tensors have
shape ``(batch, step_len)`` and whose embeddings are the very tensors attributions are taken with respect to.
The built-in functions below are vectorised over positions instead: the engine calls them once for many
(sequence, position) rows, row ``i`` holding the logits that predict ``target_ids[i]`` and the prefix
``decoder_input_ids[i][decoder_attention_mask[i].bool()]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F

from ..data.aggregation_functions import (
    BUILTIN_STEP_SCORE_SPAN_RULES,
    check_step_score_aggregation,
    register_step_score_aggregation,
)
from ..utils.checks import check_bool, check_call_signature, describe
from ..utils.registry import Registry
from ..utils.torch_utils import top_k_logits_mask, top_p_logits_mask

if TYPE_CHECKING:
    from .port import AttributionModelPort as AttributionModel


@dataclass
class StepFunctionArgs:
    """Everything a step function may read for a set of rows.

    Attributes:
        attribution_model: The model being attributed.
        forward_output: A model output whose ``logits`` have shape ``(rows, 1, vocab)``: the logits predicting
            ``target_ids`` (read them with ``attribution_model.output2logits(forward_output)``).
        target_ids: ``(rows,)`` ids of the predicted tokens.
        decoder_input_ids: ``(rows, len)`` ids of the target-side inputs; positions the row does not see are masked.
        decoder_attention_mask: ``(rows, len)`` mask marking the prefix of each row.
        decoder_input_embeds: Target-side input embeddings, or ``None`` when the engine does not expose them.
        encoder_input_ids: Encoder-decoder only: ``(rows, src_len)`` source ids.
        encoder_attention_mask: Encoder-decoder only: source mask.
        encoder_input_embeds: Encoder-decoder only, or ``None``.
        is_attributed_fn: True when the function is the attribution target (gradients flow through it).
        contrast_logits: ``(rows, vocab)`` logits under the contrastive inputs, or ``None`` to reuse the original ones.
        contrast_target_ids: ``(rows,)`` ids of the contrastive targets, or ``None`` when not contrastive.
        recompute_logits: Callable re-running the model on the rows' inputs and returning ``(rows, vocab)`` logits
            (used by ``mc_dropout_prob_avg``).
    """

    attribution_model: AttributionModel
    forward_output: Any
    target_ids: torch.Tensor
    decoder_input_ids: torch.Tensor | None = None
    decoder_attention_mask: torch.Tensor | None = None
    decoder_input_embeds: torch.Tensor | None = None
    encoder_input_ids: torch.Tensor | None = None
    encoder_attention_mask: torch.Tensor | None = None
    encoder_input_embeds: torch.Tensor | None = None
    is_attributed_fn: bool = False
    contrast_logits: torch.Tensor | None = None
    contrast_target_ids: torch.Tensor | None = None
    recompute_logits: Callable[[], torch.Tensor] | None = None

    @property
    def logits(self) -> torch.Tensor:
        """``(rows, vocab)`` logits predicting ``target_ids``."""
        return self.forward_output.logits[:, -1, :]


@dataclass
class StepFunctionDecoderOnlyArgs(StepFunctionArgs):
    """Arguments of one generation step of a decoder-only model (inseq 0.7 class).

    ``decoder_input_ids``, ``decoder_attention_mask`` and ``decoder_input_embeds`` are ``(batch, step_len)``
    (embeddings ``(batch, step_len, hidden)``): the whole sequence up to the current step; the ``encoder_*`` fields
    are None.

    Example:
        >>> ids = torch.tensor([[3, 4]])
        >>> args = StepFunctionDecoderOnlyArgs(None, None, torch.tensor([5]), decoder_input_ids=ids)
        >>> args.decoder_input_ids.shape[1]
        2
    """


@dataclass
class StepFunctionEncoderDecoderArgs(StepFunctionArgs):
    """Arguments of one generation step of an encoder-decoder model (inseq 0.7 class).

    ``encoder_input_ids`` / ``encoder_attention_mask`` are ``(batch, src_len)`` and ``encoder_input_embeds``
    ``(batch, src_len, hidden)``; the ``decoder_*`` tensors cover the target prefix up to the current step.

    Example:
        >>> src = torch.tensor([[7, 8, 9]])
        >>> args = StepFunctionEncoderDecoderArgs(None, None, torch.tensor([5]), encoder_input_ids=src)
        >>> args.encoder_input_ids.shape
        torch.Size([1, 3])
    """


#: Names of :class:`StepFunctionArgs` fields: never treated as user keyword arguments.
RESERVED_STEP_ARGS = frozenset(StepFunctionArgs.__dataclass_fields__)

#: Keyword arguments that configure contrastive inputs; the engine consumes them to build the contrast batch.
CONTRAST_KWARGS = (
    "contrast_sources",
    "contrast_targets",
    "contrast_targets_alignments",
    "contrast_force_inputs",
    "skip_special_tokens",
)


class StepFunction(Protocol):
    """Signature of a step function."""

    def __call__(self, args: StepFunctionArgs, **kwargs: Any) -> torch.Tensor: ...


STEP_SCORES_MAP: Registry[StepFunction] = Registry("step function")


def _gather(values: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return values.gather(-1, ids.long().view(-1, 1)).squeeze(-1)


def _contrast_logits(args: StepFunctionArgs) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and target ids of the contrastive side of a row."""
    logits = args.contrast_logits if args.contrast_logits is not None else args.logits
    ids = args.contrast_target_ids if args.contrast_target_ids is not None else args.target_ids
    return logits, ids


def logit_fn(args: StepFunctionArgs) -> torch.Tensor:
    """Logit of the target token."""
    return _gather(args.logits, args.target_ids)


def probability_fn(args: StepFunctionArgs, logprob: bool = False) -> torch.Tensor:
    """Probability of the target token (log-probability with ``logprob=True``). Default attribution target."""
    logprobs = args.logits.log_softmax(-1)
    scores = _gather(logprobs, args.target_ids)
    return scores if logprob else scores.exp()


def entropy_fn(args: StepFunctionArgs) -> torch.Tensor:
    """Entropy (nats) of the next-token distribution."""
    logprobs = args.logits.float().log_softmax(-1)
    probs = logprobs.exp()
    return -(probs * logprobs.nan_to_num(neginf=0.0)).sum(-1)


def crossentropy_fn(args: StepFunctionArgs) -> torch.Tensor:
    """Cross-entropy (nats) of the target token, i.e. its negative log-probability."""
    return F.cross_entropy(args.logits, args.target_ids.long(), reduction="none")


def perplexity_fn(args: StepFunctionArgs) -> torch.Tensor:
    """Perplexity of the target token: ``exp(crossentropy)``.

    inseq 0.7 returned ``2 ** crossentropy`` with a natural-log cross-entropy, which is not a perplexity; this
    library returns ``exp``, so the values differ from inseq 0.7's.
    """
    return crossentropy_fn(args).exp()


def contrast_logits_fn(args: StepFunctionArgs, **contrast_kwargs: Any) -> torch.Tensor:
    """Logit of the contrastive target (or of the same target under contrastive inputs)."""
    logits, ids = _contrast_logits(args)
    return _gather(logits, ids)


def contrast_prob_fn(args: StepFunctionArgs, logprob: bool = False, **contrast_kwargs: Any) -> torch.Tensor:
    """Probability of the contrastive target (or of the same target under contrastive inputs)."""
    logits, ids = _contrast_logits(args)
    scores = _gather(logits.log_softmax(-1), ids)
    return scores if logprob else scores.exp()


def contrast_logits_diff_fn(args: StepFunctionArgs, **contrast_kwargs: Any) -> torch.Tensor:
    """``logit(original) - logit(contrastive)`` (Yin and Neubig, 2022)."""
    return logit_fn(args) - contrast_logits_fn(args)


def contrast_prob_diff_fn(args: StepFunctionArgs, logprob: bool = False, **contrast_kwargs: Any) -> torch.Tensor:
    """``p(original) - p(contrastive)`` (Yin and Neubig, 2022)."""
    return probability_fn(args, logprob=logprob) - contrast_prob_fn(args, logprob=logprob)


def pcxmi_fn(args: StepFunctionArgs, **contrast_kwargs: Any) -> torch.Tensor:
    """Pointwise contextual cross-mutual information ``-log2(p_original / p_contrast)`` (Yin et al., 2021)."""
    orig = probability_fn(args, logprob=True)
    contrast = contrast_prob_fn(args, logprob=True)
    return -(orig - contrast) / math.log(2)


def _top_filter(logits: torch.Tensor, top_k: int, top_p: float, min_tokens_to_keep: int) -> torch.Tensor:
    """Mask (``True`` = drop) of the tokens outside the top-k / top-p nucleus of ``logits``."""
    drop = torch.zeros_like(logits, dtype=torch.bool)
    if top_k > 0:
        drop |= top_k_logits_mask(logits, top_k, min_tokens_to_keep)
    if top_p < 1.0:
        drop |= top_p_logits_mask(logits, top_p, min_tokens_to_keep)
    return drop


def kl_divergence_fn(
    args: StepFunctionArgs, top_k: int = 0, top_p: float = 1.0, min_tokens_to_keep: int = 1, **contrast_kwargs: Any
) -> torch.Tensor:
    """KL divergence KL(original || contrastive) between next-token distributions.

    With ``top_k``/``top_p``, both distributions are restricted to the nucleus computed on the sum of the two
    logit vectors, then renormalised.
    """
    if args.is_attributed_fn and args.contrast_logits is None:
        raise RuntimeError(
            "kl_divergence as attribution target compares two different forward passes: pass "
            "contrast_force_inputs=True with contrast_sources or contrast_targets."
        )
    orig, _ = args.logits, args.target_ids
    contrast, _ = _contrast_logits(args)
    if top_k > 0 or top_p < 1.0:
        drop = _top_filter(orig + contrast, top_k, top_p, min_tokens_to_keep)
        orig = orig.masked_fill(drop, float("-inf"))
        contrast = contrast.masked_fill(drop, float("-inf"))
    p_log = orig.log_softmax(-1)
    q_log = contrast.log_softmax(-1)
    kl = p_log.exp() * (p_log - q_log)
    return kl.nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).sum(-1)


def in_context_pvi_fn(args: StepFunctionArgs, **contrast_kwargs: Any) -> torch.Tensor:
    """In-context pointwise V-information ``-log p_original + log p_contrast`` in nats (Lu et al., 2023)."""
    orig = probability_fn(args, logprob=True)
    contrast = contrast_prob_fn(args, logprob=True)
    return contrast - orig


def mc_dropout_prob_avg_fn(args: StepFunctionArgs, n_mcd_steps: int = 5, logprob: bool = False) -> torch.Tensor:
    """Z-score of the target probability against ``n_mcd_steps`` Monte Carlo dropout passes.

    Dropout is enabled only during the noisy passes: unlike inseq 0.7, the model is put back in evaluation mode.
    """
    if args.recompute_logits is None:
        raise RuntimeError("mc_dropout_prob_avg needs the engine to provide `recompute_logits`.")
    if n_mcd_steps < 2:
        raise ValueError(f"n_mcd_steps must be at least 2 to estimate a standard deviation, got {n_mcd_steps}.")
    orig = probability_fn(args, logprob=logprob)
    module = args.attribution_model.torch_module
    was_training = module.training
    noisy = []
    try:
        module.train()
        for _ in range(n_mcd_steps):
            scores = _gather(args.recompute_logits().log_softmax(-1), args.target_ids)
            noisy.append(scores if logprob else scores.exp())
    finally:
        module.train(was_training)
    stacked = torch.stack(noisy)
    return (orig - stacked.mean(0)) / stacked.std(0).clamp_min(1e-12)


def top_p_size_fn(args: StepFunctionArgs, top_p: float) -> torch.Tensor:
    """Number of tokens in the smallest set whose probability mass reaches ``top_p``."""
    probs = args.logits.softmax(-1).sort(-1, descending=True).values
    return ((probs.cumsum(-1) - probs) < top_p).sum(-1).float()


#: Built-in step functions; their span-aggregation rules are ``BUILTIN_STEP_SCORE_SPAN_RULES`` (data layer).
_BUILTINS: dict[str, StepFunction] = {
    "logit": logit_fn,
    "probability": probability_fn,
    "entropy": entropy_fn,
    "crossentropy": crossentropy_fn,
    "perplexity": perplexity_fn,
    "contrast_logits": contrast_logits_fn,
    "contrast_prob": contrast_prob_fn,
    "contrast_logits_diff": contrast_logits_diff_fn,
    "contrast_prob_diff": contrast_prob_diff_fn,
    "pcxmi": pcxmi_fn,
    "kl_divergence": kl_divergence_fn,
    "in_context_pvi": in_context_pvi_fn,
    "mc_dropout_prob_avg": mc_dropout_prob_avg_fn,
    "top_p_size": top_p_size_fn,
}


#: Step functions comparing against contrastive inputs: they accept the ``contrast_*`` keyword arguments.
CONTRASTIVE_STEP_FUNCTIONS = (
    "contrast_logits",
    "contrast_prob",
    "contrast_logits_diff",
    "contrast_prob_diff",
    "pcxmi",
    "kl_divergence",
    "in_context_pvi",
)


def list_step_functions() -> list[str]:
    """List the identifiers of all registered step functions.

    Example:
        >>> import inseq
        >>> "probability" in inseq.list_step_functions()
        True
    """
    return STEP_SCORES_MAP.keys()


STEP_FUNCTION_SIGNATURE = (
    "fn(args: StepFunctionArgs, **kwargs) -> Tensor (one positional parameter, the step arguments)"
)


def check_step_function(fn: Any, name: str = "step function") -> StepFunction:
    """Return ``fn`` if it is a callable that takes the step arguments as its one positional argument.

    Raises:
        InvalidArgumentTypeError: naming ``name``, the function and its signature otherwise.

    Example:
        >>> check_step_function(lambda args, **kw: args.target_ids).__name__
        '<lambda>'
    """
    return check_call_signature(name, fn, 1, STEP_FUNCTION_SIGNATURE)


def get_step_function(fn: str | StepFunction, name: str = "step function") -> StepFunction:
    """Return the step function registered as ``fn`` (or ``fn`` itself when it is a callable with a valid signature).

    Raises:
        ValueError: an unknown id, listing the registered ones.
        InvalidArgumentTypeError: a callable that cannot take the step arguments positionally (named by ``name``).
    """
    if callable(fn):
        return check_step_function(fn, name)
    if fn not in STEP_SCORES_MAP:
        raise ValueError(f"Unknown step function {fn!r}. Available step functions: {', '.join(STEP_SCORES_MAP)}.")
    return STEP_SCORES_MAP.get(fn)


def is_builtin_step_function(fn: str | StepFunction) -> bool:
    """Whether ``fn`` is one of the step functions defined here (vectorised over positions by the engine).

    Any other function, registered or passed as a callable, is called once per generation step with
    inseq 0.7's :class:`StepFunctionDecoderOnlyArgs` / :class:`StepFunctionEncoderDecoderArgs`.

    Example:
        >>> is_builtin_step_function("probability"), is_builtin_step_function(lambda args: args.target_ids)
        (True, False)
    """
    fn = get_step_function(fn)
    return any(fn is builtin for builtin in _BUILTINS.values())


def get_step_scores(
    score_identifier: str, step_fn_args: StepFunctionArgs, step_fn_extra_args: dict[str, Any] | None = None
) -> torch.Tensor:
    """Compute the step function ``score_identifier`` on ``step_fn_args`` (inseq 0.7 helper).

    Example:
        >>> args = StepFunctionArgs(None, None, torch.tensor([1]))
        >>> args.forward_output = type("Out", (), {"logits": torch.tensor([[[0.0, 2.0]]])})()
        >>> get_step_scores("logit", args)
        tensor([2.])
    """
    return get_step_function(score_identifier)(step_fn_args, **(step_fn_extra_args or {}))


def is_contrastive_step_function(fn: str | StepFunction) -> bool:
    """Whether a step function compares with contrastive inputs (it accepts ``contrast_targets``)."""
    import inspect

    fn = get_step_function(fn)
    if fn in {STEP_SCORES_MAP.get(name) for name in CONTRASTIVE_STEP_FUNCTIONS}:
        return True
    return "contrast_targets" in inspect.signature(fn).parameters


def register_step_function(
    fn: StepFunction, identifier: str, aggregate_map: dict[str, str] | None = None, overwrite: bool = False
) -> None:
    """Register a custom step function usable in ``step_scores`` and as ``attributed_fn``.

    Args:
        fn: A function ``fn(args: StepFunctionArgs, **kwargs) -> Tensor`` returning one score per row.
        identifier: The name to register it under.
        aggregate_map: Optional map from aggregator family (e.g. ``"spans"``) to the aggregation function id used to
            merge this score across merged positions (e.g. ``"sum"``).
        overwrite: Replace an existing function with the same identifier.

    Example:
        >>> import inseq
        >>> def logit_squared(args):
        ...     return args.logits.gather(-1, args.target_ids[:, None]).squeeze(-1) ** 2
        >>> inseq.register_step_function(logit_squared, "logit_squared", overwrite=True)
        >>> "logit_squared" in inseq.list_step_functions()
        True
    """
    if not callable(fn):
        raise TypeError(f"register_step_function(): fn must be a callable step function, got {describe(fn)}.")
    check_step_function(fn, f"register_step_function(): the step function for {identifier!r},")
    if not isinstance(identifier, str) or not identifier:
        raise ValueError(
            f"register_step_function(): identifier must be a non-empty string, got {describe(identifier)}."
        )
    check_bool("overwrite", overwrite)
    if identifier in STEP_SCORES_MAP and not overwrite:
        raise ValueError(f"Step function {identifier!r} is already registered. Use overwrite=True to replace it.")
    if aggregate_map:
        check_step_score_aggregation(identifier, aggregate_map, overwrite=True)
    # everything is validated: the two registrations below cannot fail half-way
    STEP_SCORES_MAP.register(identifier, fn, overwrite=overwrite)
    if aggregate_map:
        register_step_score_aggregation(identifier, aggregate_map, overwrite=True)


for _name, _fn in _BUILTINS.items():
    _rule = BUILTIN_STEP_SCORE_SPAN_RULES.get(_name)
    register_step_function(_fn, _name, {"spans": _rule} if _rule else None)

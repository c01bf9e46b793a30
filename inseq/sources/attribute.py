"""``attribute_sources``: which sources of a context (documents, sentences, chat turns) a response used."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..utils.checks import check_int
from ..utils.errors import InputTooLongError, InvalidArgumentError
from ..utils.features import MODEL_FEATURES
from .args import DEFAULT_TEMPLATE
from .methods import SOURCE_METHODS, ablation_scores, leave_one_out_scores, token_method_scores, token_source_shares
from .output import SourceAttributionOutput
from .prompt import PromptBuilder, check_messages
from .scoring import SourceScorer

DEFAULT_GENERATION_ARGS = {"max_new_tokens": 128, "do_sample": False}


def attribute_sources(
    model: Any,
    context: str | Sequence[str] | None = None,
    query: str | None = None,
    *,
    template: str = DEFAULT_TEMPLATE,
    separator: str = " ",
    source_type: str | None = None,
    messages: Sequence[dict[str, str]] | None = None,
    chat_template: bool | str | None = None,
    response: str | Sequence[int] | None = None,
    generation_args: dict[str, Any] | None = None,
    method: str = "ablation",
    n_ablations: int = 64,
    keep_prob: float = 0.5,
    seed: int = 0,
    batch_size: int | None = None,
    show_progress: bool = False,
    **method_args: Any,
) -> SourceAttributionOutput:
    """Attribute a response to the sources of its context: which sentences, documents or chat turns it used.

    Args:
        model: An attribution model (decoder-only or encoder-decoder).
        context: A string, split into sources by ``source_type``; or the list of sources, in order.
        query: Put into ``template`` (its ``{query}`` field).
        template: The prompt, with a ``{context}`` field (ContextCite's default).
        separator: Joins a list of sources, and the kept sources of an ablated context.
        source_type: For a string context: ``"sentence"`` (default), ``"paragraph"``, ``"line"`` or ``"word"``; for
            ``messages``: ``"message"`` (default: the messages are the sources) or one of those (the sources of each
            message's content).
        messages: Chat input instead of ``context``: a list of ``{"role", "content"}`` dicts.
        chat_template: None: the prompt is one user message formatted with the tokenizer's chat template when it has
            one (as ContextCite), plain text otherwise; False: plain text; True: the chat template (an error if there
            is none); a string: that Jinja template.
        response: The response to attribute (text or token ids); None: generated (greedy unless ``generation_args``
            say otherwise).
        generation_args: Keyword arguments of generation (default ``max_new_tokens=128``, greedy).
        method: ``"ablation"`` (ContextCite), ``"leave_one_out"``, ``"attention"`` or any token-level method id.
        n_ablations: Random ablations of ``method="ablation"`` (at least 2).
        keep_prob: Probability that an ablation keeps each source, in (0, 1).
        seed: Seed of the ablations (mask ``i`` uses ``seed + i``, as ContextCite).
        batch_size: Ablated prompts per forward (None: as many as the memory budgets allow).
        show_progress: Show a progress bar over the ablated prompts.
        **method_args: Keyword arguments of a token-level method (e.g. ``n_steps``).

    Returns:
        A :class:`~inseq.sources.output.SourceAttributionOutput`.

    Example:
        >>> import inseq
        >>> model = inseq.load_model(inseq.examples.get_example_model_path("toy-gpt2-ioi"), "saliency")
        >>> out = inseq.attribute_sources(model, ["Mary cup", "John hat", "Tom key"], "John",
        ...     template="Pairs: {context}. {query}", method="leave_one_out", chat_template=False)
        >>> out.response, out.sources[out.top(1)[0]]
        (' hat.', 'John hat')
    """
    started = time.perf_counter()
    options = _check_options(method, n_ablations, keep_prob, seed, batch_size, separator)
    builder, chat = _builder(model, context, query, template, separator, source_type, messages, chat_template)
    builder.source_char_spans()  # every source must be in the prompt as it is
    prompt_ids = _encode(model, builder.text(), chat)
    gen_args = _generation_args(model, generation_args, len(prompt_ids))
    example = model.response_example(prompt_ids, _check_response(response), gen_args)
    if len(example.target_ids) <= example.prompt_length:
        raise InvalidArgumentError(
            "The response is empty: there is nothing to attribute (pass response= or generate)."
        )
    scorer = SourceScorer(model, builder, example, not chat, batch_size)
    n = len(builder.sources)
    result = _run(model, scorer, builder, method, n, options, show_progress, method_args)
    options.update(method=method, query=query, separator=separator, chat=chat)
    options["source_type"] = source_type or ("message" if messages is not None else "sentence")
    out = _output(model, builder, example, result, options)
    out.info["n_forwards"] = result.get("n_forwards") or scorer.n_forwards
    out.info["seconds"] = time.perf_counter() - started
    out._scorer = scorer
    return out


def _output(model: Any, builder: PromptBuilder, example: Any, result: dict[str, Any], options: dict[str, Any]):
    """The output object of a run, with the options a later evaluation needs to rebuild its prompts."""
    response_ids = example.target_ids[example.prompt_length :]
    info = {
        **model.info,
        "method": options["method"],
        "template": builder.template if builder.messages is None else None,
        "query": options["query"],
        "separator": options["separator"],
        "source_type": options["source_type"],
        "chat_template": options["chat"],
        "messages": builder.messages,
        "response_ids": response_ids,
        "n_ablations": options["n_ablations"] if options["method"] == "ablation" else None,
        "keep_prob": options["keep_prob"],
        "seed": options["seed"],
    }
    result = {k: v for k, v in result.items() if k != "n_forwards"}
    return SourceAttributionOutput(
        context=builder.context,
        sources=[s.text for s in builder.sources],
        source_spans=[(s.start, s.end) for s in builder.sources],
        source_parts=[s.part for s in builder.sources] if builder.messages is not None else None,
        response=example.generated_text,
        response_spans=_response_spans(model, response_ids),
        method=options["method"],
        info=info,
        **result,
    )


def _run(model, scorer, builder, method, n, options, show_progress, method_args) -> dict[str, Any]:
    from ..utils.progress import progress_bar

    if method in ("ablation", "leave_one_out") and method_args:
        raise InvalidArgumentError(f"method={method!r} takes no options {sorted(method_args)}.")
    if method == "ablation":
        with progress_bar(show_progress) as bar:
            advance = bar.task(f"Ablating {n} sources", options["n_ablations"])
            return ablation_scores(scorer, n, options["n_ablations"], options["keep_prob"], options["seed"], advance)
    if method == "leave_one_out":
        with progress_bar(show_progress) as bar:
            return leave_one_out_scores(scorer, n, bar.task(f"Leaving out each of {n} sources", n + 1))
    prompt_text = builder.text()
    spans = token_char_spans(model.tokenizer, prompt_text, scorer.example.input_ids)
    shares = token_source_shares(spans, builder.source_char_spans())
    return token_method_scores(model, scorer, shares, method, method_args)


def _check_options(method, n_ablations, keep_prob, seed, batch_size, separator) -> dict[str, Any]:
    from ..attr.feat.base import list_feature_attribution_methods

    valid = (*SOURCE_METHODS, *(m for m in list_feature_attribution_methods() if m != "dummy"))
    if method not in valid:
        raise InvalidArgumentError(
            f"method={method!r} is not a source attribution method; use one of {', '.join(valid)}."
        )
    check_int("n_ablations", n_ablations, minimum=2)
    check_int("seed", seed, minimum=0)
    check_int("batch_size", batch_size, minimum=1, allow_none=True)
    if isinstance(keep_prob, bool) or not isinstance(keep_prob, int | float) or not 0 < keep_prob < 1:
        raise InvalidArgumentError(
            f"keep_prob={keep_prob!r} must be a number in (0, 1) (the probability to keep a source)."
        )
    if not isinstance(separator, str):
        raise InvalidArgumentError(f"separator={separator!r} must be a string.")
    return {"n_ablations": n_ablations, "keep_prob": float(keep_prob), "seed": seed}


def _builder(model, context, query, template, separator, source_type, messages, chat_template):
    """The prompt builder and whether the prompt is chat-formatted."""
    tokenizer = model.tokenizer
    has_template = getattr(tokenizer, "chat_template", None) is not None or isinstance(chat_template, str)
    if chat_template is not None and not isinstance(chat_template, bool | str):
        raise InvalidArgumentError(f"chat_template={chat_template!r} must be None, True, False or a template string.")
    if messages is not None:
        check_messages(messages)
        if context is not None:
            raise InvalidArgumentError("Pass either context= or messages=, not both.")
        if chat_template is False:
            raise InvalidArgumentError(
                "messages= are chat input: they need a chat template (chat_template=False given)."
            )
        if not has_template:
            raise InvalidArgumentError(_no_template(model))
        builder = PromptBuilder.for_messages(messages, source_type or "message", separator, tokenizer)
        builder.chat_template = chat_template if isinstance(chat_template, str) else None
        return builder, True
    if context is None:
        raise InvalidArgumentError("Pass context= (a string or a list of sources) or messages= (a conversation).")
    if chat_template is True and not has_template:
        raise InvalidArgumentError(_no_template(model))
    chat = bool(has_template) if chat_template is None else bool(chat_template or isinstance(chat_template, str))
    builder = PromptBuilder.for_context(
        context, query, template, separator, source_type or "sentence", chat, tokenizer
    )
    builder.chat_template = chat_template if isinstance(chat_template, str) else None
    return builder, chat


def _no_template(model: Any) -> str:
    name = getattr(model, "tokenizer_name", None) or getattr(model, "model_name", "the model")
    return (
        f"The tokenizer of {name!r} has no chat template: pass chat_template= (a Jinja template string), or use "
        "context= with chat_template=False for plain text."
    )


def _encode(model: Any, text: str, chat: bool) -> list[int]:
    from ..models.limits import max_positions

    ids = model.encode([text], add_special_tokens=not chat).input_ids[0].tolist()
    limit = max_positions(model)
    if limit is not None and len(ids) >= limit:
        raise InputTooLongError(
            f"The prompt has {len(ids)} tokens but the model reads at most {limit} positions: shorten the context "
            "(fewer or shorter sources) or the template."
        )
    return ids


def _check_response(response: Any) -> Any:
    if response is None or (isinstance(response, list) and all(isinstance(i, int) for i in response)):
        if isinstance(response, list) and not response:
            raise InvalidArgumentError("response=[] is empty: pass the response's text or token ids.")
        return response
    if isinstance(response, str):
        if not response.strip():
            raise InvalidArgumentError(f"response={response!r} is empty: pass the text to attribute.")
        return response
    raise InvalidArgumentError(
        f"response must be a string, a list of token ids or None, got {type(response).__name__}."
    )


def _generation_args(model: Any, generation_args: dict[str, Any] | None, prompt_length: int) -> dict[str, Any]:
    """The generation arguments: the defaults (greedy, ``max_new_tokens`` within the model's positions) updated."""
    from ..models.limits import max_positions

    if generation_args is not None and not isinstance(generation_args, dict):
        raise InvalidArgumentError(f"generation_args must be a dict, got {type(generation_args).__name__}.")
    defaults = dict(DEFAULT_GENERATION_ARGS)
    limit = max_positions(model)
    if limit is not None:
        defaults["max_new_tokens"] = max(1, min(defaults["max_new_tokens"], limit - prompt_length))
    return {**defaults, **(generation_args or {})}


def _response_spans(model: Any, ids: list[int]) -> list[tuple[int, int]]:
    """Character span of each response token in the decoded response."""
    spans, previous = [], 0
    for j in range(1, len(ids) + 1):
        end = len(model.tokenizer.decode(ids[:j], skip_special_tokens=True))
        spans.append((previous, max(previous, end)))
        previous = max(previous, end)
    return spans


def token_char_spans(tokenizer: Any, text: str, ids: list[int]) -> list[tuple[int, int]]:
    """Character span of each of ``ids`` (the tokens of ``text``) in ``text``: the tokenizer's offsets when they
    describe these ids, else spans found by decoding growing prefixes.

    Example:
        >>> token_char_spans(tokenizer, "a b", tokenizer("a b")["input_ids"])  # doctest: +SKIP
        [(0, 1), (1, 3)]
    """
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(ids) >= len(enc["input_ids"]) and ids[len(ids) - len(enc["input_ids"]) :] == enc["input_ids"]:
            pad = len(ids) - len(enc["input_ids"])  # special tokens added in front (BOS)
            return [(0, 0)] * pad + [(int(a), int(b)) for a, b in offsets]
    except (NotImplementedError, ValueError, TypeError, KeyError):
        pass
    spans, previous = [], 0
    for j in range(1, len(ids) + 1):
        end = min(len(text), len(tokenizer.decode(ids[:j], skip_special_tokens=False)))
        spans.append((previous, max(previous, end)))
        previous = max(previous, end)
    return spans


def run_attribute_sources(args: Any) -> SourceAttributionOutput:
    """Run a source attribution from :class:`~inseq.sources.args.AttributeSourcesArgs` (the command line's options):
    load the model, read the context, attribute, and save the JSON and HTML files asked for.

    Example:
        >>> from inseq.sources.args import AttributeSourcesArgs
        >>> out = run_attribute_sources(AttributeSourcesArgs(model_name_or_path="gpt2", context="A. B."))  # doctest: +SKIP
    """
    import json
    from pathlib import Path

    from ..models import load_model

    given = [x is not None for x in (args.context, args.context_file, args.sources, args.messages_file)]
    if sum(given) != 1:
        raise InvalidArgumentError("Give exactly one of --context, --context_file, --sources and --messages_file.")
    context: Any = args.sources if args.sources is not None else args.context
    if args.context_file is not None:
        context = Path(args.context_file).read_text(encoding="utf-8")
    messages = None
    if args.messages_file is not None:
        messages = json.loads(Path(args.messages_file).read_text(encoding="utf-8"))
    model = args.model_name_or_path
    if isinstance(model, str):
        model = load_model(
            model,
            None,
            device=args.device,
            model_kwargs=dict(args.model_kwargs),
            tokenizer_kwargs=dict(args.tokenizer_kwargs),
        )
    out = attribute_sources(
        model, context, args.query, template=args.template, separator=args.separator, source_type=args.source_type,
        messages=messages, chat_template=args.chat_option(), response=args.response,
        generation_args=dict(args.generation_kwargs) or None, method=args.method, n_ablations=args.n_ablations,
        keep_prob=args.keep_prob, seed=args.seed, batch_size=args.batch_size,
    )  # fmt: skip
    if args.save_path:
        out.save(args.save_path)
    if args.viz_path:
        from ..data.files import atomic_write_text
        from ..viz import html_page

        atomic_write_text(args.viz_path, html_page(out._repr_html_(), title="inseq source attribution"))
    return out


MODEL_FEATURES.register("attribute_sources", attribute_sources, overwrite=True)  # model.attribute_sources(...)

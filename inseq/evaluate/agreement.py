"""Agreement with known gold tokens: does each method find the token the toy models' answers depend on?

The toy models of :mod:`inseq.examples` solve tasks whose correct attribution is known: the indirect object of an IOI
sentence, the earlier occurrence of a copied word, the stored value of a key-value query, the source word a
toy-translation word translates. For every method: the share of examples where the top-scoring input token is the
gold one (top-1 agreement), the mean rank of the gold token (1 is best) and the time taken. The attribution output
is returned too, so that :func:`inseq.evaluate.evaluate` can measure the same attributions
(``python -m inseq.evaluate``).

Example:
    >>> from inseq.evaluate.agreement import causal_agreement
    >>> result = causal_agreement("saliency", size=5)  # doctest: +SKIP
    >>> result.top1  # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class FaithfulnessResult:
    """Agreement of one method with the gold tokens of one task."""

    method: str
    task: str
    top1: float
    mean_rank: float
    seconds: float
    n: int

    def row(self) -> str:
        """One Markdown table row."""
        return (
            f"| {self.method} | {self.task} | {self.top1:.2f} | {self.mean_rank:.2f} | {self.seconds:.1f} | {self.n} |"
        )


def _char_spans(tokenizer, ids: list[int]) -> list[tuple[int, int]]:
    """Character span of each token in the decoded text of ``ids`` (prefix decoding)."""
    spans, previous = [], 0
    for i in range(len(ids)):
        end = len(tokenizer.decode(ids[: i + 1], skip_special_tokens=False))
        spans.append((previous, end))
        previous = end
    return spans


def _rank_of_gold(
    scores: torch.Tensor, spans: list[tuple[int, int]], gold: tuple[int, int], skip: set[int] = frozenset()
) -> int:
    """Rank (1 = best) of the best-ranked token overlapping the gold character span (``skip``: excluded tokens)."""
    order = [i for i in scores.nan_to_num(-1.0).argsort(descending=True).tolist() if i not in skip]
    for rank, index in enumerate(order, start=1):
        start, end = spans[index]
        if start < gold[1] and end > gold[0]:
            return rank
    return len(order) + 1


def _token_scores(seq, column: int, rows: int, source: bool) -> torch.Tensor:
    """Scores of the attributed tokens for one generated position, after the default aggregation."""
    agg = seq.aggregate()
    tensor = agg.source_attributions if source else agg.target_attributions
    values = tensor[:rows, column]
    while values.ndim > 1:
        values = values.nan_to_num().abs().mean(-1)
    return values.abs()


def causal_agreement(method: str, size: int = 50, task: str = "ioi", model=None) -> FaithfulnessResult:
    """Top-1 agreement and mean gold rank of ``method`` on the toy GPT-2's ``task`` (``"ioi"``, ``"copy"``, ``"kv"``)."""
    return causal_run(method, size, task, model)[0]


def causal_run(method: str, size: int = 50, task: str = "ioi", model=None, **kwargs) -> tuple[FaithfulnessResult, Any]:
    """Agreement of ``method`` on a toy GPT-2 task, and the attribution output it was computed from.

    The first generated word is attributed (``kwargs`` go to ``attribute``).
    """
    from ..examples import get_example_model_path
    from ..examples.tasks import eval_set
    from ..models import load_model

    model = model or load_model(str(get_example_model_path("toy-gpt2-ioi")))
    examples = eval_set(task, size)
    started = time.perf_counter()
    texts = [ex.prompt for ex in examples]
    targets = [ex.prompt + ex.target_words[0] for ex in examples]
    prompt_lens = [len(model.encode(t).input_ids[0]) for t in texts]
    out = model.attribute(texts, targets, method=method, show_progress=False, attr_pos_end=None, **kwargs)
    elapsed = time.perf_counter() - started
    hits, ranks = 0, []
    for ex, seq, plen in zip(examples, out, prompt_lens):
        ids = [t.id for t in seq.target[:plen]]
        spans = _char_spans(model.tokenizer, ids)
        scores = _token_scores(seq, 0, plen, source=False)
        rank = _rank_of_gold(scores, spans, ex.gold_char_span)
        hits += rank == 1
        ranks.append(rank)
    result = FaithfulnessResult(method, task, hits / len(examples), sum(ranks) / len(ranks), elapsed, len(examples))
    return result, out


def translation_agreement(method: str, size: int = 50, model=None) -> FaithfulnessResult:
    """Alignment agreement (1 - alignment error) of ``method`` on the toy translation model.

    The candidates are the source words (special tokens such as ``</s>`` are not words and are skipped).
    """
    return translation_run(method, size, model)[0]


def translation_run(method: str, size: int = 50, model=None, **kwargs) -> tuple[FaithfulnessResult, Any]:
    """Alignment agreement of ``method`` on the toy translation model, and the attribution output."""
    from ..examples import get_example_model_path
    from ..examples.tasks import eval_set
    from ..models import load_model

    model = model or load_model(str(get_example_model_path("toy-marian-translation")))
    examples = eval_set("translation", size)
    started = time.perf_counter()
    out = model.attribute(
        [ex.source for ex in examples], [ex.target for ex in examples], method=method, show_progress=False, **kwargs
    )
    elapsed = time.perf_counter() - started
    hits, ranks, total = 0, [], 0
    special = set(model.special_tokens_ids)
    for ex, seq in zip(examples, out):
        src_words = _token_words(model.tokenizer, [t.id for t in seq.source], ex.source, ex.source_words, special)
        tgt_words = _token_words(model.tokenizer, [t.id for t in seq.target], ex.target, ex.target_words, special)
        for pos, word in enumerate(tgt_words):
            column = pos - seq.attr_pos_start
            if word is None or not 0 <= column < seq.source_attributions.shape[1]:
                continue
            if pos > 0 and tgt_words[pos - 1] == word:
                continue  # only the first token of a multi-token word
            scores = _token_scores(seq, column, len(src_words), source=True)
            order = [i for i in scores.nan_to_num(-1.0).argsort(descending=True).tolist() if src_words[i] is not None]
            rank = next((r for r, i in enumerate(order, start=1) if src_words[i] == ex.alignment[word]), len(order))
            hits += rank == 1
            ranks.append(rank)
            total += 1
    result = FaithfulnessResult(
        method, "translation", hits / max(total, 1), sum(ranks) / max(len(ranks), 1), elapsed, total
    )
    return result, out


def _token_words(tokenizer, ids: list[int], text: str, words: tuple[str, ...], special: set[int]) -> list[int | None]:
    """Word index of each token (None for special tokens), from character spans of the decoded prefixes."""
    plain = [i for i in ids if i not in special]
    if len(plain) == len(words):  # one token per word: align by order
        counter = iter(range(len(words)))
        return [None if i in special else next(counter) for i in ids]
    word_spans = _word_char_spans(text, words)
    spans = iter(_char_spans(tokenizer, plain))
    mapping = []
    for i in ids:
        if i in special:
            mapping.append(None)
            continue
        s, e = next(spans)
        mapping.append(next((w for w, (ws, we) in enumerate(word_spans) if s < we and e > ws), None))
    return mapping


def _word_char_spans(text: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    """Character spans of ``words`` (as split by the task) in ``text``, ignoring leading spaces."""
    spans, cursor = [], 0
    for word in words:
        core = word.strip()
        start = text.index(core, cursor)
        spans.append((start, start + len(core)))
        cursor = start + len(core)
    return spans

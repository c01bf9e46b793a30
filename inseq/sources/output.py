"""The result of a source attribution: the sources, their scores, the response, and what is needed to rescore parts
of the response without new forwards.

Saved as JSON (atomically); loading reads JSON only, so it never executes code.

Example:
    >>> out = SourceAttributionOutput(
    ...     context="Mary cup John hat", sources=["Mary cup", "John hat"], source_spans=[(0, 8), (9, 17)],
    ...     response=" hat", response_spans=[(0, 4)], scores=np.array([0.1, 2.0]), method="leave_one_out")
    >>> out.to_dataframe()["source"].tolist()
    ['John hat', 'Mary cup']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np

from ..utils.errors import InvalidArgumentError

FORMAT = "inseq.source_attribution"
VERSION = 1


@dataclass
class SourceAttributionOutput:
    """Which sources of a context a response used.

    Attributes:
        context: The context (chat input: the messages' contents, one per line).
        sources: The sources, in order.
        source_spans: ``(start, end)`` character span of each source in its text (the context, or its message).
        response: The response (without EOS).
        response_spans: ``(start, end)`` character span of each response token in ``response``.
        scores: ``(n_sources,)`` score of each source for the whole response (higher: the response relies on it
            more).
        method: How the scores were computed.
        bias: The surrogate's intercept (``ablation``), else None.
        masks: ``(n_rows, n_sources)`` keep-masks of the scored ablations (``ablation``, ``leave_one_out``).
        token_logprobs: ``(n_rows, n_response_tokens)`` response token log-probabilities under each mask.
        token_scores: ``(n_response_tokens, n_sources)`` per-token scores (token-level methods and ``attention``).
        source_parts: Chat input: the message index of each source.
        info: Model, options, ``n_forwards`` and ``seconds``.

    Example:
        >>> out = SourceAttributionOutput("a b", ["a", "b"], [(0, 1), (2, 3)], " b", [(0, 2)], np.array([0.2, 1.5]),
        ...     "leave_one_out")
        >>> out.top(1), out.sources[out.top(1)[0]]
        ([1], 'b')
    """

    context: str
    sources: list[str]
    source_spans: list[tuple[int, int]]
    response: str
    response_spans: list[tuple[int, int]]
    scores: np.ndarray
    method: str
    bias: float | None = None
    masks: np.ndarray | None = None
    token_logprobs: np.ndarray | None = None
    token_scores: np.ndarray | None = None
    source_parts: list[int] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    _scorer: Any = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------------------------------------- reading
    def scores_for(self, start: int, end: int) -> np.ndarray:
        """Scores of the sources for the response characters ``[start, end)``: the tokens overlapping that range,
        from the cached per-token values (no new forward).

        Raises:
            InvalidArgumentError: for a range outside the response or covering no token.
        """
        tokens = self.token_indices(start, end)
        from .methods import rescore

        return rescore(self, tokens)

    def token_indices(self, start: int, end: int) -> list[int]:
        """Indices of the response tokens overlapping the characters ``[start, end)``."""
        if not (isinstance(start, int) and isinstance(end, int)) or not 0 <= start < end <= len(self.response):
            raise InvalidArgumentError(
                f"(start, end)=({start!r}, {end!r}) is not a character range of the response: use 0 <= start < end <= "
                f"{len(self.response)}."
            )
        tokens = [i for i, (a, b) in enumerate(self.response_spans) if a < end and b > start]
        if not tokens:
            raise InvalidArgumentError(f"The characters [{start}, {end}) of the response cover no token.")
        return tokens

    def to_dataframe(self, top_k: int | None = None) -> Any:
        """The sources and their scores, best first (columns ``source``, ``score``, ``index``), needs pandas.

        Args:
            top_k: Keep the ``top_k`` best sources only (None: all).
        """
        import pandas as pd

        if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
            raise InvalidArgumentError(f"top_k must be a positive integer or None, got {top_k!r}.")
        order = np.argsort(-self.scores, kind="stable")[:top_k]
        return pd.DataFrame(
            {"source": [self.sources[i] for i in order], "score": self.scores[order], "index": order.tolist()}
        )

    def top(self, k: int = 1) -> list[int]:
        """Indices of the ``k`` best sources."""
        return np.argsort(-self.scores, kind="stable")[:k].tolist()

    # ------------------------------------------------------------------------------------------------- views
    def show(self, display: bool = True, return_html: bool = False) -> str | None:
        """The context with each source coloured by its score, then the response (console; HTML in notebooks)."""
        from ..viz.sources import show_sources

        return show_sources(self, display=display, return_html=return_html)

    def _repr_html_(self) -> str:
        from ..viz.sources import sources_html

        return sources_html(self)

    def evaluate(self, metrics: Any = ("lds", "topk_drop"), model: Any = None, **options: Any) -> Any:
        """How faithful the scores are: LDS and top-k drop, each next to a random control.

        See :func:`inseq.sources.evaluate.evaluate_sources` for the options; ``model`` is needed only for an output
        loaded from a file.
        """
        from .evaluation import evaluate_sources

        return evaluate_sources(self, metrics, model=model, **options)

    # ------------------------------------------------------------------------------------------------- files
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary of the output."""
        arrays = {name: getattr(self, name) for name in ("masks", "token_logprobs", "token_scores")}
        return {
            "format": FORMAT,
            "version": VERSION,
            "context": self.context,
            "sources": list(self.sources),
            "source_spans": [list(s) for s in self.source_spans],
            "source_parts": self.source_parts,
            "response": self.response,
            "response_spans": [list(s) for s in self.response_spans],
            "scores": np.asarray(self.scores, dtype=np.float64).tolist(),
            "method": self.method,
            "bias": self.bias,
            **{name: None if a is None else np.asarray(a).tolist() for name, a in arrays.items()},
            "info": self.info,
        }

    def save(self, path: str | PathLike) -> None:
        """Write the output to ``path`` as JSON, atomically (a temporary file renamed into place)."""
        from ..data.files import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def from_dict(cls, data: Any, origin: str = "the data") -> SourceAttributionOutput:
        """The output described by ``data`` (as written by :meth:`to_dict`)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidArgumentError(f"{origin} is not a saved source attribution (format {FORMAT!r}).")
        try:
            masks, logprobs, tokens = (data.get(k) for k in ("masks", "token_logprobs", "token_scores"))
            return cls(
                context=str(data["context"]),
                sources=[str(s) for s in data["sources"]],
                source_spans=[(int(a), int(b)) for a, b in data["source_spans"]],
                response=str(data["response"]),
                response_spans=[(int(a), int(b)) for a, b in data["response_spans"]],
                scores=np.asarray(data["scores"], dtype=np.float64),
                method=str(data["method"]),
                bias=None if data.get("bias") is None else float(data["bias"]),
                masks=None if masks is None else np.asarray(masks, dtype=bool),
                token_logprobs=None if logprobs is None else np.asarray(logprobs, dtype=np.float32),
                token_scores=None if tokens is None else np.asarray(tokens, dtype=np.float64),
                source_parts=data.get("source_parts"),
                info=dict(data.get("info") or {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidArgumentError(f"{origin} is not a valid saved source attribution: {err!r}.") from err


def load_source_attributions(path: str | PathLike) -> SourceAttributionOutput:
    """Load a source attribution saved by :meth:`SourceAttributionOutput.save` (JSON only: no code runs).

    Example:
        >>> out = inseq.load_source_attributions("sources.json")  # doctest: +SKIP
    """
    from pathlib import Path

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidArgumentError(f"Cannot read the source attribution file {str(path)!r}: {err}.") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidArgumentError(f"{str(path)!r} is not JSON: {err}.") from err
    return SourceAttributionOutput.from_dict(data, origin=repr(str(path)))

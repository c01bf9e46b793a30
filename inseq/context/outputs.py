"""Results of PECoRe context attribution and the score selection rule shared by CTI and CCI.

Example:
    >>> out = AttributeContextOutput(output_current="a b", output_current_tokens=["a", "b"], cti_scores=[0.1, 0.9])
    >>> AttributeContextOutput.from_dict(out.to_dict()) == out
    True
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CCIOutput:
    """Contextual cues imputation result for one context-sensitive token.

    Attributes:
        cti_idx: Index of the token in :attr:`AttributeContextOutput.output_current_tokens`.
        cti_token: The token.
        cti_score: Its context-sensitivity (CTI) score.
        contextual_output: The output text (prompt excluded) up to and including the token.
        contrast_token: Contrastive targets only: the token predicted without context.
        contextless_output: Contrastive targets only: the contextless output up to and including ``contrast_token``.
        input_context_scores: One attribution score per input-context token (None where undefined).
        output_context_scores: One attribution score per output-context token.

    Example:
        >>> CCIOutput(cti_idx=2, cti_token="Ġcat", cti_score=0.5, contextual_output="the cat").cti_token
        'Ġcat'
    """

    cti_idx: int
    cti_token: str
    cti_score: float
    contextual_output: str
    contrast_token: str | None = None
    contextless_output: str | None = None
    input_context_scores: list[float | None] | None = None
    output_context_scores: list[float | None] | None = None


@dataclass
class AttributeContextOutput:
    """Result of :func:`inseq.context.attribute_context`.

    ``output_current`` is the current output text only (never the prompt, never special tokens such as EOS), and
    ``output_current_tokens`` / ``cti_scores`` have one entry per token of it.

    Example:
        >>> out = AttributeContextOutput(output_current="a", output_current_tokens=["a"], cti_scores=[0.3])
        >>> out.mean_cti_score()
        0.3
    """

    input_context: str | None = None
    input_context_tokens: list[str] | None = None
    output_context: str | None = None
    output_context_tokens: list[str] | None = None
    output_current: str | None = None
    output_current_tokens: list[str] | None = None
    cti_scores: list[float] | None = None
    cci_scores: list[CCIOutput] = field(default_factory=list)
    info: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dictionary."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttributeContextOutput:
        """Rebuild an output from :meth:`to_dict`."""
        data = dict(data)
        data["cci_scores"] = [CCIOutput(**c) for c in data.get("cci_scores") or []]
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON, atomically (temporary file, then rename)."""
        from ..data.files import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> AttributeContextOutput:
        """Read a file written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def mean_cti_score(self) -> float:
        """Mean CTI score (NaN without scores)."""
        return score_stats(self.cti_scores or [])[0]

    def std_cti_score(self) -> float:
        """Standard deviation (unbiased) of the CTI scores."""
        return score_stats(self.cti_scores or [])[1]

    def min_cti_score(self) -> float:
        """Smallest CTI score (NaN without scores)."""
        return min(self.cti_scores) if self.cti_scores else float("nan")

    def max_cti_score(self) -> float:
        """Largest CTI score (NaN without scores)."""
        return max(self.cti_scores) if self.cti_scores else float("nan")


def score_stats(values: list[float]) -> tuple[float, float]:
    """Mean and unbiased standard deviation (0 for one value, NaN for none).

    Example:
        >>> score_stats([1.0, 3.0])
        (2.0, 1.4142135623730951)
    """
    if not values:
        return float("nan"), float("nan")
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def select_scores(scores: list[float], std_threshold: float = 1.0, topk: int | None = None) -> list[int]:
    """Indices of the scores with ``|score| >= mean + std_threshold * std``, ranked by ``|score|``, top-k kept.

    Mean and (unbiased) standard deviation are those of the scores themselves, as in inseq's PECoRe.

    Example:
        >>> select_scores([0.1, 0.2, 5.0, 0.1, 0.15])
        [2]
        >>> select_scores([1.0, 3.0, 2.0], std_threshold=0.0, topk=1)
        [1]
    """
    if not scores:
        return []
    mean, std = score_stats([float(s) for s in scores])
    threshold = mean + std_threshold * std
    selected = [i for i, s in enumerate(scores) if abs(s) >= threshold]
    selected.sort(key=lambda i: -abs(scores[i]))
    return selected[:topk] if topk is not None else selected

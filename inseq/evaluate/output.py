"""The result of a faithfulness evaluation: one value per (sequence, step, metric) next to its random control."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

#: Columns of :meth:`FaithfulnessOutput.to_dataframe`.
COLUMNS = ("sequence", "step", "position", "token", "metric", "value", "random")


@dataclass
class FaithfulnessOutput:
    """Faithfulness of one attribution output: every metric at every generation step, with its random control.

    ``value`` is the metric for the method's scores; ``random`` is the same metric for random rankings of the same
    tokens, averaged over a few seeds. Whether a method beats chance depends on the metric's direction
    (``info["higher_is_better"]``): e.g. higher comprehensiveness, lower sufficiency.

    Attributes:
        records: One dict per (sequence, step, metric) with the keys of :data:`COLUMNS`.
        info: Model, method, attributed function, metric directions and evaluation options.

    Example:
        >>> res = FaithfulnessOutput(
        ...     [{"sequence": 0, "step": 0, "position": 3, "token": "a", "metric": "comprehensiveness",
        ...       "value": 0.4, "random": 0.1}], info={"higher_is_better": {"comprehensiveness": True}})
        >>> float(res.summary().loc["comprehensiveness", "value"])
        0.4
        >>> bool(res.beats_random()["comprehensiveness"])
        True
    """

    records: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        """Metric ids in evaluation order."""
        return list(dict.fromkeys(r["metric"] for r in self.records))

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per (sequence, step, metric) with ``value`` and ``random`` columns."""
        import pandas as pd

        return pd.DataFrame(self.records, columns=list(COLUMNS))

    def summary(self) -> pandas.DataFrame:
        """Means over steps and sequences: a DataFrame indexed by metric with columns ``value`` and ``random``."""
        df = self.to_dataframe()
        means = df.groupby("metric", sort=False)[["value", "random"]].mean()
        return means.reindex(self.metrics)

    def beats_random(self) -> pandas.Series:
        """Whether the mean value is better than the mean random control, in each metric's direction."""
        summary = self.summary()
        directions = self.info.get("higher_is_better", {})
        better = [
            (v > r) if directions.get(m, True) else (v < r)
            for m, v, r in zip(summary.index, summary["value"], summary["random"])
        ]
        import pandas as pd

        return pd.Series(better, index=summary.index, name="beats_random")

    def format(self) -> str:
        """The summary as a text table with each metric's direction."""
        summary = self.summary()
        directions = self.info.get("higher_is_better", {})
        wins = self.beats_random()
        method = self.info.get("attribution_method", "?")
        lines = [
            f"Faithfulness of {method} ({len(self.records)} values)",
            f"{'metric':<24}{'value':>10}{'random':>10}",
        ]
        for metric, row in summary.iterrows():
            arrow = "higher" if directions.get(metric, True) else "lower"
            mark = "beats random" if wins[metric] else "-"
            lines.append(f"{metric:<24}{_fmt(row['value']):>10}{_fmt(row['random']):>10}  ({arrow} is better) {mark}")
        return "\n".join(lines)

    def show(self) -> None:
        """Print :meth:`format`."""
        print(self.format())

    def save(self, path: str | PathLike) -> None:
        """Save as JSON (``.json``) or as the per-step table in CSV (``.csv``)."""
        path = Path(path)
        if path.suffix == ".csv":
            self.to_dataframe().to_csv(path, index=False)
            return
        path.write_text(json.dumps({"info": self.info, "records": self.records}, indent=1, default=str) + "\n")

    @staticmethod
    def load(path: str | PathLike) -> FaithfulnessOutput:
        """Load an output saved as JSON by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or "records" not in data:
            raise ValueError(f"{path} is not a saved FaithfulnessOutput (no 'records' key).")
        return FaithfulnessOutput(data["records"], data.get("info", {}))


def _fmt(value: float) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"

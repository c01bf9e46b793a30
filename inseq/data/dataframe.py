"""Export sequence attributions to a long-format pandas DataFrame (pandas is an optional dependency).

Example:
    >>> df = sequences_to_dataframe(out.sequence_attributions)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

    from .attribution import FeatureAttributionSequenceOutput

__all__ = ["DATAFRAME_COLUMNS", "sequences_to_dataframe"]

DATAFRAME_COLUMNS = [
    "sequence_idx",
    "generated_idx",
    "generated_token",
    "attributed_idx",
    "attributed_token",
    "side",
    "score",
]


def _import_pandas() -> Any:
    try:
        import pandas
    except ImportError as err:
        raise ImportError(
            "to_dataframe() needs pandas, which is not installed. Install it with `pip install pandas` "
            "(or `pip install inseq[pandas]`)."
        ) from err
    return pandas


def sequences_to_dataframe(
    sequences: Sequence[FeatureAttributionSequenceOutput],
    aggregator: Any = None,
    do_aggregation: bool = True,
    dropna: bool = True,
    **kwargs: Any,
) -> pandas.DataFrame:
    """One row per (sequence, generated token, attributed token, side), step scores as extra columns.

    Args:
        sequences: sequence outputs to export (their index in this list is ``sequence_idx``).
        aggregator: aggregator used before export (default: each output's default aggregator).
        do_aggregation: aggregate first (set False for outputs that are already 2-D).
        dropna: drop NaN scores (target tokens at or after the generated position).
        **kwargs: passed to ``aggregate()``.

    Raises:
        ImportError: if pandas is missing.
        ValueError: if the attributions are not 2-D after aggregation.
    """
    pd = _import_pandas()
    rows: list[dict[str, Any]] = []
    step_names: list[str] = []
    for seq_idx, seq in enumerate(sequences):
        attr = seq.aggregate(aggregator, **kwargs) if do_aggregation else seq
        step_names.extend(n for n in attr.step_scores if n not in step_names)
        for side, tensor, _ in attr._sides():
            if tensor.ndim != 2:
                raise ValueError(
                    f"to_dataframe needs 2-D attributions but {side}_attributions is {tensor.ndim}-D; "
                    "aggregate first (e.g. aggregator='mean')."
                )
        for step, gen_tok in enumerate(attr.generated_tokens):
            gen_idx = attr.attr_pos_start + step
            steps = {name: score[step].item() for name, score in attr.step_scores.items()}
            base = {"sequence_idx": seq_idx, "generated_idx": gen_idx, "generated_token": gen_tok.token}
            for side, tensor, tokens in attr._sides():
                for row, value in enumerate(tensor[:, step].tolist()):
                    if dropna and value != value:
                        continue
                    entry = {**base, "attributed_idx": row, "attributed_token": tokens[row].token, "side": side}
                    rows.append({**entry, "score": value, **steps})
            if not attr._sides() and steps:
                rows.append({**base, "attributed_idx": None, "attributed_token": None, "side": None, **steps})
    return pd.DataFrame(rows, columns=DATAFRAME_COLUMNS + step_names)

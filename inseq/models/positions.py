"""Resolution of the attributed target positions (``attr_pos_start`` / ``attr_pos_end``)."""

from __future__ import annotations


def resolve_positions(start: int | None, end: int | None, length: int, min_start: int) -> tuple[int, int]:
    """Resolve ``attr_pos_start``/``attr_pos_end`` (negative values count from the end) for a target of ``length``.

    The start is raised to at least ``min_start`` (the prompt or decoder start is never attributed).

    Example:
        >>> resolve_positions(None, -1, 10, 4)
        (4, 9)
    """
    resolved_end = length if end is None else (end + length if end < 0 else end)
    resolved_start = min_start if start is None else (start + length if start < 0 else start)
    resolved_start = max(resolved_start, min_start)
    if resolved_end > length or resolved_start > length:
        raise ValueError(
            f"attr_pos_start={start} / attr_pos_end={end} fall outside the target sequence of {length} tokens: "
            f"valid positions are {min_start} to {length - 1} (end exclusive, up to {length})."
        )
    if resolved_start >= resolved_end:
        raise ValueError(
            f"No target position to attribute: attr_pos_start={start} and attr_pos_end={end} give the range "
            f"[{resolved_start}, {resolved_end}) for a target of {length} tokens whose first attributable position "
            f"is {min_start}. Valid positions are {min_start} to {length - 1}."
        )
    return resolved_start, resolved_end

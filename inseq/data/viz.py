"""Import-compatibility alias (inseq 0.7 path): the views live in :mod:`inseq.viz`, loaded on first use."""

from __future__ import annotations

from typing import Any

_NAMES = ("show_attributions", "show_granular_attributions", "show_token_attributions")


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        from .. import viz

        return getattr(viz, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""inseq: interpretability for sequence generation models."""

from __future__ import annotations


def get_version() -> str:
    """Return the installed version of inseq (``"unknown"`` when it is not installed as a package).

    Example:
        >>> import inseq
        >>> isinstance(inseq.get_version(), str)
        True
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inseq")
    except PackageNotFoundError:
        return "unknown"


__all__ = ["get_version"]

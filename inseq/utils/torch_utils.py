"""Device helpers (inseq 0.7 names)."""

from __future__ import annotations

import torch

__all__ = ["check_device", "get_default_device"]


def get_default_device() -> str:
    """``"cuda"`` when a CUDA device is available, else ``"cpu"`` (MPS is not used, as in inseq).

    Example:
        >>> get_default_device() in ("cpu", "cuda")
        True
    """
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device_name: str) -> str:
    """Return ``device_name`` if this machine can use it.

    Raises:
        ValueError: for an unknown device type, or CUDA / MPS requested where unavailable.

    Example:
        >>> check_device("cpu")
        'cpu'
    """
    kind = str(device_name).split(":", maxsplit=1)[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Unknown device {device_name!r}: use 'cpu', 'cuda' (optionally 'cuda:N') or 'mps'.")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {device_name!r} was requested but CUDA is not available on this machine.")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"Device {device_name!r} was requested but MPS is not available on this machine.")
    return str(device_name)

"""inseq's cache folders and a JSON cache for function results (inseq 0.7 path ``inseq.utils.cache``).

``INSEQ_HOME_CACHE`` is ``$INSEQ_HOME``, else ``$XDG_CACHE_HOME/inseq`` (``~/.cache/inseq``);
``INSEQ_ARTIFACTS_CACHE`` is ``$INSEQ_ARTIFACTS_CACHE``, else ``<home>/artifacts``. The values are read from the
environment when this module is imported, as in inseq 0.7.

:func:`cache_results` differs from inseq 0.7's, which pickled results: loading a pickle runs code, so here results
are cached as JSON and only JSON-representable results (numbers, strings, lists, dicts) can be cached; anything
else raises a ``TypeError`` instead of being written.

Example:
    >>> import tempfile
    >>> @cache_results
    ... def square(x):
    ...     return x * x
    >>> folder = tempfile.mkdtemp()
    >>> square(folder, "sq.json", 3), square(folder, "sq.json", 4)  # the second call reads the cached 9
    (9, 9)
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .misc import save_to_file

__all__ = [
    "DEFAULT_INSEQ_ARTIFACTS_CACHE",
    "DEFAULT_INSEQ_HOME_CACHE",
    "DEFAULT_XDG_CACHE_HOME",
    "INSEQ_ARTIFACTS_CACHE",
    "INSEQ_HOME_CACHE",
    "XDG_CACHE_HOME",
    "cache_results",
]

T = TypeVar("T")

DEFAULT_XDG_CACHE_HOME = Path("~", ".cache").expanduser()
XDG_CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME", DEFAULT_XDG_CACHE_HOME)).expanduser()
DEFAULT_INSEQ_HOME_CACHE = XDG_CACHE_HOME / "inseq"
INSEQ_HOME_CACHE = Path(os.environ.get("INSEQ_HOME", DEFAULT_INSEQ_HOME_CACHE)).expanduser()
DEFAULT_INSEQ_ARTIFACTS_CACHE = INSEQ_HOME_CACHE / "artifacts"
INSEQ_ARTIFACTS_CACHE = Path(os.environ.get("INSEQ_ARTIFACTS_CACHE", DEFAULT_INSEQ_ARTIFACTS_CACHE)).expanduser()


@save_to_file
def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def cache_results(fn: Callable[..., T]) -> Callable[..., T]:
    """Cache ``fn``'s result in a JSON file: the decorated function takes ``(cache_dir, cache_filename, *args)``.

    When ``<cache_dir>/<cache_filename>`` exists its content is returned without calling ``fn``; otherwise ``fn`` is
    called and its result written there atomically. ``save_cache=False`` skips writing, ``overwrite_cache=True``
    recomputes even when a cached file exists.

    Raises:
        TypeError: when the result is not JSON-representable (it is not cached: no pickle is ever written).

    Example:
        >>> @cache_results
        ... def squares(n):
        ...     return [i * i for i in range(n)]
        >>> squares("cache", "squares.json", 3)  # computed, then read from cache/squares.json  # doctest: +SKIP
        [0, 1, 4]
    """

    @functools.wraps(fn)
    def wrapper(
        cache_dir: str | os.PathLike,
        cache_filename: str,
        *args: Any,
        save_cache: bool = True,
        overwrite_cache: bool = False,
        **kwargs: Any,
    ) -> T:
        path = Path(cache_dir) / cache_filename
        if path.exists() and not overwrite_cache:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        result = fn(*args, **kwargs)
        if save_cache:
            try:
                _dumps(result, path)
            except (TypeError, ValueError) as err:
                raise TypeError(
                    f"cache_results stores results as JSON; the result of {fn.__name__!r} is a "
                    f"{type(result).__name__} that JSON cannot hold ({err}). Pass save_cache=False to skip caching."
                ) from err
        return result

    return wrapper

"""Shared pytest configuration: offline, single-threaded settings and tiny-model fixtures.

Test folders may add their own ``conftest.py`` with more fixtures; the ones here stay generic.

Example:
    >>> def test_something(tiny_model_path):  # doctest: +SKIP
    ...     path = tiny_model_path("gpt2")
"""

from __future__ import annotations

import os

# Set before transformers / huggingface_hub are imported by any test module.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from inseq.testing import TINY_MODEL_NAMES, get_tiny_model_path  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_models_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder caching the tiny models: ``$INSEQ_TINY_MODELS_DIR`` if set, else a folder in pytest's cache.

    Without the cache plugin (``-p no:cacheprovider``), a session temporary folder is used instead.

    The pytest cache is shared by xdist workers and kept between runs; builds are atomic renames, so concurrent
    workers are safe and each model is built at most once per cache (keyed by the inseq/transformers versions).
    """
    env_dir = os.environ.get("INSEQ_TINY_MODELS_DIR")
    if env_dir:
        return Path(env_dir)
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return tmp_path_factory.mktemp("inseq-tiny-models")
    return Path(cache.mkdir("inseq-tiny-models"))


@pytest.fixture(scope="session")
def tiny_model_path(tiny_models_dir: Path) -> Callable[[str], Path]:
    """Factory returning the folder of a tiny model by name, e.g. ``tiny_model_path("gpt2")``."""

    def _get(name: str) -> Path:
        return get_tiny_model_path(name, tiny_models_dir)

    return _get


class CallCounter:
    """Counts the calls of a module-level function patched in place (the original still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> None:
        self.calls = 0
        original = getattr(module, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)


@pytest.fixture
def count_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[[object, str], CallCounter]:
    """Factory: ``count_calls(module, "name")`` patches ``module.name`` to count its calls for the test."""
    return lambda module, name: CallCounter(monkeypatch, module, name)


def _make_named_fixture(name: str) -> Callable[..., Path]:
    @pytest.fixture(scope="session", name=f"tiny_{name}_path")
    def _fixture(tiny_model_path: Callable[[str], Path]) -> Path:
        return tiny_model_path(name)

    _fixture.__doc__ = f"Folder of the tiny random {name!r} model and its tokenizer."
    return _fixture


# One fixture per tiny model: tiny_gpt2_path, tiny_llama_path, tiny_qwen2_path, tiny_gpt_neox_path,
# tiny_bart_path, tiny_t5_path, tiny_marian_path.
for _name in TINY_MODEL_NAMES:
    globals()[f"tiny_{_name}_path"] = _make_named_fixture(_name)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``browser`` need headless Chromium: skipped without it locally, failed without it under CI=true."""
    if item.get_closest_marker("browser") is not None:
        from inseq.testing.browser import require_browser

        require_browser()

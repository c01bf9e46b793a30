"""Base class of the ``inseq`` sub-commands and shared helpers (model loading, logging, one-line errors).

Example:
    >>> class Hello(BaseCLICommand):
    ...     _name = "hello"
    ...     _help = "Say hello."
    ...     _dataclasses = ()
    ...     @staticmethod
    ...     def run(args) -> int:
    ...         return 0
    >>> Hello._name
    'hello'
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from ..utils.errors import InseqError
from .cli_args import InseqArgumentParser, namespace_to_dataclasses

if TYPE_CHECKING:
    from ..models import AttributionModel


#: An error reported on one line, without a traceback (exit code 1). It is the library's own error base class, so
#: that errors raised by the library (e.g. :class:`inseq.context.ContextAttributionError`) are reported alike.
CommandError = InseqError


class BaseCLICommand(ABC):
    """A sub-command: a name, a help line, the dataclasses declaring its options and a ``run`` function."""

    _name: ClassVar[str]
    _help: ClassVar[str]
    _dataclasses: ClassVar[tuple[type, ...]]

    @classmethod
    def register_subcommand(cls, subparsers: argparse._SubParsersAction) -> InseqArgumentParser:
        """Add this command's parser (with its dataclass options) to ``subparsers``."""
        parser = subparsers.add_parser(cls._name, help=cls._help, description=cls._help)
        for dtype in cls._dataclasses:
            parser.add_dataclass_arguments(dtype)
        parser.set_defaults(_command=cls)
        return parser

    @classmethod
    def build(cls, namespace: argparse.Namespace) -> tuple[Any, ...]:
        """Turn the parsed namespace into this command's dataclass instances."""
        return namespace_to_dataclasses(namespace, cls._dataclasses)

    @staticmethod
    @abstractmethod
    def run(args: Any) -> int:
        """Run the command with its parsed arguments and return an exit code."""


def setup_logging(verbose: bool = False, very_verbose: bool = False) -> None:
    """Set the logging level: WARNING by default, INFO with ``-v``, DEBUG with ``-vv``."""
    level = logging.DEBUG if very_verbose else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format=f"%(levelname)s:{rank_prefix()}%(name)s: %(message)s", force=True)
    if not (verbose or very_verbose):
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover
            pass


def rank_prefix() -> str:
    """``"[rank 1/2] "`` in a process launched in parallel (``torchrun``, ``accelerate launch``), else ``""``.

    Read from the launcher's ``RANK`` / ``WORLD_SIZE`` environment variables (no ``torch`` import).

    Example:
        >>> rank_prefix() if "WORLD_SIZE" not in os.environ else ""
        ''
    """
    world, rank = os.environ.get("WORLD_SIZE", "1"), os.environ.get("RANK", "0")
    return f"[rank {rank}/{world}] " if world.isdigit() and int(world) > 1 else ""


def one_line(message: object) -> str:
    """Collapse a message on one line.

    Example:
        >>> one_line("a\\n  b")
        'a b'
    """
    return " ".join(str(message).split())


def load_model_or_fail(
    model_name_or_path: Any,
    attribution_method: str | None,
    device: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
    tokenizer_kwargs: dict[str, Any] | None = None,
) -> AttributionModel:
    """Load a model with :func:`inseq.load_model`, turning any failure into a one-line :class:`CommandError`."""
    from .. import load_model
    from ..models.run_options import no_model_given

    if no_model_given(model_name_or_path):
        raise CommandError("no model given: pass --model_name_or_path/-m with a model id or a local folder.")
    try:
        return load_model(
            model_name_or_path,
            attribution_method,
            device=device,
            model_kwargs=dict(model_kwargs or {}),
            tokenizer_kwargs=dict(tokenizer_kwargs or {}),
        )
    except Exception as err:  # noqa: BLE001 - any loading failure becomes a readable message
        raise CommandError(
            f"could not load the model {str(model_name_or_path)!r}: {type(err).__name__}: {one_line(err)}"
        ) from err


def report_error(prog: str, err: BaseException) -> None:
    """Print ``<prog>: error: <message>`` on one line of stderr."""
    print(f"{rank_prefix()}{prog}: error: {one_line(err)}", file=sys.stderr)


def evaluate_saved(model: Any, out: Any, metrics: list[str], save_path: str | None) -> None:
    """``--evaluate``: measure the faithfulness of ``out`` and save it next to the attributions saved at ``save_path``.

    Example:
        >>> evaluate_saved(model, out, ["comprehensiveness"], "out.json")  # doctest: +SKIP
    """
    from ..evaluate import evaluate_and_save, faithfulness_path, list_faithfulness_metrics

    if not save_path:
        raise CommandError("--evaluate writes its metrics next to the saved attributions: pass --save_path too.")
    chosen = None if metrics == ["all"] else list(metrics)
    unknown = sorted(set(chosen or []) - set(list_faithfulness_metrics("token")))
    if unknown:
        raise CommandError(
            f"Unknown faithfulness metric(s) {unknown} for --evaluate; valid: all, {', '.join(list_faithfulness_metrics('token'))}."
        )
    path = faithfulness_path(save_path)
    result = evaluate_and_save(model, out, chosen, path)
    print(result.format())
    print(f"Saved faithfulness metrics to {path}")

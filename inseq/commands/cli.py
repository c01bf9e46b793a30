"""Entry point of the ``inseq`` command line.

Sub-commands: ``inseq {attribute,attribute-dataset,merge-dataset,attribute-context,attribute-sources}``.

Example:
    .. code-block:: bash

        inseq attribute --help
        python -m inseq.commands.cli attribute -m gpt2 -i "Hello world" --hide
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .base import BaseCLICommand, CommandError, report_error
from .cli_args import InseqArgumentParser


def get_commands() -> list[type[BaseCLICommand]]:
    """The registered sub-commands, in the order shown by ``inseq --help``."""
    from .attribute import AttributeCommand
    from .attribute_context import AttributeContextCommand
    from .attribute_dataset import AttributeDatasetCommand
    from .attribute_sources import AttributeSourcesCommand
    from .merge_dataset import MergeDatasetCommand

    return [
        AttributeCommand,
        AttributeDatasetCommand,
        MergeDatasetCommand,
        AttributeContextCommand,
        AttributeSourcesCommand,
    ]


def build_parser() -> InseqArgumentParser:
    """Build the ``inseq`` parser with one sub-parser per command.

    Example:
        >>> parser = build_parser()
        >>> parser.prog
        'inseq'
    """
    parser = InseqArgumentParser(prog="inseq", description="Interpretability for sequence generation models.")
    subparsers = parser.add_subparsers(title="commands", dest="_command_name", metavar="{command}")
    for command in get_commands():
        command.register_subcommand(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``inseq`` command line and return its exit code.

    Exit codes: 0 on success, 1 for a missing sub-command or a failure (one-line message on stderr), 2 for invalid
    options (one-line message naming the option), 130 when interrupted with Ctrl+C.

    Example:
        >>> main(["attribute", "--help"])  # doctest: +SKIP
    """
    parser = build_parser()
    namespace = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    command = getattr(namespace, "_command", None)
    if command is None:
        parser.print_help()
        return 1
    args = command.build(namespace)
    prog = f"inseq {command._name}"
    verbose = any(getattr(a, "very_verbose", False) for a in args)
    try:
        return int(command.run(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except CommandError as err:
        report_error(prog, err)
        return 1
    except Exception as err:  # noqa: BLE001 - one-line report, full traceback with -vv
        if verbose:
            raise
        report_error(prog, f"{type(err).__name__}: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())

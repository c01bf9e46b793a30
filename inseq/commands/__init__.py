"""The ``inseq`` command line: ``attribute``, ``attribute-dataset`` and ``attribute-context`` sub-commands.

Example:
    >>> from inseq.commands.cli import main
    >>> main(["attribute", "--help"])  # doctest: +SKIP
"""

from .cli_args import InseqArgumentParser, cli_arg

__all__ = ["InseqArgumentParser", "cli_arg"]

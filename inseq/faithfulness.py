"""Moved to :mod:`inseq.evaluate.agreement` (agreement with gold tokens) and ``python -m inseq.evaluate`` (the table).

Example:
    >>> from inseq.faithfulness import causal_agreement  # same function as inseq.evaluate.agreement's
"""

from .evaluate.agreement import (  # noqa: F401
    FaithfulnessResult,
    causal_agreement,
    causal_run,
    translation_agreement,
    translation_run,
)

if __name__ == "__main__":
    import sys

    from .evaluate.report import main

    sys.exit(main())

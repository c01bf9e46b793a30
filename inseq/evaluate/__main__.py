"""``python -m inseq.evaluate``: the faithfulness table of every method on the toy models (see ``report``)."""

import sys

from .report import main

sys.exit(main())

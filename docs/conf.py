"""Sphinx configuration of inseq's documentation site (``make docs`` builds it into ``docs/_build/html``).

The pages are the Markdown files of ``docs/`` (MyST); the API reference is written at build time from the public
names of the documented modules (``_ext/inseq_api.py``) and filled from the docstrings (autodoc, autosummary,
napoleon for Google-style sections). The build needs no network: nothing is fetched (no intersphinx).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the checkout's inseq, also when it is not installed
for key, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(key, value)

import inseq  # noqa: E402

project = "inseq"
author = "inseq contributors"
copyright = "inseq contributors"
release = inseq.get_version()
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "inseq_api",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "images/*.py", "Thumbs.db", ".DS_Store"]
# Pages added later (scaling, performance, source attribution) are listed by glob patterns in index.md.
suppress_warnings = ["toc.empty_glob"]

# MyST: Markdown pages with anchors on headings, so `page.md#a-heading` links resolve.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference from the docstrings.
autosummary_generate = False  # the summary tables link to the descriptions on the same page
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_member_order = "bysource"
autodoc_default_options = {"exclude-members": "__init__, __new__, __weakref__, __dict__, __module__"}
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False
add_module_names = False

html_theme = "furo"
html_title = f"inseq {release}"
html_static_path: list[str] = []
html_show_sourcelink = True

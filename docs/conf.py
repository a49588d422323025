"""Sphinx configuration of the qtfl documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # document this checkout, installed or not
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from qtfl import __version__  # noqa: E402

project = "qtfl"
author = "the qtfl authors"
copyright = "2026, the qtfl authors"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "qtfl_docs",
]
# intersphinx is left out: building may not reach the internet, and no Debian or PyPI
# package in the pinned set ships the inventories of Python, numpy or torch.

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

templates_path = ["_templates"]
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "ignore-module-all": True}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
# Not preserve_defaults: it rewrites functions' __defaults__ in place, which would change
# the typer app that the command-line reference reads.
autodoc_preserve_defaults = False
napoleon_google_docstring = True
napoleon_numpy_docstring = True
# Cross-references to objects outside the documented modules (numpy, torch, stim, ...) cannot
# resolve without intersphinx; they are not checked, every other warning is an error.
nitpicky = False

doctest_global_setup = """
import numpy as np
np.set_printoptions(precision=4, suppress=True, legacy="1.25")
"""

html_theme = "alabaster"
html_title = f"qtfl {release}"
html_static_path: list[str] = []
html_theme_options = {"description": "Federated learning over quantum teleportation"}

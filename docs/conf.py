"""Sphinx configuration of the medfuse documentation (built by ``make docs``)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))  # the working tree's source wins over an install
sys.path.insert(0, str(DOCS))  # gallery_order

import medfuse  # noqa: E402

project = "medfuse"
author = "The medfuse developers"
copyright = "The medfuse developers, BSD-3-Clause"
version = release = medfuse.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5",
                    "auto_examples/*.pickle", "**/sg_execution_times.rst"]
templates_path = ["_templates"]
highlight_language = "none"  # unlabelled blocks (the architecture diagram) stay plain text
html_static_path = ["_static"]
html_css_files = ["medfuse.css"]

# ---------------------------------------------------------------------- API reference
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"inherited-members": False, "show-inheritance": False}
autodoc_typehints = "none"          # numpydoc's Parameters section says the types
numpydoc_show_class_members = False  # the class template lists the members
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# ---------------------------------------------------------------------- example gallery
# ``MEDFUSE_GALLERY_PATTERN`` runs only the examples whose path matches it (CI's quick
# subset); the others are rendered without their output. By default every example runs.
_pattern = os.environ.get("MEDFUSE_GALLERY_PATTERN") or re.escape(os.sep) + "plot_"


def _rosmap_available() -> bool:
    if os.environ.get("MEDFUSE_ROSMAP"):
        return (Path(os.environ["MEDFUSE_ROSMAP"]) / "labels_tr.csv").exists()
    return any((p / "shared" / "data" / "rosmap" / "labels_tr.csv").exists()
               for p in [ROOT, *ROOT.parents])


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": str(DOCS / "auto_examples"),
    "filename_pattern": _pattern,
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "doc_module": ("medfuse",),
    "backreferences_dir": str(DOCS / "api" / "backreferences"),
    "reference_url": {"medfuse": None},
    "download_all_examples": False,
    "show_memory": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
    # Without the ROSMAP files its example stops with a message saying so; the build
    # records that instead of failing (CI has the files).
    "expected_failing_examples": ([] if _rosmap_available()
                                  else [str(ROOT / "examples" / "plot_quickstart_rosmap.py")]),
}

# ---------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"medfuse {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": [], "auto_examples/index": []}
html_show_sourcelink = False
html_last_updated_fmt = None

myst_heading_anchors = 3
suppress_warnings = ["config.cache"]


def _skip_generated_request_methods(app, what, name, obj, skip, options):
    """scikit-learn generates ``set_<method>_request`` on every estimator; they are
    scikit-learn's API, documented there."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_generated_request_methods)

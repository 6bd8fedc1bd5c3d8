"""Sphinx configuration of the pyg-grapheme docs: API reference from the docstrings
(autodoc + napoleon, Google style), guides in MyST Markdown under ``guides/``.

Build (warnings are errors, as in CI)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not an installed copy
os.environ.setdefault("OMP_NUM_THREADS", "1")  # autodoc imports torch; keep it small

import pyg_grapheme  # noqa: E402

project = "pyg-grapheme"
author = "pyg-grapheme developers"
copyright = "pyg-grapheme developers"
release = version = pyg_grapheme.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# "Returns:" sections here list several named values (PyG's style: "* **x** (*Tensor*):
# ..."), which napoleon's one-value parser garbles; shown as written, they read right.
napoleon_custom_sections = ["Returns"]
# Lightning's hooks (train_dataloader, configure_optimizers) would bring Lightning's own
# docstrings, written for its docs build; only what this project documents is shown.
autodoc_inherit_docstrings = False

myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

try:
    import furo  # noqa: F401

    html_theme = "furo"
except ImportError:  # the built-in theme, so the docs build without the extra too
    html_theme = "alabaster"
html_title = f"pyg-grapheme {release}"


PACKAGES = ("pyg_grapheme", "lightning_modules")


def skip_foreign_and_field_aliases(app, what, name, obj, skip, options):
    """Leave out what this project does not define: names a module re-exports from
    another library (torchmetrics' ``CharErrorRate``) and the ``Alias for field number``
    properties of NamedTuples, whose fields the class docstring's Attributes describe."""
    module = getattr(obj, "__module__", None)
    if what == "module" and isinstance(module, str) and not module.startswith(PACKAGES):
        return True
    if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    return skip


def module_tree() -> dict[str, list[str]]:
    """Every module of :data:`PACKAGES` -> its direct submodules (empty for a module)."""
    tree: dict[str, list[str]] = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        tree[name] = []
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            tree[info.name] = []
            tree[info.name.rpartition(".")[0]].append(info.name)
    return tree


def write_api_pages(app) -> None:
    """One page per module under ``api/``: a package's docstring and its modules, or a
    module's docstring and every public member (its ``__all__``).

    Written at every build, so a new module has a page without anyone listing it. (Not
    autosummary: where a package re-exports a function named like its module, e.g.
    ``pyg_grapheme.loss.sinkhorn``, autosummary documents the function, not the module.)
    """
    folder = Path(app.srcdir) / "api"
    folder.mkdir(exist_ok=True)
    tree = module_tree()
    pages = {}
    for name, children in tree.items():
        lines = [name, "=" * len(name), "", f".. automodule:: {name}"]
        if children:
            lines += ["   :no-members:", "", ".. toctree::", "   :maxdepth: 1", ""]
            lines += [f"   {child}" for child in children]
        pages[f"{name}.rst"] = "\n".join(lines) + "\n"
    for stale in folder.glob("*.rst"):
        if stale.name not in pages:
            stale.unlink()
    for filename, text in pages.items():
        path = folder / filename
        if not path.exists() or path.read_text() != text:  # unchanged pages stay cached
            path.write_text(text)


def setup(app):
    app.connect("builder-inited", write_api_pages)
    app.connect("autodoc-skip-member", skip_foreign_and_field_aliases)

"""Check that the built API reference documents every public class and function.

Public: a module's ``__all__`` where it has one, else every class and function it
defines whose name does not start with ``_``. Each must appear in the build's object
inventory under the module that defines it (re-exports are documented there once).
Names a module re-exports from another library are not this project's to document.

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python docs/check_api.py [docs/_build/html]

Prints what is missing and exits 1, or prints the count and exits 0.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from sphinx.util.inventory import InventoryFile

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pyg_grapheme", "lightning_modules")


def modules() -> Iterator[ModuleType]:
    """Every module of :data:`PACKAGES`, packages included."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            yield importlib.import_module(info.name)


def public_objects(module: ModuleType) -> Iterator[str]:
    """Dotted names, where they are defined, of the module's public classes and functions."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__
        ]
    for name in names:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not obj.__module__.startswith(PACKAGES):
            continue
        yield f"{obj.__module__}.{obj.__qualname__}"


def main(argv: list[str]) -> int:
    build = Path(argv[0]) if argv else ROOT / "docs" / "_build" / "html"
    with open(build / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", lambda base, uri: uri)
    documented = {name for kind, entries in inventory.items() if kind.startswith("py:")
                  for name in entries}  # fmt: skip
    sys.path.insert(0, str(ROOT))
    wanted = sorted({name for module in modules() for name in public_objects(module)})
    missing = [name for name in wanted if name not in documented]
    for name in missing:
        print(f"not in the API reference: {name}")
    print(f"{len(wanted) - len(missing)} of {len(wanted)} public classes and functions documented")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Packages whose ``__init__`` only re-exports its submodules, loaded one name at a time.

``aws_lambda_powertools.event_handler`` imports every resolver (AppSync, Bedrock, VPC Lattice,
...) and ``aws_lambda_powertools.utilities.data_classes`` every event class (some 40 modules)
to re-export them; a function needs one or two, and importing any submodule runs the whole
``__init__`` first (~7 and ~10 ms of the API's cold start). ``defer`` registers such a package
without running its ``__init__``: its submodules import as usual, and a name the ``__init__``
re-exports loads only its own submodule when first asked for (PEP 562). A package whose
``__init__`` does anything else (or that is already imported) is left as it is.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from types import ModuleType


def defer(package: str) -> bool:
    """Register ``package`` with its re-exports loaded on first use; False if left alone."""
    if package in sys.modules:
        return False
    spec = importlib.util.find_spec(package)
    loader = spec.loader if spec else None
    get_source = getattr(loader, "get_source", None)
    source = (
        get_source(package) if spec and spec.submodule_search_locations and get_source else None
    )
    origins = _reexports(package, source) if source else None
    if spec is None or origins is None:
        return False
    module = importlib.util.module_from_spec(spec)

    def __getattr__(name: str) -> object:
        if name not in origins:
            # Not re-exported: the import system then tries it as a submodule, as for any
            # package (``from package import submodule``).
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(origins[name]), name)
        setattr(module, name, value)
        return value

    vars(module).update(__getattr__=__getattr__, __all__=list(origins))
    sys.modules[package] = module
    parent, _, child = package.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return True


def _reexports(package: str, source: str) -> dict[str, str] | None:
    """Each name the ``__init__`` binds and the module it comes from; None if it does more
    than ``from <its submodule> import ...``, a docstring and ``__all__``."""
    origins: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"]:
            continue
        if not isinstance(node, ast.ImportFrom):
            return None
        origin = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
        if not origin.startswith(package + ".") or any(a.name == "*" for a in node.names):
            return None
        for alias in node.names:
            origins[alias.asname or alias.name] = origin
    return origins


def is_deferred(module: ModuleType) -> bool:
    """Whether ``module`` is a package ``defer`` registered (for the tests)."""
    return "__getattr__" in vars(module) and vars(module)["__getattr__"].__module__ == __name__

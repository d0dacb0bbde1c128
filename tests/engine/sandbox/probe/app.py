"""Held-out probe: reports the Python it runs on and what it can import (nothing of its own)."""

import importlib
import importlib.metadata
import sys


def handler(event, context):
    modules = {}
    for name in event.get("modules", []):
        try:
            module = importlib.import_module(name)
        except ImportError:
            modules[name] = None
        else:
            modules[name] = getattr(module, "__file__", None) or ""
    versions = {}
    for dist in event.get("distributions", []):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "version": ".".join(str(part) for part in sys.version_info[:3]),
        "executable": sys.executable,
        "path": sys.path,
        "modules": modules,
        "versions": versions,
    }

"""imgpipe_core.reexports: a package that only re-exports, loaded one name at a time, gives the
same objects as the package itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes"]
_NAMES = """
import importlib, json, sys
from imgpipe_core import reexports
package, deferred = sys.argv[1], sys.argv[2] == "1"
if deferred:
    assert reexports.defer(package)
module = importlib.import_module(package)
names = sorted(module.__all__)
loaded = len(sys.modules)
found = {name: f"{getattr(module, name).__module__}.{getattr(module, name).__qualname__}"
         for name in names}
namespace = {}
exec(f"from {package} import *", namespace)
star = sorted(n for n in namespace if n != "__builtins__")
print(json.dumps({"names": names, "found": found, "star": star,
                  "deferred": reexports.is_deferred(module), "loaded_before_use": loaded}))
"""


def _names(package: str, deferred: bool) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _NAMES, package, "1" if deferred else "0"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "core")},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("package", PACKAGES)
def test_a_deferred_package_gives_every_name_its_init_gives(package: str) -> None:
    # WHEN the package is imported as it is, and deferred, each in a fresh interpreter
    stock, deferred = _names(package, False), _names(package, True)

    # THEN the deferred one has the same names, each the same class or function, also by *
    assert deferred["deferred"] is True and stock["deferred"] is False
    assert deferred["names"] == stock["names"] and deferred["found"] == stock["found"]
    assert deferred["star"] == stock["star"] == stock["names"]
    # AND before a name is asked for, far fewer modules are loaded
    assert int(deferred["loaded_before_use"]) < int(stock["loaded_before_use"]) - 10  # type: ignore[call-overload]


def test_a_package_that_does_more_than_reexport_is_left_as_it_is(tmp_path: Path) -> None:
    # GIVEN a package whose __init__ also runs code, and one that only re-exports
    for name, init in [
        ("busy", "from busy.part import A\nSETTING = 1\n"),
        ("thin", "from thin.part import A\n"),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(init)
        (tmp_path / name / "part.py").write_text("class A:\n    pass\n")
    probe = (
        "import json, sys; from imgpipe_core import reexports; "
        "print(json.dumps([reexports.defer(name) for name in ('busy', 'thin', 'thin', 'json')]));"
        "import busy, thin; print(busy.SETTING, thin.A.__module__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "layers" / "core")]),
        },
        capture_output=True,
        text=True,
        check=True,
    )

    # THEN only the thin one is deferred (once), a module already imported neither, and both work
    assert done.stdout.splitlines() == ["[false, true, false, false]", "1 thin.part"]

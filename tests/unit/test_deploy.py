"""The deploy client's packaging: what `sam build`/`sam package` would produce."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from imgpipe.local.deploy import Deployer, DeployError, parse_overrides, zip_directory

ROOT = Path(__file__).resolve().parents[2]


def test_code_zips_are_reproducible_and_skip_caches(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    first = zip_directory(tmp_path)
    (tmp_path / "app.py").touch()  # a newer mtime must not change the artifact
    assert zip_directory(tmp_path) == first
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["app.py"]


def test_parameter_overrides_need_key_value() -> None:
    assert parse_overrides(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(DeployError, match="Key=Value"):
        parse_overrides(["oops"])


def test_layer_for_lambda_holds_python312_linux_wheels() -> None:
    # GIVEN a non-engine target (LocalStack, AWS): dependencies must be built for Lambda
    deployer = Deployer(region="us-east-1", build_dependencies=True, log=lambda _: None)
    # WHEN the core layer is packaged (pip downloads manylinux wheels from the registry)
    data = deployer._layer_zip(ROOT / "layers" / "core", {"BuildMethod": "python3.12"})
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    # THEN the domain package and compiled cp312 extensions sit under python/
    assert "python/imgpipe_core/__init__.py" in names
    assert "python/PIL/_imaging.cpython-312-x86_64-linux-gnu.so" in names
    assert any(n.startswith("python/pydantic_core/_pydantic_core.cpython-312") for n in names)

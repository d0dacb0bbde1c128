"""The deploy client's packaging: what `sam build`/`sam package` would produce."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from imgpipe.local import build
from imgpipe.local.build import zip_directory
from imgpipe.local.deploy import DeployError, parse_overrides

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
    # GIVEN the core layer WHEN built as sam build does (pip downloads manylinux wheels; cached)
    data = build.build_layer(ROOT / "layers" / "core", "python3.12").zip_bytes()
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    # THEN the domain package and compiled cp312 extensions sit under python/
    assert "python/imgpipe_core/__init__.py" in names
    assert "python/PIL/_imaging.cpython-312-x86_64-linux-gnu.so" in names
    assert any(n.startswith("python/pydantic_core/_pydantic_core.cpython-312") for n in names)
    assert "python/aws_lambda_powertools/__init__.py" in names


def test_builds_are_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGPIPE_BUILD_CACHE", str(tmp_path / "cache"))
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text("x = 1\n")
    first = build.build_function(code, "python3.12")
    # GIVEN the same content THEN the same artifact, without rebuilding
    assert build.build_function(code, "python3.12") == first
    assert zipfile.ZipFile(first.zip_path).namelist() == ["app.py"]
    # GIVEN changed code THEN a new artifact; the old one stays for whoever still uses it
    (code / "app.py").write_text("x = 2\n")
    second = build.build_function(code, "python3.12")
    assert second.digest != first.digest and first.zip_path.is_file()
    assert (second.tree / "app.py").read_text() == "x = 2\n"


def test_a_requirement_that_has_no_lambda_wheel_fails_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMGPIPE_BUILD_CACHE", str(tmp_path / "cache"))
    (tmp_path / "app.py").write_text("")
    (tmp_path / "requirements.txt").write_text("imgpipe-no-such-package==0.0.1\n")

    with pytest.raises(build.BuildError, match=r"python3\.12"):
        build.build_function(tmp_path, "python3.12")
    assert not list((tmp_path / "cache").glob("*/artifact.zip"))

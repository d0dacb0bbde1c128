"""The deploy client's packaging: what `sam build`/`sam package` would produce."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from imgpipe.local import build
from imgpipe.local.build import zip_directory
from imgpipe.local.deploy import DeployError, load_template, parse_overrides
from imgpipe.local.runtime.interpreter import find_interpreter

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


def _runtime_python(code: str) -> str:
    python = find_interpreter("python3.12").path
    done = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_core_layer_ships_unchecked_hash_bytecode_of_python312() -> None:
    # GIVEN the core layer as the engine builds it (the recipe of layers/core/Makefile)
    archive = zipfile.ZipFile(build.build_layer(ROOT / "layers" / "core", "python3.12").zip_path)
    names = set(archive.namelist())
    sources = sorted(n for n in names if n.startswith("python/imgpipe_core/") and n.endswith(".py"))
    assert len(sources) > 5
    magic = bytes.fromhex(
        _runtime_python("import importlib.util as u; print(u.MAGIC_NUMBER.hex())")
    )
    for source in sources:
        folder, _, module = source.rpartition("/")
        pyc = archive.read(f"{folder}/__pycache__/{module[:-3]}.cpython-312.pyc")
        # THEN each module has Python 3.12's bytecode, hash-based (bit 0) and never checked
        # against its source (bit 1 clear): Lambda neither recompiles it nor writes another
        assert pyc[:4] == magic, source
        assert int.from_bytes(pyc[4:8], "little") == 0b01, source
    # ... whose hash is the source's (it is that source's bytecode, not a stale one)
    source = "python/imgpipe_core/__init__.py"
    expected = _runtime_python(
        f"import importlib.util as u; print(u.source_hash({archive.read(source)!r}).hex())"
    )
    pyc = archive.read("python/imgpipe_core/__pycache__/__init__.cpython-312.pyc")
    assert pyc[8:16].hex() == expected
    # AND the dependencies are compiled too (pydantic is most of a cold start's imports)
    assert "python/pydantic/__pycache__/main.cpython-312.pyc" in names


def test_function_code_ships_without_bytecode_as_sam_build_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMGPIPE_BUILD_CACHE", str(tmp_path / "cache"))
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("x = 1\n")
    # GIVEN a layer built as BuildMethod: python3.12 (sam build's python builder)
    (tmp_path / "layer").mkdir()
    (tmp_path / "layer" / "shared.py").write_text("y = 2\n")
    plain = build.build_layer(tmp_path / "layer", "python3.12", compiled=False)
    # THEN neither it nor a function carries bytecode (the core layer's Makefile adds it)
    assert zipfile.ZipFile(plain.zip_path).namelist() == ["python/shared.py"]
    assert zipfile.ZipFile(
        build.build_function(tmp_path / "fn", "python3.12").zip_path
    ).namelist() == ["app.py"]


def test_unpack_leaves_a_zip_without_bytecode_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployed zip that holds sources only
    monkeypatch.setenv("IMGPIPE_BUILD_CACHE", str(tmp_path / "cache" / "build"))
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("x = 1\n")
    (tmp_path / "src" / "app.py").write_text("import pkg\n")
    # WHEN the engine unpacks it
    target = build.unpack(zip_directory(tmp_path / "src"))
    # THEN it is unpacked as it is: what Lambda would compile on each cold start, so does the engine
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "app.py",
        "pkg",
        "pkg/__init__.py",
    ]


def test_core_layer_makefile_builds_what_the_engine_builds() -> None:
    # sam build runs layers/core/Makefile; the engine runs build.build_layer: one recipe twice.
    template = load_template(ROOT / "template.yaml")
    assert template["Resources"]["CoreLayer"]["Metadata"]["BuildMethod"] == "makefile"
    recipe = " ".join(
        (ROOT / "layers" / "core" / "Makefile").read_text().replace("\\\n", " ").split()
    )
    for platform in build.LAMBDA_PLATFORMS:
        assert f"--platform {platform}" in recipe
    assert "--implementation cp --python-version 3.12 --only-binary=:all: --no-compile" in recipe
    assert f"-m compileall {' '.join(build.COMPILE_FLAGS)} -s $(ARTIFACTS_DIR)" in recipe
    assert "PYTHONHASHSEED=0" in recipe
    # ... and both trim botocore's data with the same script, on the layer's own botocore
    assert f"$(PYTHON) -S $(HERE){build.TRIM_STEP} $(ARTIFACTS_DIR)/python" in recipe
    assert (ROOT / "layers" / "core" / build.TRIM_STEP).is_file()

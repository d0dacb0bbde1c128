"""Lambda artifacts built the way ``sam build`` builds them, cached on disk by content hash.

A function is its ``CodeUri`` directory with its ``requirements.txt`` pip-installed beside the
code; a layer with ``BuildMethod: pythonX.Y`` is its directory under ``python/`` with its
requirements installed there (Lambda unpacks a layer into /opt and puts /opt/python on
sys.path). Requirements are installed for Lambda's platform (manylinux x86_64, CPython of the
runtime's version, wheels only), never for the machine that builds.

Artifacts ship bytecode, as the CoreLayer's ``build-CoreLayer`` Makefile target does for AWS:
compiled by the runtime's own Python with ``--invalidation-mode unchecked-hash``. Lambda's /opt
and /var/task are read-only, so bytecode that is not in the zip is compiled again on every cold
start; the engine unpacks zips as they are and its workers never write bytecode either.

The same artifact is what the engine runs and what a deploy uploads to the engine, LocalStack
or AWS. Builds land in ``~/.cache/imgpipe/build/<hash>`` (``IMGPIPE_BUILD_CACHE`` overrides):
built in a temporary directory, then renamed into place, under a per-hash file lock so
concurrent pytest-xdist workers build once and never see half a build.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Bump when the recipe below changes: old cache entries are then simply never looked up.
RECIPE = "3"  # 2: bytecode in the artifact; 3: a layer's trimmed botocore data
# A layer's script that layers/core/Makefile runs after pip (the botocore data its code calls).
TRIM_STEP = "trim_botocore.py"
# Lambda's python3.12+ runs on Amazon Linux 2023 (glibc 2.34): wheels of both tags work there
# (Pillow publishes manylinux_2_28, pydantic-core manylinux2014).
LAMBDA_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
ZIP_EXCLUDE = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", "tests", ".aws-sam"})
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # reproducible archives → stable code hashes
# Hash-based and never checked against the source: zip and deploy mtimes do not matter, and
# nothing on Lambda can change a file under the pyc. Same flags as layers/core/Makefile.
COMPILE_FLAGS = ("-q", "-j", "0", "--invalidation-mode", "unchecked-hash")
ARTIFACT_ZIP = "artifact.zip"
TREE = "tree"


class BuildError(Exception):
    """A code directory or its requirements could not be built for Lambda."""


@dataclass(frozen=True)
class Artifact:
    """A built function or layer: ``tree`` as Lambda unpacks it, ``zip_path`` as it is shipped."""

    digest: str
    root: Path

    @property
    def tree(self) -> Path:
        return self.root / TREE

    @property
    def zip_path(self) -> Path:
        return self.root / ARTIFACT_ZIP

    def zip_bytes(self) -> bytes:
        return self.zip_path.read_bytes()


def cache_root() -> Path:
    configured = os.environ.get("IMGPIPE_BUILD_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "imgpipe" / "build"


def python_version(runtime_or_method: str) -> str:
    """``python3.12`` → ``3.12``; anything else is not a Python runtime we can build for."""
    version = runtime_or_method.removeprefix("python")
    major, _, minor = version.partition(".")
    if not (runtime_or_method.startswith("python") and major.isdigit() and minor.isdigit()):
        raise BuildError(f"not a Python runtime: {runtime_or_method!r}")
    return version


def build_function(source: Path, runtime: str) -> Artifact:
    """A function's ``CodeUri``: code at the root, requirements installed next to it.

    No bytecode: ``sam build``'s python builder ships none for a function either.
    """
    return _build(source, python_version(runtime), prefix="", compiled=False)


def build_layer(source: Path, runtime: str, *, compiled: bool = True) -> Artifact:
    """A Python layer: everything under ``python/``, with bytecode when ``compiled``.

    Compiled is layers/core/Makefile's recipe (``BuildMethod: makefile``: the same pip flags,
    then compileall); ``BuildMethod: pythonX.Y`` is sam build's python builder, without bytecode.
    """
    return _build(source, python_version(runtime), prefix="python", compiled=compiled)


def build_requirements(requirements: Path, runtime: str) -> Artifact:
    """Only the packages a requirements file names (e.g. what a managed runtime provides)."""
    version = python_version(runtime)
    text = requirements.read_text()
    digest = _digest({"kind": "packages", "python": version, "requirements": text})

    def make(tree: Path) -> None:
        _pip_install(text, tree, version, label=str(requirements))
        _compile(tree, [tree], version)

    return _cached(digest, make)


def zip_directory(
    directory: Path, *, prefix: str = "", exclude: frozenset[str] = ZIP_EXCLUDE
) -> bytes:
    """Zip a code directory deterministically (sorted entries, fixed timestamps)."""
    if not directory.is_dir():
        raise BuildError(f"code directory not found: {directory}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(_walk(directory, exclude)):
            info = zipfile.ZipInfo(prefix + file.relative_to(directory).as_posix(), _FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    return buffer.getvalue()


def unpack(data: bytes, *, sha256: str = "") -> Path:
    """A deployed zip unpacked once per content on this machine, exactly as it is.

    Nothing is compiled here: what the zip lacks in bytecode, Lambda compiles on every cold
    start (its /opt and /var/task are read-only), and so do the engine's workers (``-B``).
    """
    # The caller's digest when it has one (moto keeps each zip's): Invoke calls this every time,
    # and hashing a 30 MB layer costs more CPU than the rest of the call.
    digest = (_hex_digest(sha256) if sha256 else hashlib.sha256(data).hexdigest())[:32]
    root = cache_root().parent / "unpacked"
    target = root / f"{digest}-zip"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{digest}-zip.lock"):
        if target.is_dir():
            return target
        staging = Path(tempfile.mkdtemp(prefix=f"{digest}.", dir=root))
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                archive.extractall(staging)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


# -- internals ----------------------------------------------------------------------------------


def _hex_digest(sha256: str) -> str:
    if len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256):
        return sha256
    return base64.b64decode(sha256).hex()


def _build(source: Path, version: str, *, prefix: str, compiled: bool) -> Artifact:
    source = source.resolve()
    if not source.is_dir():
        raise BuildError(f"code directory not found: {source}")
    files = sorted(_walk(source, ZIP_EXCLUDE))
    listing = [
        (f.relative_to(source).as_posix(), hashlib.sha256(f.read_bytes()).hexdigest())
        for f in files
    ]
    shape = {"kind": "code", "python": version, "prefix": prefix, "files": listing}
    digest = _digest({**shape, "compiled": compiled})
    requirements = source / "requirements.txt"
    wanted = requirements.read_text() if requirements.is_file() else ""

    def make(tree: Path) -> None:
        target = tree / prefix if prefix else tree
        if _requirement_lines(wanted):
            # Dependencies are cached apart from the code: editing a module re-links them.
            deps = build_requirements(requirements, f"python{version}")
            shutil.copytree(
                deps.tree, target, copy_function=_link_or_copy, dirs_exist_ok=True,
                ignore=None if compiled else shutil.ignore_patterns("__pycache__"),
            )  # fmt: skip
        copied = []
        for file in files:
            dest = target / file.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, dest)
            copied.append(dest)
        if compiled and (source / TRIM_STEP).is_file():
            _trim_botocore(target / TRIM_STEP, target, version)
        if compiled:
            # The dependencies came compiled (their pyc hard-linked along): only the code is left.
            _compile(tree, [f for f in copied if f.suffix == ".py"], version)

    return _cached(digest, make)


def _requirement_lines(text: str) -> list[str]:
    return [line for line in (raw.split("#", 1)[0].strip() for raw in text.splitlines()) if line]


def _pip_install(text: str, target: Path, version: str, *, label: str) -> None:
    if not _requirement_lines(text):
        return
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(text)
    platforms = [arg for p in LAMBDA_PLATFORMS for arg in ("--platform", p)]
    # pip's own download cache (~/.cache/pip) stays on: a rebuild after a pin change only
    # fetches what changed.
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-input", "--requirement", handle.name, "--target", str(target), *platforms,
        "--implementation", "cp", "--python-version", version, "--only-binary=:all:",
        "--no-compile",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise BuildError(f"pip could not install {label} for python{version}:\n{done.stderr}")
    # Like `sam build`: no console scripts in an artifact (their shebangs name this machine).
    shutil.rmtree(target / "bin", ignore_errors=True)


def _compile(tree: Path, paths: list[Path], version: str) -> None:
    """Byte-compile ``paths`` (files or directories) with the runtime's Python, as AWS builds do."""
    if not paths:
        return
    # Here, not at the top: the interpreter module builds the managed runtime with this one.
    from imgpipe.local.runtime.interpreter import find_interpreter

    python = find_interpreter(f"python{version}").path
    # -P -s -S: only the stdlib on sys.path. -s <tree>: pyc record paths relative to the artifact,
    # not this machine's (importlib puts the real path back at import). A fixed hash seed keeps
    # marshalled frozensets in one order: same code, same zip, same CodeSha256.
    # A file that does not compile (a py2 module in a package's tests) is left to compile at
    # import, as Lambda would: hence no check.
    subprocess.run(
        [str(python), "-P", "-s", "-S", "-m", "compileall", *COMPILE_FLAGS, "-s", str(tree),
         *(str(p) for p in paths)],
        capture_output=True, check=False, cwd=tree, env={"PYTHONHASHSEED": "0"},
    )  # fmt: skip


def _trim_botocore(script: Path, target: Path, version: str) -> None:
    """The Makefile's trim step, with the runtime's Python, on the layer's own botocore."""
    from imgpipe.local.runtime.interpreter import find_interpreter

    python = find_interpreter(f"python{version}").path
    command = [str(python), "-S", str(script), str(target)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=target)
    if done.returncode != 0:
        raise BuildError(f"{script.name} failed:\n{done.stderr}")


def _digest(shape: object) -> str:
    payload = json.dumps({"recipe": RECIPE, "platforms": LAMBDA_PLATFORMS, "shape": shape})
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _cached(digest: str, make: object) -> Artifact:
    root = cache_root()
    artifact = Artifact(digest, root / digest)
    if artifact.zip_path.is_file():
        return artifact
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{digest}.lock"):
        if artifact.zip_path.is_file():  # another process built it while we waited
            return artifact
        staging = Path(tempfile.mkdtemp(prefix=f"{digest}.", dir=root))
        try:
            tree = staging / TREE
            tree.mkdir()
            make(tree)  # type: ignore[operator]
            # What pip installed ships whole (a package's own tests/ included, as with sam build).
            # ... and its bytecode with it.
            (staging / ARTIFACT_ZIP).write_bytes(zip_directory(tree, exclude=frozenset()))
            shutil.rmtree(artifact.root, ignore_errors=True)  # a leftover without its zip
            os.rename(staging, artifact.root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return artifact


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _link_or_copy(src: str, dst: str) -> str:
    # Hard links: the cached dependency tree is never modified, and a 60 MB copy per code
    # change would dominate a rebuild.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _walk(directory: Path, exclude: frozenset[str]) -> Iterator[Path]:
    # Stray bytecode in a source directory is this machine's (its Python, its mtimes); an
    # artifact's own (nothing excluded) is what ships.
    skip_pyc = bool(exclude)
    for entry in directory.iterdir():
        if entry.name in exclude or (skip_pyc and entry.name.endswith(".pyc")):
            continue
        if entry.is_dir():
            yield from _walk(entry, exclude)
        elif entry.is_file():
            yield entry

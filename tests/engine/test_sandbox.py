"""The Lambda sandbox is the Lambda runtime: the function's Python, and only its code, its
layers and what the managed runtime provides (never the engine's virtualenv)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imgpipe.local import build
from imgpipe.local.deploy import load_template
from imgpipe.local.runtime import FunctionSpec, InterpreterNotFoundError, LambdaRuntime
from imgpipe.local.runtime.interpreter import ENV_VAR

pytestmark = pytest.mark.engine

HERE = Path(__file__).parent / "sandbox"
ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PINS = ROOT / "src" / "imgpipe" / "local" / "runtime" / "python3.12.txt"
_EXTENSION = re.compile(r"\.cpython-(\d+)-(\w+?)-linux-gnu\.so$")
PROBE_MODULES = ["moto", "pytest", "PIL", "imgpipe", "idna", "boto3", "aws_lambda_powertools"]


@pytest.fixture(scope="module")
def probes(engine: Any) -> dict[str, str]:
    return dict(engine.deploy(HERE / "template.yaml", "sandboxprobe").outputs)


def probe(engine: Any, function: str, **event: Any) -> dict[str, Any]:
    response = engine.client("lambda").invoke(
        FunctionName=function, Payload=json.dumps(event).encode()
    )
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def pins(path: Path) -> dict[str, str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return dict(line.split("==", 1) for line in lines if line)


def test_a_python312_function_runs_on_python_312_without_the_dev_venv(
    engine: Any, probes: dict[str, str]
) -> None:
    # GIVEN a function with Runtime python3.12, no layers and no requirements
    # WHEN it reports its interpreter and tries the engine's and the tests' packages
    seen = probe(engine, probes["BareProbe"], modules=PROBE_MODULES, distributions=["boto3"])

    # THEN it runs on 3.12 (the tests run on another version) and imports none of them
    assert seen["version"].startswith("3.12.")
    assert not any(".venv" in p or "site-packages" in p for p in seen["path"])
    modules = seen["modules"]
    assert {m for m in modules if modules[m] is not None} == {"boto3"}
    # boto3 is the managed runtime's, at its release, not the test virtualenv's
    assert seen["versions"]["boto3"] == pins(RUNTIME_PINS)["boto3"]
    assert seen["versions"]["boto3"] != importlib.metadata.version("boto3")


def test_a_layer_with_a_requirement_provides_it(engine: Any, probes: dict[str, str]) -> None:
    # GIVEN a layer whose requirements.txt names idna, built for Lambda
    seen = probe(engine, probes["LayerProbe"], modules=PROBE_MODULES)

    # THEN the function imports idna from the layer's python/ dir, and still nothing else
    modules = seen["modules"]
    assert modules["idna"] is not None and "/python/idna/" in modules["idna"]
    assert {m for m in modules if modules[m] is not None} == {"idna", "boto3"}


def test_the_engine_writes_no_bytecode_next_to_deployed_code(
    engine: Any, probes: dict[str, str]
) -> None:
    # GIVEN a function and a BuildMethod python3.12 layer (idna): zips without bytecode
    # WHEN the function imports its handler module and idna
    modules = probe(engine, probes["LayerProbe"], modules=["app", "idna"])["modules"]

    # THEN neither unpacked directory gained bytecode: Lambda's /var/task and /opt are
    # read-only, so a zip without it is compiled on every cold start, here too
    code, layer = Path(modules["app"]).parent, Path(modules["idna"]).parent
    assert (code / "app.py").is_file() and (layer / "core.py").is_file()
    assert not list(code.rglob("*.pyc")) and not list(layer.rglob("*.pyc"))


def test_the_core_layer_runs_the_tests_powertools_and_pydantic(
    engine: Any, probes: dict[str, str]
) -> None:
    # GIVEN the project's core layer WHEN a function asks for the versions it got
    dists = ["aws-lambda-powertools", "pydantic", "pydantic-core", "aws-xray-sdk", "pillow", "isal"]
    seen = probe(
        engine,
        probes["CoreProbe"],
        # isal_zlib: imaging/_png.py falls back to zlib without it, so only this shows it missing
        modules=[
            "aws_lambda_powertools.tracing",
            "aws_xray_sdk.core",
            "pydantic",
            "PIL.Image",
            "isal.isal_zlib",
        ],
        distributions=dists,
    )

    # THEN Tracer's dependencies import and every version equals the test virtualenv's
    assert all(seen["modules"].values()), seen["modules"]
    assert seen["versions"] == {d: importlib.metadata.version(d) for d in dists}
    assert seen["versions"]["aws-lambda-powertools"] == "3.37.0"
    # AND it runs on the bytecode shipped in the layer (layers/core/Makefile's recipe)
    pydantic = Path(seen["modules"]["pydantic"]).parent
    assert (pydantic / "__pycache__" / "main.cpython-312.pyc").is_file()


def test_the_core_layer_holds_one_pydantic_and_one_powertools() -> None:
    # A second copy (another layer merged over this one) is how AWS came to import the wrong one.
    tree = build.build_layer(ROOT / "layers" / "core", "python3.12").tree / "python"
    for name in ("pydantic", "pydantic_core", "aws_lambda_powertools"):
        (info,) = tree.glob(f"{name}-*.dist-info")
        assert info.name.removesuffix(".dist-info").split("-")[1] == importlib.metadata.version(
            name
        )


def test_deploy_uploads_the_built_artifacts(engine: Any, probes: dict[str, str]) -> None:
    # GIVEN the builds of the probe's code and layer (cached on disk by content)
    code = build.build_function(HERE / "probe", "python3.12").zip_bytes()
    # BuildMethod: python3.12, built as sam build's python builder does: no bytecode
    layer = build.build_layer(HERE / "layer", "python3.12", compiled=False).zip_bytes()
    lam = engine.client("lambda")

    # THEN what Lambda holds (its CodeSha256 is the hash of the uploaded zip) is those bytes
    function = lam.get_function(FunctionName=probes["LayerProbe"])["Configuration"]
    name, version = probes["RequirementLayer"].rsplit(":", 1)
    content = lam.get_layer_version(LayerName=name, VersionNumber=int(version))["Content"]
    assert function["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert content["CodeSha256"] == base64.b64encode(hashlib.sha256(layer).digest()).decode()


def test_a_runtime_without_an_interpreter_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a machine with no python3.12 anywhere (empty PATH, an empty pyenv root)
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    spec = FunctionSpec("fn-nopython", "arn", "app.handler", (HERE / "probe",), {}, 5, 128)

    # WHEN a python3.12 function is invoked THEN it is refused, naming what was tried
    with LambdaRuntime(tmp_path / "logs") as runtime:
        with pytest.raises(InterpreterNotFoundError) as refused:
            runtime.invoke(spec, b"{}")
        assert runtime.worker_pids() == []
    message = str(refused.value)
    assert "no Python 3.12 interpreter for Runtime python3.12" in message
    assert f"{ENV_VAR} is not set" in message and "no python3.12 on PATH" in message


def test_a_configured_interpreter_of_another_version_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN IMGPIPE_LAMBDA_PYTHON naming the tests' own interpreter (not 3.12)
    if sys.version_info[:2] == (3, 12):
        pytest.skip("the test interpreter is 3.12 itself")
    monkeypatch.setenv(ENV_VAR, sys.executable)
    spec = FunctionSpec("fn-wrongpython", "arn", "app.handler", (HERE / "probe",), {}, 5, 128)

    # THEN the engine does not look elsewhere: it refuses, naming the variable
    with LambdaRuntime(tmp_path) as runtime, pytest.raises(InterpreterNotFoundError) as refused:
        runtime.invoke(spec, b"{}")
    assert f"{ENV_VAR}={sys.executable} is not a Python 3.12 interpreter" in str(refused.value)


def test_the_template_ships_no_foreign_layer_and_declares_what_the_layer_supports() -> None:
    # Findings b and f: a cross-account layer shadowed the core layer's pins; the core layer
    # claimed python3.13 although its compiled extensions are cp312 (and named no architecture).
    template = load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    layer_lists = [template["Globals"]["Function"].get("Layers", [])]
    layer_lists += [f.get("Properties", {}).get("Layers", []) for f in functions]
    for layers in layer_lists:
        assert all(isinstance(x, dict) and x.get("Ref") in resources for x in layers), layers
    core = resources["CoreLayer"]["Properties"]
    tree = build.build_layer(ROOT / "layers" / "core", "python3.12").tree
    tags = {m.groups() for so in tree.rglob("*.so") if (m := _EXTENSION.search(so.name))}
    assert tags == {("312", "x86_64")}
    assert core["CompatibleRuntimes"] == ["python3.12"]
    assert core["CompatibleArchitectures"] == ["x86_64"]


def test_the_runtime_imports_no_emulator_and_the_adapter_not_the_engine() -> None:
    # The LocalStack executor reuses imgpipe.local.runtime; the adapter is handed its engine.
    probe_imports = (
        "import sys, imgpipe.local.runtime, imgpipe.local.build;"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('moto', 'localstack')];"
        "import imgpipe.local.adapters.lambda_runtime;"
        "assert 'imgpipe.local.engine' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", probe_imports], check=True, timeout=60)

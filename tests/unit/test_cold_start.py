"""What a handler's cold start does: fail on bad config, and load only what that handler needs."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from imgpipe_core.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
# Imports a handler module in a fresh interpreter, as Lambda's init does, and says whether that
# loaded Pillow (~40 ms of a cold start), how it left the garbage collector, what X-Ray
# instruments and whether Powertools' re-exporting packages loaded what the handler never uses.
_PROBE = """
import gc, importlib.util, json, sys
RESOLVERS = "aws_lambda_powertools.event_handler."
EVENTS = "aws_lambda_powertools.utilities.data_classes."
UNUSED = (RESOLVERS + "appsync", RESOLVERS + "bedrock", EVENTS + "kinesis", EVENTS + "s3")
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from botocore.client import BaseClient
print(json.dumps({"pillow": "PIL" in sys.modules, "gc_enabled": gc.isenabled(),
                  "sqlite3": "sqlite3" in sys.modules,
                  "powertools": sorted(m for m in sys.modules if m.startswith(UNUSED)),
                  "traced_sdk": type(vars(BaseClient)["_make_api_call"]).__name__}))
"""


def _cold_import(handler: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = ROOT / "functions" / handler
    path = os.pathsep.join([str(code), str(ROOT / "layers" / "core")])
    return subprocess.run(
        [sys.executable, "-c", _PROBE, str(code / "app.py")],
        env={
            **os.environ,
            "PYTHONPATH": path,
            "TABLE_NAME": "status",
            "API_KEY_TABLE": "keys",
            # In a Lambda function: Powertools' Tracer is on only there.
            "LAMBDA_TASK_ROOT": str(code),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("handler", HANDLERS)
def test_only_the_image_handlers_load_pillow_at_cold_start(handler: str) -> None:
    loads_pillow = handler in {"validate", "resize"}

    # WHEN the handler module is imported in a fresh interpreter
    done = _cold_import(handler)

    # THEN it started, with Pillow only where images are read
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.splitlines()[-1])
    assert state["pillow"] is loads_pillow
    # AND X-Ray traces its AWS SDK calls without loading other libraries to instrument
    assert state["traced_sdk"] == "FunctionWrapper"  # wrapt's, as aws_xray_sdk patches
    assert state["sqlite3"] is False
    # AND of Powertools' resolvers and event classes, only those it uses (imgpipe_core.reexports)
    assert state["powertools"] == []


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_keeps_the_collector_paused_until_its_first_invocation(handler: str) -> None:
    # GIVEN the handler module's statements
    body = ast.parse((ROOT / "functions" / handler / "app.py").read_text()).body
    first = body[1]  # body[0] is the docstring
    entry = next(s for s in body if isinstance(s, ast.FunctionDef) and s.name == "lambda_handler")

    # THEN its first import pauses the collector (imgpipe_core.coldstart) before anything else
    # loads, and the outermost decorator of its entry point resumes it
    assert isinstance(first, ast.ImportFrom) and first.module == "imgpipe_core"
    assert [alias.name for alias in first.names] == ["coldstart"]
    assert ast.unparse(entry.decorator_list[0]) == "coldstart.resume_after_first_invocation"

    # WHEN it is imported in a fresh interpreter
    done = _cold_import(handler)

    # THEN the collector is still paused: the first invocation builds the clients
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["gc_enabled"] is False


_FIRST_INVOCATIONS = """
import gc, json
from imgpipe_core import coldstart

@coldstart.resume_after_first_invocation
def handler(fail):
    if fail:
        raise ValueError("failed")
    return gc.isenabled()

states = []
for fail in (FAIL, False):
    try:
        states.append(handler(fail))
    except ValueError:
        states.append("raised")
    states.append(gc.isenabled())
print(json.dumps({"states": states, "frozen": gc.get_freeze_count()}))
"""


@pytest.mark.parametrize("fails", [False, True])
def test_the_first_invocation_resumes_the_collector_even_when_it_fails(fails: bool) -> None:
    # WHEN a handler is invoked twice, the first time failing or not
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_INVOCATIONS.replace("FAIL", str(fails))],
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "core")},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)

    # THEN the first ran with the collector paused and resumed it; the second with it on
    first = "raised" if fails else False
    assert result["states"] == [first, True, True, True]
    # AND what the cold start built is out of the collector's way
    assert result["frozen"] > 1_000


def test_a_bad_variant_catalogue_fails_the_cold_start_not_the_first_upload() -> None:
    # GIVEN a VariantCatalogue with two variants of the same name
    twice = {"variants": [{"name": "a", "width": 10}, {"name": "a", "width": 20}]}

    # WHEN the Resize handler starts with it
    done = _cold_import("resize", VARIANTS_JSON=json.dumps(twice))

    # THEN its init fails, naming the setting
    assert done.returncode != 0
    assert "VARIANTS_JSON" in done.stderr


@pytest.mark.parametrize("variants_json", ["{not json", '{"variants": [{"name": "A"}]}'])
def test_load_settings_refuses_an_invalid_catalogue(
    monkeypatch: pytest.MonkeyPatch, variants_json: str
) -> None:
    monkeypatch.setenv("VARIANTS_JSON", variants_json)

    with pytest.raises(ValidationError, match="VARIANTS_JSON"):
        load_settings()


def test_load_settings_takes_a_valid_custom_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARIANTS_JSON", json.dumps({"variants": [{"name": "tiny", "width": 32}]}))

    assert load_settings().catalogue.names == ["tiny"]

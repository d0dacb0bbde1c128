"""The local Lambda runtime behaves like Lambda's Python runtime, on real worker processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from imgpipe.local import build
from imgpipe.local.runtime import FunctionSpec, InvokeResult, LambdaRuntime

pytestmark = pytest.mark.engine

HANDLERS = Path(__file__).parent / "handlers"
BASIC = HANDLERS / "basic"
REPO_ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"
# The handlers import Powertools and Pillow: they get them as deployed functions do, from the
# built core layer's /opt/python (cached across tests and runs).
CORE_LAYER = build.build_layer(REPO_ROOT / "layers" / "core", "python3.12").tree / "python"


def make_spec(handler: str, **overrides: Any) -> FunctionSpec:
    name = overrides.pop("name", "fn-" + handler.rsplit(".", 1)[-1].replace("/", "-"))
    fields: dict[str, Any] = {
        "name": name,
        "arn": ARN.format(name),
        "handler": handler,
        "code_dirs": (BASIC, CORE_LAYER),
        "environment": {},
        "timeout_s": 5.0,
        "memory_mb": 256,
    }
    fields.update(overrides)
    return FunctionSpec(**fields)


def call(runtime: LambdaRuntime, spec: FunctionSpec, event: Any = None) -> InvokeResult:
    return runtime.invoke(spec, json.dumps(event if event is not None else {}).encode())


def body(result: InvokeResult) -> Any:
    return json.loads(result.payload)


def gone(pid: int) -> bool:
    """The process no longer runs (a zombie left to init counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_gone(pid: int, timeout_s: float = 3.0) -> bool:
    """For processes that are not our children: SIGKILL reaches them asynchronously."""
    deadline = time.monotonic() + timeout_s
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return gone(pid)


@pytest.fixture(scope="module")
def sink_calls() -> list[tuple[FunctionSpec, str, list[tuple[int, str]]]]:
    return []


@pytest.fixture(scope="module")
def runtime(
    tmp_path_factory: pytest.TempPathFactory,
    sink_calls: list[tuple[FunctionSpec, str, list[tuple[int, str]]]],
) -> Iterator[LambdaRuntime]:
    def sink(spec: FunctionSpec, request_id: str, lines: list[tuple[int, str]]) -> None:
        sink_calls.append((spec, request_id, lines))

    rt = LambdaRuntime(tmp_path_factory.mktemp("lambda-logs"), log_sink=sink)
    yield rt
    rt.shutdown()


def test_result_round_trips_as_json(runtime: LambdaRuntime) -> None:
    # GIVEN an echo handler WHEN invoked with an event
    result = call(runtime, make_spec("app.echo"), {"key": "uploads/a.jpg", "n": [1, 2]})

    # THEN the handler got the parsed event and its return value is the JSON payload
    assert result.function_error is None
    assert body(result)["event"] == {"key": "uploads/a.jpg", "n": [1, 2]}
    assert result.request_id and result.duration_ms >= 0 and result.max_memory_mb > 0


def test_empty_payload_is_an_empty_event(runtime: LambdaRuntime) -> None:
    result = runtime.invoke(make_spec("app.echo"), b"")

    assert body(result)["event"] == {}


def test_handler_sees_lambda_environment_and_context(runtime: LambdaRuntime) -> None:
    spec = make_spec(
        "app.inspect",
        environment={"STAGE": "test", "AWS_REGION": "eu-west-1"},
        memory_mb=512,
        timeout_s=3,
    )
    client_context = '{"custom": {"caller": "tests"}}'

    result = runtime.invoke(spec, b"{}", client_context=client_context)

    seen = body(result)
    env, ctx = seen["env"], seen["context"]
    assert env["STAGE"] == "test"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn-inspect"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/fn-inspect"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["LAMBDA_TASK_ROOT"] == str(BASIC)
    assert env["_HANDLER"] == "app.inspect"
    assert env["TZ"] == "UTC"
    assert "PYTHONPATH" not in env
    assert seen["cwd"] == str(BASIC)
    # Only deployed code, its layers and the managed runtime are importable, never the engine's
    # own package nor its virtualenv.
    assert seen["sys_path"][:2] == [str(BASIC), str(CORE_LAYER)]
    assert str(REPO_ROOT) not in seen["sys_path"]
    assert str(REPO_ROOT / "src") not in seen["sys_path"]
    assert seen["importable"] == {
        "imgpipe": False,
        "imgpipe_core": True,
        "PIL": True,
        "moto": False,
        "pytest": False,
    }
    assert ctx["aws_request_id"] == result.request_id
    assert ctx["function_name"] == "fn-inspect"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == ARN.format("fn-inspect")
    assert ctx["memory_limit_in_mb"] == "512"
    assert ctx["log_group_name"] == "/aws/lambda/fn-inspect"
    assert ctx["log_stream_name"] == env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert "[$LATEST]" in ctx["log_stream_name"]
    assert result.log_stream == ctx["log_stream_name"]
    assert 2000 < ctx["remaining_ms"] <= 3000
    assert ctx["client_context"] == {"caller": "tests"}


def test_region_defaults_to_us_east_1(runtime: LambdaRuntime) -> None:
    env = body(call(runtime, make_spec("app.inspect", name="fn-inspect-default")))["env"]

    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_warm_worker_keeps_module_state(runtime: LambdaRuntime) -> None:
    spec = make_spec("app.counter")

    first, second, third = (call(runtime, spec) for _ in range(3))

    assert [body(r)["count"] for r in (first, second, third)] == [1, 2, 3]
    assert len({body(r)["pid"] for r in (first, second, third)}) == 1
    # Init Duration only on the cold start
    assert first.init_duration_ms is not None
    assert second.init_duration_ms is None
    assert "Init Duration" in runtime.logs(spec.name, first.request_id)
    assert "Init Duration" not in runtime.logs(spec.name, second.request_id)


def test_redeploy_gets_a_fresh_worker(runtime: LambdaRuntime) -> None:
    v1 = make_spec("app.counter", name="fn-redeploy", code_sha="v1")
    v2 = make_spec("app.counter", name="fn-redeploy", code_sha="v2")

    before = [body(call(runtime, v1)) for _ in range(2)]
    after = body(call(runtime, v2))

    assert [b["count"] for b in before] == [1, 2]
    assert after["count"] == 1 and after["pid"] != before[0]["pid"]
    assert gone(before[0]["pid"])


def test_versions_have_their_own_workers(runtime: LambdaRuntime) -> None:
    latest = make_spec("app.counter", name="fn-versions")
    v1 = make_spec("app.counter", name="fn-versions", version="1", code_sha="v1")

    counts = [body(call(runtime, s))["count"] for s in (latest, v1, latest, v1)]

    assert counts == [1, 1, 2, 2]
    assert len(runtime.worker_pids("fn-versions")) == 2


def test_overlapping_invocations_get_their_own_workers(runtime: LambdaRuntime) -> None:
    spec = make_spec("app.sleep")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: call(runtime, spec, {"seconds": 0.5}), range(4)))

    assert all(r.function_error is None for r in results)
    assert len({body(r)["pid"] for r in results}) > 1


def test_workers_per_function_are_capped(tmp_path: Path) -> None:
    spec = make_spec("app.sleep", name="fn-capped")

    with LambdaRuntime(tmp_path, max_workers_per_function=2) as rt:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: call(rt, spec, {"seconds": 0.3}), range(4)))

        assert all(r.function_error is None for r in results)
        assert len({body(r)["pid"] for r in results}) == 2


def test_idle_workers_beyond_the_cap_are_reclaimed_least_recently_used_first(
    tmp_path: Path,
) -> None:
    # GIVEN a runtime that keeps at most one idle environment
    first, second = (make_spec("app.counter", name=f"fn-idle-{n}") for n in (1, 2))
    with LambdaRuntime(tmp_path, max_idle_workers=1) as rt:
        # WHEN two functions run one after the other
        old = body(call(rt, first))["pid"]
        kept = body(call(rt, second))["pid"]

        # THEN the older one's environment is gone and the next call to it is a cold start
        assert wait_gone(old)
        assert rt.worker_pids("fn-idle-2") == [kept]
        again = call(rt, first)
        assert body(again)["count"] == 1 and again.init_duration_ms is not None


def test_idle_workers_past_the_idle_timeout_are_reclaimed(tmp_path: Path) -> None:
    spec = make_spec("app.counter", name="fn-idle-timeout")
    other = make_spec("app.counter", name="fn-idle-other")
    with LambdaRuntime(tmp_path, idle_timeout_s=0.2) as rt:
        old = body(call(rt, spec))["pid"]
        time.sleep(0.3)
        # WHEN any later invocation ends after the first one's environment idled too long
        call(rt, other)

        # THEN that environment was reclaimed
        assert wait_gone(old)
        assert rt.worker_pids("fn-idle-timeout") == []


def test_exception_reports_class_name_and_worker_stays_warm(runtime: LambdaRuntime) -> None:
    spec = make_spec("app.fail")
    pid = body(call(runtime, spec))["pid"]

    result = call(runtime, spec, {"raise": True})

    error = body(result)
    assert result.function_error == "Unhandled"
    assert error["errorType"] == "PixelBombError"
    assert error["errorMessage"] == "image exceeds 40 megapixels"
    assert error["requestId"] == result.request_id
    assert "in fail" in error["stackTrace"][-1]
    assert not any("worker.py" in frame for frame in error["stackTrace"])
    assert "[ERROR] PixelBombError: image exceeds 40 megapixels" in result.log_tail
    assert body(call(runtime, spec))["pid"] == pid


def test_timeout_kills_the_worker(runtime: LambdaRuntime) -> None:
    spec = make_spec("app.sleep", name="fn-timeout", timeout_s=1)
    pid = body(call(runtime, spec, {"seconds": 0}))["pid"]

    started = time.monotonic()
    result = call(runtime, spec, {"seconds": 30})

    assert time.monotonic() - started < 3
    assert result.function_error == "Unhandled"
    assert body(result) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert "Status: timeout" in result.log_tail
    assert gone(pid)
    fresh = call(runtime, spec, {"seconds": 0})
    assert body(fresh)["pid"] != pid and fresh.init_duration_ms is not None


def test_timeout_also_kills_what_the_handler_started(runtime: LambdaRuntime) -> None:
    spec = make_spec("app.spawn_and_hang", timeout_s=1)

    result = call(runtime, spec)

    assert body(result)["errorType"] == "Sandbox.Timedout"
    (child,) = re.findall(r"child pid (\d+)", result.log_tail)
    assert wait_gone(int(child))


def test_memory_over_limit_is_out_of_memory(runtime: LambdaRuntime) -> None:
    spec = make_spec("app.allocate", memory_mb=128)

    result = call(runtime, spec, {"mb": 300})

    assert result.function_error == "Unhandled"
    assert body(result) == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: "
        "signal: killed",
    }
    assert "Error Type: Runtime.OutOfMemory" in result.log_tail
    # a fresh worker serves allocations within the limit
    ok = call(runtime, spec, {"mb": 20})
    assert ok.function_error is None
    assert ok.max_memory_mb < 128
    assert f"Max Memory Used: {ok.max_memory_mb} MB" in ok.log_tail


@pytest.mark.parametrize(
    ("crash", "reason"),
    [("exit", "exit status 3"), ("segfault", "signal: segmentation fault")],
)
def test_crash_is_exit_error_and_worker_replaced(
    runtime: LambdaRuntime, crash: str, reason: str
) -> None:
    spec = make_spec("app.crash", name=f"fn-crash-{crash}")
    pid = body(call(runtime, spec))["pid"]

    result = call(runtime, spec, {"crash": crash})

    assert result.function_error == "Unhandled"
    assert body(result) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {result.request_id} Error: "
        f"Runtime exited with error: {reason}",
    }
    assert body(call(runtime, spec))["pid"] != pid


def test_worker_killed_while_idle_is_replaced(runtime: LambdaRuntime) -> None:
    spec = make_spec("app.crash", name="fn-killed-idle")
    pid = body(call(runtime, spec))["pid"]

    os.kill(pid, 9)
    time.sleep(0.1)

    result = call(runtime, spec)
    assert result.function_error is None and body(result)["pid"] != pid


def test_import_error_is_import_module_error(runtime: LambdaRuntime) -> None:
    spec = make_spec("app.handler", name="fn-broken", code_dirs=(HANDLERS / "broken",))

    result = call(runtime, spec)

    assert result.function_error == "Unhandled"
    assert body(result) == {
        "errorMessage": "Unable to import module 'app': "
        "No module named 'imgpipe_missing_dependency'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    assert "INIT_REPORT" in result.log_tail
    assert runtime.worker_pids("fn-broken") == []


def test_missing_handler_is_handler_not_found(runtime: LambdaRuntime) -> None:
    result = call(runtime, make_spec("app.nope"))

    assert body(result)["errorType"] == "Runtime.HandlerNotFound"
    assert body(result)["errorMessage"] == "Handler 'nope' missing on module 'app'"


def test_unserialisable_return_is_marshal_error(runtime: LambdaRuntime) -> None:
    result = call(runtime, make_spec("app.unserialisable"))

    assert result.function_error == "Unhandled"
    assert body(result)["errorType"] == "Runtime.MarshalError"


def test_response_over_6_mb_is_rejected(runtime: LambdaRuntime) -> None:
    result = call(runtime, make_spec("app.too_large"))

    assert body(result)["errorType"] == "Function.ResponseSizeTooLarge"


def test_module_path_with_slashes(runtime: LambdaRuntime) -> None:
    spec = make_spec("pkg/sub/mod.handler", code_dirs=(HANDLERS / "nested", BASIC, CORE_LAYER))

    result = call(runtime, spec)

    assert body(result) == {"module": "pkg.sub.mod"}


def test_output_is_kept_with_lambda_framing(
    runtime: LambdaRuntime,
    sink_calls: list[tuple[FunctionSpec, str, list[tuple[int, str]]]],
) -> None:
    spec = make_spec("app.chatty")

    result = call(runtime, spec)

    log = runtime.logs(spec.name, result.request_id)
    lines = log.splitlines()
    assert lines[0] == "INIT_START Runtime Version: python3.12"
    assert lines[1] == f"START RequestId: {result.request_id} Version: $LATEST"
    assert lines[2:5] == ["hello from print", "to stderr", "raw fd write"]
    # Lambda's root logger handler: level, UTC timestamp, request id, message
    assert re.fullmatch(
        rf"\[WARNING\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{result.request_id}"
        r"\tvia the root handler",
        lines[5],
    )
    assert lines[6] == f"END RequestId: {result.request_id}"
    assert lines[7].startswith(f"REPORT RequestId: {result.request_id}\tDuration: ")
    for field in ("Billed Duration: ", "Memory Size: 256 MB", "Max Memory Used: ", "Init Duration"):
        assert field in lines[7]
    assert result.log_tail == log
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert (runtime.log_dir / spec.name / day / f"{result.request_id}.log").read_text() == log
    # the sink got the same lines, timestamped
    (sunk,) = [c for c in sink_calls if c[1] == result.request_id]
    assert sunk[0] == spec
    assert [line for _, line in sunk[2]] == lines
    assert all(abs(ts - time.time() * 1000) < 60_000 for ts, _ in sunk[2])


def test_powertools_logger_lines_are_kept(runtime: LambdaRuntime) -> None:
    spec = make_spec("app.logged")

    first, second = call(runtime, spec), call(runtime, spec)

    records = [
        json.loads(line) for line in runtime.logs(spec.name).splitlines() if line.startswith("{")
    ]
    assert [r["message"] for r in records] == ["resizing", "resizing"]
    assert [r["function_request_id"] for r in records] == [first.request_id, second.request_id]
    assert [r["cold_start"] for r in records] == [True, False]
    assert records[0]["variant"] == "thumb"
    assert records[0]["function_name"] == "fn-logged"


def test_shutdown_leaves_no_processes(tmp_path: Path) -> None:
    rt = LambdaRuntime(tmp_path)
    spec = make_spec("app.sleep", name="fn-shutdown")
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: call(rt, spec, {"seconds": 0.2}), range(2)))
    pids = rt.worker_pids()
    assert len(pids) == 2

    rt.shutdown()

    assert all(gone(pid) for pid in pids)
    assert rt.worker_pids() == []
    with pytest.raises(RuntimeError):
        call(rt, spec)


def test_shutdown_ends_a_running_invocation(tmp_path: Path) -> None:
    rt = LambdaRuntime(tmp_path)
    spec = make_spec("app.sleep", name="fn-shutdown-busy")
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(call, rt, spec, {"seconds": 30})
        deadline = time.monotonic() + 5
        while not rt.worker_pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        (pid,) = rt.worker_pids()

        rt.shutdown()

        result = running.result(timeout=5)
    assert body(result)["errorType"] == "Runtime.ExitError"
    assert gone(pid)


def test_workers_exit_when_the_engine_dies(tmp_path: Path) -> None:
    # GIVEN an engine process with a warm worker WHEN it dies without shutdown()
    script = textwrap.dedent(
        f"""
        import json, os, sys
        from pathlib import Path
        from imgpipe.local.runtime import FunctionSpec, LambdaRuntime
        rt = LambdaRuntime(Path({str(tmp_path)!r}))
        dirs = (Path({str(BASIC)!r}), Path({str(CORE_LAYER)!r}))
        spec = FunctionSpec("fn-orphan", "arn", "app.echo", dirs, {{}}, 5, 128)
        print(json.loads(rt.invoke(spec, b"{{}}").payload)["pid"], flush=True)
        os._exit(0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=True
    )
    pid = int(out.stdout.strip())

    # THEN its worker notices and exits
    assert wait_gone(pid)

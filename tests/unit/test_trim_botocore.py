"""The core layer's trimmed botocore data: what the code calls and no more, rebuilt alike."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from botocore import xform_name

from imgpipe.local import build
from imgpipe.local.runtime.interpreter import find_interpreter, managed_packages

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = "python3.12"


def _trimmer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "trim_botocore", ROOT / "layers/core/trim_botocore.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


trim_botocore = _trimmer()


@pytest.fixture(scope="module")
def layer() -> Path:
    """The core layer's python/ directory as the engine builds it (Makefile's recipe)."""
    return build.build_layer(ROOT / "layers" / "core", RUNTIME).tree / "python"


def _in_lambda_python(layer: Path, code: str) -> object:
    """Run ``code`` on the runtime's Python with only the layer and the runtime's SDK."""
    python = find_interpreter(RUNTIME).path
    done = subprocess.run(
        [str(python), "-S", "-B", "-c", textwrap.dedent(code)],
        env={
            "PYTHONPATH": f"{layer}:{managed_packages(RUNTIME)}",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_scan_finds_services_and_calls_however_the_client_is_reached(tmp_path: Path) -> None:
    # GIVEN code that reaches its clients in each of the ways imgpipe_core does
    (tmp_path / "mod.py").write_text(
        textwrap.dedent(
            """
            from imgpipe_core import clients
            from imgpipe_core.clients import client, create

            def a(sfn=None):
                client("s3").put_object(Bucket="b", Key="k")
                s3 = create("s3", None)
                s3.head_object(Bucket="b", Key="k")
                (sfn or clients.client("stepfunctions")).start_execution(stateMachineArn="x")
                client("dynamodb").get_paginator("query")
            """
        )
    )
    # WHEN it is scanned
    services, methods = trim_botocore.calls_in(tmp_path)
    # THEN every service is found and every call (a paginator's operation among them)
    assert services == {"s3", "stepfunctions", "dynamodb"}
    assert {"put_object", "head_object", "start_execution", "query"} <= methods


def test_the_layer_data_is_what_the_trim_writes_again(layer: Path, tmp_path: Path) -> None:
    # GIVEN the built layer's data, WHEN it is trimmed again from the same botocore and code
    python = find_interpreter(RUNTIME).path
    script = ROOT / "layers" / "core" / "trim_botocore.py"
    again = tmp_path / "again"
    subprocess.run([str(python), "-S", str(script), str(layer), "--out", str(again)], check=True)
    # THEN the same files, byte for byte
    shipped = layer / "imgpipe_core" / trim_botocore.OUTPUT
    names = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    assert "endpoints.json" in names and "s3/2006-03-01/service-2.json" in names
    for name in names:
        assert (shipped / name).read_bytes() == (again / name).read_bytes(), name


def test_the_clients_have_every_operation_the_code_calls_and_no_other(layer: Path) -> None:
    # GIVEN what the layer's code calls (scanned as the build scans it)
    services, methods = trim_botocore.calls_in(layer / "imgpipe_core")
    # WHEN the layer's clients are built on the Lambda Python from the trimmed data
    found = _in_lambda_python(
        layer,
        f"""
        import json
        import botocore.session
        from botocore import xform_name
        from imgpipe_core import clients
        loader = clients._session().get_component("data_loader")
        stock = botocore.session.get_session()
        out = {{"search_paths": loader.search_paths, "services": {{}}}}
        for service in {sorted(services)!r}:
            client = clients.client(service)
            model = stock.get_service_model(service)
            out["services"][service] = {{
                "methods": sorted(
                    xform_name(name) for name in model.operation_names
                    if hasattr(client, xform_name(name))
                ),
                "stock": sorted(xform_name(name) for name in model.operation_names),
                "discovery": [xform_name(op.name) for op in map(model.operation_model,
                              model.operation_names) if op.is_endpoint_discovery_operation],
            }}
        print(json.dumps(out))
        """,
    )
    assert isinstance(found, dict)
    # THEN they read only the trimmed data
    assert found["search_paths"] == [str(layer / "imgpipe_core" / trim_botocore.OUTPUT)]
    # AND each client has, as methods, exactly the operations the code calls, plus the few
    # botocore calls by itself
    for service, ops in found["services"].items():
        internal = {xform_name(op) for op in trim_botocore.BOTOCORE_CALLS.get(service, ())}
        called = {op for op in ops["stock"] if op in methods}
        assert called, service
        assert set(ops["methods"]) == called | internal | set(ops["discovery"]), service
    assert "put_object" in found["services"]["s3"]["methods"]
    assert "update_item" in found["services"]["dynamodb"]["methods"]
    assert "list_buckets" not in found["services"]["s3"]["methods"]


def test_an_operation_or_service_the_code_does_not_call_fails_loudly(layer: Path) -> None:
    found = _in_lambda_python(
        layer,
        """
        import json
        from imgpipe_core import clients
        s3 = clients.client("s3")
        out = {}
        try:
            s3.list_buckets()
        except AttributeError as error:
            out["operation"] = str(error)
        try:
            clients.client("ec2")
        except Exception as error:
            out["service"] = type(error).__name__
        print(json.dumps(out))
        """,
    )
    assert found == {
        "operation": "'S3' object has no attribute 'list_buckets'",
        "service": "UnknownServiceError",
    }


def test_trimmed_clients_resolve_and_presign_as_botocores_own(layer: Path) -> None:
    # GIVEN the trimmed clients and botocore's stock ones, in several partitions
    found = _in_lambda_python(
        layer,
        """
        import json
        import botocore.session
        from botocore.config import Config
        from imgpipe_core import clients
        regions = ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "ap-southeast-5"]
        services = ["s3", "dynamodb", "stepfunctions", "events", "sns", "sqs", "ssm", "logs"]
        stock_session = botocore.session.get_session()
        def facts(session, service, region):
            client = session.create_client(service, region_name=region,
                                           config=Config(signature_version="s3v4"))
            out = [client.meta.endpoint_url, client.meta.partition, client.meta.region_name]
            if service == "s3":
                post = client.generate_presigned_post(Bucket="b", Key="k")
                out += [post["url"], sorted(post["fields"])]
            return out
        print(json.dumps([
            [facts(clients._session(), s, r), facts(stock_session, s, r)]
            for s in services for r in regions
        ]))
        """,
    )
    # THEN endpoints, partitions and presigned POSTs are the same
    assert isinstance(found, list) and len(found) == 40
    for ours, stock in found:
        assert ours == stock


def test_trimmed_clients_send_the_requests_botocores_own_send(layer: Path) -> None:
    # GIVEN calls the code makes, sent by a trimmed client and by botocore's stock one
    found = _in_lambda_python(
        layer,
        """
        import json
        import botocore.session
        from imgpipe_core import clients
        CALLS = [
            ("s3", "put_object", {"Bucket": "b", "Key": "a/b.jpg", "Body": b"x",
                                  "ContentType": "image/jpeg", "Metadata": {"f": "n"}}),
            ("s3", "get_object", {"Bucket": "b", "Key": "k", "VersionId": "v"}),
            ("s3", "delete_objects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "k"}]}}),
            ("dynamodb", "update_item", {"TableName": "t", "Key": {"id": {"S": "1"}},
                                         "UpdateExpression": "SET a = :a",
                                         "ExpressionAttributeValues": {":a": {"N": "1"}}}),
            ("stepfunctions", "start_execution", {"stateMachineArn": "arn", "input": "{}"}),
            ("events", "put_events", {"Entries": [{"Source": "s", "DetailType": "d",
                                                   "Detail": "{}"}]}),
            ("sns", "publish", {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "m"}),
            ("sqs", "send_message", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/1/q",
                                     "MessageBody": "m"}),
        ]
        VARYING = {"authorization", "x-amz-date", "amz-sdk-invocation-id", "user-agent",
                   "x-amz-content-sha256", "content-md5", "x-amz-checksum-crc32"}

        class Sent(Exception):
            pass

        def capture(request, **kwargs):
            headers = {k.lower(): v for k, v in request.headers.items()}
            body = request.body
            body = body.read() if hasattr(body, "read") else body  # S3's aws-chunked stream
            body = body.decode() if isinstance(body, bytes) else body
            raise Sent([request.method, request.url, body or "",
                        sorted((k, str(v)) for k, v in headers.items() if k not in VARYING)])

        def sent(session, service, operation, params):
            client = session.create_client(service, region_name="eu-west-1")
            client.meta.events.register("before-send", capture)
            try:
                getattr(client, operation)(**params)
            except Sent as request:
                return request.args[0]

        stock = botocore.session.get_session()
        print(json.dumps([[sent(clients._session(), *call), sent(stock, *call)]
                          for call in CALLS]))
        """,
    )
    # THEN method, URL, body and headers are the same
    assert isinstance(found, list) and len(found) == 8
    for ours, theirs in found:
        assert ours is not None and ours == theirs

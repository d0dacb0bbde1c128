"""``imgpipe smoke``: the check to run right after ``sam deploy`` (or ``imgpipe local up``).

It goes through the stack the way a client does — the HTTP API (signed under ``ApiAuth=IAM``,
a bearer token under ``JWT``), a presigned POST, every variant from its delivery URL — then
uploads a file that is not an image and expects a rejection, and deletes what it created.
Each step is named; the first one that fails ends the run with exit status 1 and its name.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from imgpipe.aws import Stack
from imgpipe.cli import CliError
from imgpipe.commands.ops import connect, stack_arguments
from imgpipe.commands.upload import Client, UploadError, _error_text
from imgpipe.local import discovery

FINAL = {"SUCCEEDED", "REJECTED", "FAILED"}
T = TypeVar("T")
NOT_AN_IMAGE = b"%PDF-1.7\n% imgpipe smoke: this is not an image\n"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "smoke",
        parents=[stack_arguments()],
        help="end-to-end check of a deployed stack through its API and delivery URLs",
    )
    parser.add_argument("--api-url", help="default: the stack's ApiUrl (the local API under up)")
    parser.add_argument("--token", help="bearer token when the stack has ApiAuth=JWT")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per upload")
    parser.add_argument("--keep", action="store_true", help="do not delete what it uploaded")
    parser.set_defaults(func=cmd_smoke)


class SmokeFailure(Exception):
    pass


@dataclass
class Smoke:
    client: Client
    timeout: float
    created: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    def step(self, name: str, action: Callable[[], T], describe: Callable[[T], str] = str) -> T:
        """Run one named step and print how it went; a failure names the step."""
        started = time.monotonic()
        try:
            result = action()
        except (SmokeFailure, UploadError, requests.RequestException, KeyError) as error:
            raise SmokeFailure(f"step {name!r} failed: {error}") from error
        self.passed.append(name)
        elapsed = time.monotonic() - started
        print(f"ok   {name:<18} {elapsed:6.1f} s  {describe(result)}", flush=True)
        return result

    def health(self) -> str:
        response = self.client.call("GET", "/health")
        if response.status_code != 200:
            raise SmokeFailure(f"GET /health: {_error_text(response)}")
        return "GET /health 200"

    def upload(self, filename: str, data: bytes, content_type: str) -> str:
        upload_id = self.client.send(filename, data, content_type)
        self.created.append(upload_id)
        return upload_id

    def wait(self, upload_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        image: dict[str, Any] = {}
        while time.monotonic() < deadline:
            image = self.client.image(upload_id) or {"status": "PENDING"}
            if image["status"] in FINAL:
                return image
            time.sleep(1.0)
        raise SmokeFailure(f"{upload_id} still {image.get('status')} after {self.timeout:.0f} s")

    def expect_processed(self, upload_id: str) -> dict[str, Any]:
        image = self.wait(upload_id)
        if image["status"] != "SUCCEEDED":
            reason = image.get("rejection") or image.get("failure")
            raise SmokeFailure(f"{upload_id} ended {image['status']}: {reason}")
        if not image.get("variants"):
            raise SmokeFailure(f"{upload_id} SUCCEEDED with no variants")
        return image

    def fetch_variants(self, image: dict[str, Any]) -> str:
        for variant in image["variants"]:
            response = requests.get(variant["url"], timeout=30)
            if response.status_code != 200:
                raise SmokeFailure(
                    f"{variant['variant']}: GET {variant['url']} {response.status_code}"
                )
            if len(response.content) != variant["bytes"]:
                raise SmokeFailure(
                    f"{variant['variant']}: {len(response.content)} bytes served, "
                    f"{variant['bytes']} recorded"
                )
            if not response.headers.get("Content-Type", "").startswith("image/"):
                raise SmokeFailure(
                    f"{variant['variant']}: served as {response.headers.get('Content-Type')}"
                )
        return f"{len(image['variants'])} variants served, sizes match the record"

    def expect_rejected(self, upload_id: str) -> str:
        image = self.wait(upload_id)
        if image["status"] != "REJECTED" or not image.get("rejection", {}).get("code"):
            raise SmokeFailure(f"a non-image ended {image['status']}, not REJECTED with a code")
        return f"REJECTED {image['rejection']['code']}"

    def clean_up(self) -> str:
        for upload_id in self.created:
            response = self.client.call("DELETE", f"/images/{upload_id}")
            if response.status_code != 204:
                raise SmokeFailure(f"DELETE /images/{upload_id}: {_error_text(response)}")
            if self.client.image(upload_id) is not None:
                raise SmokeFailure(f"{upload_id} still there after DELETE")
        return f"{len(self.created)} uploads deleted (variants, original, record)"


def sample_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    gradient = Image.linear_gradient("L").resize((1600, 1200))
    Image.merge("RGB", (gradient, gradient.rotate(90), gradient.rotate(180))).save(
        buffer, "JPEG", quality=85
    )
    return buffer.getvalue()


def api_url(stack: Stack, explicit: str | None) -> str:
    if explicit:
        return explicit.rstrip("/")
    record = discovery.read()
    if record is not None and stack.endpoint_url == record["endpoint"]:
        local = record.get("outputs", {}).get("ApiUrl")  # the local API server under `local up`
        if local:
            return str(local).rstrip("/")
    return stack.output("ApiUrl").rstrip("/")


def api_auth(stack: Stack) -> str:
    described = stack.client("cloudformation").describe_stacks(StackName=stack.name)["Stacks"][0]
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue") for p in described.get("Parameters", [])
    }
    return str(parameters.get("ApiAuth") or "IAM")  # the template's default


def cmd_smoke(args: argparse.Namespace) -> int:
    stack = connect(args)
    auth = api_auth(stack)
    if auth == "JWT" and not args.token:
        raise CliError("the stack has ApiAuth=JWT: pass --token")
    url = api_url(stack, args.api_url)
    print(f"smoke: stack {stack.name} ({stack.endpoint_url or 'AWS'}), api {url} (auth {auth})")
    smoke = Smoke(Client(url, sign=auth == "IAM", token=args.token), args.timeout)
    try:
        smoke.step("api health", smoke.health)
        photo = smoke.step(
            "upload image", lambda: smoke.upload("smoke.jpg", sample_jpeg(), "image/jpeg")
        )
        image = smoke.step(
            "image processed", lambda: smoke.expect_processed(photo), lambda i: i["status"]
        )
        smoke.step("variants delivered", lambda: smoke.fetch_variants(image))
        other = smoke.step(
            "upload non-image", lambda: smoke.upload("smoke.jpg", NOT_AN_IMAGE, "image/jpeg")
        )
        smoke.step("non-image rejected", lambda: smoke.expect_rejected(other))
    except SmokeFailure as error:
        print(f"FAIL {error}")
        if not args.keep and smoke.created:
            try:
                smoke.clean_up()
            except (SmokeFailure, UploadError, requests.RequestException):
                print(f"     left behind: {', '.join(smoke.created)}")
        return 1
    if not args.keep:
        try:
            smoke.step("clean up", smoke.clean_up)
        except SmokeFailure as error:
            print(f"FAIL {error}")
            return 1
    print(f"smoke: ok ({len(smoke.passed)} steps)")
    return 0

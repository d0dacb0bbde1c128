"""``imgpipe upload FILE...``: the HTTP API's client flow (presign → POST to S3 → poll), or
with ``--direct`` the bytes in one API request (``POST /uploads/direct``, small files only).

It uses only the public API, like any client would: no AWS credentials are needed unless the
API is deployed with ``ApiAuth=IAM`` (then ``--sign``); ``ApiAuth=JWT`` takes ``--token``,
``ApiAuth=API_KEY`` takes ``--api-key``.
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests

from imgpipe.cli import CliError
from imgpipe.text import table
from imgpipe_core.imaging import media

FINAL = {"SUCCEEDED", "REJECTED", "FAILED"}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "upload",
        help="upload images through the HTTP API (presigned POST or --direct), optionally wait",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--api-url", help="default: $IMGPIPE_API_URL, else the running `imgpipe local up`"
    )
    parser.add_argument("--wait", action="store_true", help="wait for every outcome")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (--wait)")
    parser.add_argument("--parallel", type=int, default=4, help="uploads at once")
    parser.add_argument("--sign", action="store_true", help="SigV4-sign API calls (ApiAuth=IAM)")
    parser.add_argument("--token", help="bearer token for API calls (ApiAuth=JWT)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("IMGPIPE_API_KEY"),
        help="x-api-key for API calls (ApiAuth=API_KEY); default: $IMGPIPE_API_KEY",
    )
    parser.add_argument(
        "--direct",
        action="store_true",
        help="send each file in the API request itself (POST /uploads/direct; small files)",
    )
    parser.set_defaults(func=cmd_upload)


@dataclass
class Item:
    path: Path
    status: str = "queued"
    upload_id: str = ""
    detail: str = ""
    variants: int = 0
    record: dict[str, Any] = field(default_factory=dict)


class Progress:
    """One line per file; redrawn in place on a terminal, appended otherwise."""

    def __init__(self, items: list[Item], out: TextIO) -> None:
        self.items = items
        self.out = out
        self.tty = out.isatty()
        self.width = max(len(i.path.name) for i in items)
        self._lock = threading.Lock()
        self._drawn = False

    def _line(self, item: Item) -> str:
        detail = f"  {item.detail}" if item.detail else ""
        return f"{item.path.name.ljust(self.width)}  {item.status}{detail}"

    def update(self, item: Item, status: str, detail: str = "") -> None:
        with self._lock:
            if (item.status, item.detail) == (status, detail):
                return
            item.status, item.detail = status, detail
            if not self.tty:
                print(self._line(item), file=self.out, flush=True)
                return
            if self._drawn:
                self.out.write(f"\x1b[{len(self.items)}F")
            for one in self.items:
                self.out.write("\x1b[2K" + self._line(one) + "\n")
            self.out.flush()
            self._drawn = True


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        sign: bool,
        token: str | None,
        api_key: str | None = None,
        direct: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if api_key:
            self.session.headers["x-api-key"] = api_key
        self.auth = _SigV4(self.base_url) if sign else None
        self.direct = direct

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        response = self.session.request(
            method,
            self.base_url + path,
            json=body,
            data=data,
            headers=headers,
            auth=self.auth,
            timeout=30 if data is None else 300,
        )
        return response

    def presign(self, filename: str, content_type: str, size: int) -> dict[str, Any]:
        response = self.call(
            "POST", "/uploads", {"filename": filename, "contentType": content_type, "size": size}
        )
        if response.status_code != 201:
            raise UploadError(_error_text(response))
        return dict(response.json())

    def send_direct(self, filename: str, data: bytes, content_type: str) -> str:
        """The bytes in the API request: the API stores them under a key of its own."""
        query = urllib.parse.urlencode({"filename": filename})
        response = self.call(
            "POST", f"/uploads/direct?{query}", data=data, headers={"Content-Type": content_type}
        )
        if response.status_code != 201:
            raise UploadError(_error_text(response))
        return str(response.json()["uploadId"])

    def send(self, filename: str, data: bytes, content_type: str) -> str:
        """The client flow: a presigned POST from the API, then the bytes straight to S3."""
        if self.direct:
            return self.send_direct(filename, data, content_type)
        upload = self.presign(filename, content_type, len(data))
        sent = requests.post(
            upload["upload"]["url"],
            data=upload["upload"]["fields"],
            files={"file": (filename, data, content_type)},
            timeout=300,
        )
        if sent.status_code not in (200, 201, 204):
            raise UploadError(_s3_error(sent))
        return str(upload["uploadId"])

    def image(self, ident: str) -> dict[str, Any] | None:
        response = self.call("GET", f"/images/{ident}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UploadError(_error_text(response))
        return dict(response.json())


class UploadError(Exception):
    pass


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
        if "message" in body and "error" not in body:  # API Gateway's own refusal
            return f"HTTP {response.status_code}: {body['message']}"
        error = body["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _s3_error(response: requests.Response) -> str:
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(response.content)
        return f"S3 {response.status_code} {root.findtext('Code')}: {root.findtext('Message')}"
    except ElementTree.ParseError:
        return f"S3 {response.status_code}"


class _SigV4(requests.auth.AuthBase):
    """Signs API Gateway calls with the default AWS credentials (service execute-api)."""

    def __init__(self, base_url: str) -> None:
        import boto3

        session = boto3.Session()
        if _is_local_api(base_url):
            from imgpipe.local.engine import fake_session

            # The local engine accepts only the keys it issued; never send real ones there.
            session = fake_session()
        credentials = session.get_credentials()
        if credentials is None:
            raise CliError("--sign needs AWS credentials")
        self.credentials = credentials.get_frozen_credentials()
        host = base_url.split("://", 1)[-1]
        parts = host.split(".")
        self.region = (
            parts[2] if len(parts) > 3 and parts[1] == "execute-api" else session.region_name
        ) or "us-east-1"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        aws = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=request.headers
        )
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(aws)
        request.headers.update(dict(aws.headers.items()))
        return request


def content_type_of(path: Path) -> str:
    """The pipeline's own sniffing first: a file's extension is only a hint."""
    with path.open("rb") as handle:
        sniffed = media.sniff(handle.read(media.SNIFF_BYTES))
    if sniffed is not None:
        return sniffed.content_type
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _is_local_api(url: str) -> bool:
    from imgpipe.local import discovery

    record = discovery.read() or {}
    return bool(url) and record.get("outputs", {}).get("ApiUrl", "").rstrip("/") == url.rstrip("/")


def _api_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("IMGPIPE_API_URL"):
        return os.environ["IMGPIPE_API_URL"]
    from imgpipe.local import discovery

    record = discovery.read()
    url = (record or {}).get("outputs", {}).get("ApiUrl")
    if not url:
        raise CliError("no API URL: pass --api-url, set IMGPIPE_API_URL or run `imgpipe local up`")
    return str(url)


def _one(client: Client, item: Item, progress: Progress, wait: bool, deadline: float) -> None:
    try:
        data = item.path.read_bytes()
        content_type = content_type_of(item.path)
        progress.update(item, "sending" if client.direct else "presigning")
        item.upload_id = client.send(item.path.name, data, content_type)
        progress.update(item, "uploaded", item.upload_id)
        while wait:
            record = client.image(item.upload_id) or {"status": "PENDING"}
            item.record = record
            item.variants = len(record.get("variants") or [])
            progress.update(item, record["status"], _detail(record))
            if record["status"] in FINAL:
                return
            if time.monotonic() > deadline:
                progress.update(item, "TIMEOUT", f"last status {record['status']}")
                return
            time.sleep(0.5)
    except (UploadError, OSError, requests.RequestException) as error:
        progress.update(item, "ERROR", str(error))


def _detail(record: dict[str, Any]) -> str:
    if record.get("rejection"):
        return f"{record['rejection']['code']}: {record['rejection'].get('message', '')}"
    if record.get("failure"):
        return f"{record['failure'].get('error')}: {record['failure'].get('cause', '')}"[:160]
    if record.get("image"):
        return f"{record['image'].get('width')}x{record['image'].get('height')}"
    return ""


def cmd_upload(args: argparse.Namespace) -> int:
    for path in args.files:
        if not path.is_file():
            raise CliError(f"not a file: {path}")
    client = Client(
        _api_url(args.api_url),
        sign=args.sign,
        token=args.token,
        api_key=args.api_key,
        direct=args.direct,
    )
    items = [Item(path) for path in args.files]
    out = sys.stdout
    progress = Progress(items, out)
    deadline = time.monotonic() + args.timeout
    with ThreadPoolExecutor(max(1, args.parallel)) as pool:
        for item in items:
            pool.submit(_one, client, item, progress, args.wait, deadline)
    _print_table(items, out)
    ok = {"SUCCEEDED"} if args.wait else {"uploaded"}
    return 0 if all(item.status in ok for item in items) else 1


def _print_table(items: list[Item], out: TextIO) -> None:
    rows = [
        (i.path.name, i.upload_id, i.status, i.variants if i.record else None, i.detail or "")
        for i in items
    ]
    print(file=out)
    for line in table(rows, ("FILE", "UPLOAD ID", "STATUS", "VARIANTS", "DETAIL")):
        print(line, file=out)

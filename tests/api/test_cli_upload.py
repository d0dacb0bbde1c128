"""`imgpipe upload` as a plain API client, against the local API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgpipe.cli import main
from tests.api.conftest import Api, image_bytes

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]


def test_upload_several_files_and_wait(api: Api, tmp_path: Path, capsys) -> None:
    # GIVEN a good PNG, a good JPEG and a file that is not an image
    good = tmp_path / "good.png"
    good.write_bytes(image_bytes(320, 200))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(200, 320, "JPEG"))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    # WHEN they are uploaded with --wait
    code = main(["upload", str(good), str(photo), str(text), "--api-url", api.url, "--wait"])
    out = capsys.readouterr().out
    # THEN the images succeeded, the text file was refused by the API, and the table says so
    assert code == 1
    table = out[out.rindex("FILE") :].splitlines()
    rows = {line.split()[0]: line for line in table[1:]}
    assert "SUCCEEDED" in rows["good.png"] and "SUCCEEDED" in rows["photo.jpg"]
    assert "ERROR" in rows["notes.txt"] and "UNSUPPORTED_MEDIA_TYPE" in rows["notes.txt"]
    upload_id = rows["good.png"].split()[1]
    assert api.get(f"/images/{upload_id}").json()["status"] == "SUCCEEDED"


def test_upload_without_wait_reports_uploaded(api: Api, tmp_path: Path, capsys) -> None:
    image = tmp_path / "quick.png"
    image.write_bytes(image_bytes(64, 64))
    assert main(["upload", str(image), "--api-url", api.url]) == 0
    assert "uploaded" in capsys.readouterr().out


def test_upload_names_heif_content_types_from_the_bytes(tmp_path: Path) -> None:
    from imgpipe.commands.upload import content_type_of

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "images"
    misnamed = tmp_path / "photo.jpg"  # the extension lies; the bytes decide
    misnamed.write_bytes((fixtures / "orientation6-quadrants.heic").read_bytes())

    assert content_type_of(misnamed) == "image/heic"
    assert content_type_of(fixtures / "orientation6-quadrants.avif") == "image/avif"
    assert content_type_of(fixtures / "400x300.jpg") == "image/jpeg"

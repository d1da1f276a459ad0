"""Reading the Device ID from a label photo: generated QR images (clean, rotated, on a busy
background, as JPEG), and every way a file can be wrong, each with its own clear answer."""

from __future__ import annotations

import io

import pytest
import qrcode
from PIL import Image, ImageDraw

from bot.devices.checks import Outcome
from bot.devices.extraction import DeviceIdExtractor
from bot.devices.formats import load_formats
from bot.web.label_photo import MAX_BYTES, LabelPhotoError, Problem, read_label
from tests.test_device_id_checks import N_SERIES, DictLookup

FORMATS = load_formats()
EXTRACTOR = DeviceIdExtractor(FORMATS)


def label_photo(qr_text: str, *, fmt: str = "PNG", rotate: int = 0, size: int = 900) -> bytes:
    """A label as a phone might see it: grey background, QR code beside printed text."""
    code = qrcode.make(qr_text, box_size=6, border=4).get_image().convert("RGB")
    photo = Image.new("RGB", (size, size * 2 // 3), (182, 176, 168))
    sticker = Image.new("RGB", (code.width + 360, code.height + 40), "white")
    sticker.paste(code, (20, 20))
    draw = ImageDraw.Draw(sticker)
    draw.text((code.width + 40, 60), "Device ID: " + qr_text, fill="black")
    draw.text((code.width + 40, 100), "S/N: 21LX0483920175", fill="black")
    photo.paste(sticker, (40, 40))
    photo = photo.rotate(rotate, expand=True, fillcolor=(182, 176, 168))
    out = io.BytesIO()
    photo.save(out, fmt, quality=85) if fmt == "JPEG" else photo.save(out, fmt)
    return out.getvalue()


def read(data: bytes) -> dict[str, object]:
    return read_label(data, DictLookup(N_SERIES), FORMATS, EXTRACTOR).as_json()


@pytest.mark.parametrize(
    ("fmt", "rotate"), [("PNG", 0), ("JPEG", 0), ("JPEG", 90), ("WEBP", 7)]
)
def test_the_device_id_is_read_from_the_qr_code(fmt: str, rotate: int) -> None:
    assert read(label_photo("ND4810273945KXQ", fmt=fmt, rotate=rotate)) == {
        "device_id": "ND4810273945KXQ",
        "grouped": "ND48 1027 3945 KXQ",
        "outcome": "ok",
        "ok": True,
    }


def test_a_qr_code_with_more_than_the_id_still_gives_it() -> None:
    reading = read(label_photo("DEVICE ID: nd48-1027-3945-kxq MODEL N841"))
    assert reading["device_id"] == "ND4810273945KXQ"


def test_an_unregistered_or_serial_number_is_offered_with_what_the_checks_say() -> None:
    assert read(label_photo("ND4810273945KXZ"))["outcome"] == Outcome.NOT_FOUND.value
    assert read(label_photo("21LX0483920175"))["outcome"] == Outcome.SERIAL_NUMBER.value


def problem(data: bytes) -> Problem:
    with pytest.raises(LabelPhotoError) as raised:
        read(data)
    assert raised.value.message  # every problem has words for the visitor
    return raised.value.problem


def test_a_photo_without_a_qr_code_is_unreadable() -> None:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 130, 140)).save(out, "JPEG")
    assert problem(out.getvalue()) is Problem.NO_QR_CODE


def test_a_qr_code_without_a_device_id() -> None:
    assert problem(label_photo("https://example.com/")) is Problem.NO_DEVICE_ID


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n1 0 obj<<>>endobj\n",
        b"GIF89a-but-not-really",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,  # a truncated PNG
        b"hello, this is text",
    ],
)
def test_files_that_are_not_photos(data: bytes) -> None:
    assert problem(data) is Problem.NOT_AN_IMAGE


def test_empty_and_too_large_files_are_refused_before_decoding() -> None:
    assert problem(b"") is Problem.EMPTY
    assert problem(b"\xff\xd8\xff" + b"\x00" * MAX_BYTES) is Problem.TOO_LARGE


def test_a_decompression_bomb_is_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (12000, 12000)).save(out, "PNG")  # small file, 144 million pixels
    assert len(out.getvalue()) < MAX_BYTES
    assert problem(out.getvalue()) is Problem.TOO_LARGE

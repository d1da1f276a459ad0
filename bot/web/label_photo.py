"""Reading the Device ID from a photo of the recorder's label.

The label carries a QR code beside the printed Device ID. The visitor uploads a photo; we check
its size, type and pixel count before decoding anything, decode every QR code in it with
zxing-cpp, look for a Device ID in what they say (the same extractor the chat uses), and check
the first one found against the formats and the registry. The widget then offers that ID for the
visitor to confirm: nothing is sent to the assistant without them.

Memory: a decoded photo costs 3-4 bytes a pixel, so the pixels are bounded before decoding
(a JPEG is decoded at a reduced scale first, which its format allows), and the channel decodes
only a few photos at once (:mod:`bot.web.decode_queue`).

Each check counts against the client's address and the registry's failed-check limits
(:mod:`bot.devices.check_limits`), like the chat's: a photo is no way around them.
"""

from __future__ import annotations

import enum
import io
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import zxingcpp
from PIL import Image, ImageOps, UnidentifiedImageError

from bot.devices.check_limits import FailedCheckLimiter, Subject, limited_check
from bot.devices.checks import CheckResult, Outcome, check_device_id
from bot.devices.extraction import DeviceIdExtractor
from bot.devices.formats import DeviceIdFormats
from bot.devices.record import DeviceLookup

MAX_BYTES = 10 * 1024 * 1024  # a phone photo is 2-6 MB
MAX_PIXELS = 50_000_000  # Pillow's guard against decompression bombs, made an error
# Pixels actually decoded: a phone photo is 12 MP (4000 x 3000); 16 MP leaves room for others.
# A larger JPEG is decoded at 1/2, 1/4 or 1/8 scale (its draft mode) to fit; other formats can't.
MAX_DECODED_PIXELS = 16_000_000
# QR codes tried per photo: each is a check that counts against the limits.
MAX_CODES_CHECKED = 3
# Decoding works as well on a smaller copy, and much faster on a busy server.
DECODE_SIDE = 2000
# Photo formats browsers upload: checked from the bytes, not from the name or the content type.
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP"}
QR_FORMATS = zxingcpp.barcode_formats_from_str("QRCode,MicroQRCode")
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


class Problem(enum.Enum):
    """Why no Device ID could be offered; ``value`` is the code the widget receives."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_AN_IMAGE = "not_an_image"
    TOO_MANY_PIXELS = "too_many_pixels"
    NO_QR_CODE = "no_qr_code"
    NO_DEVICE_ID = "no_device_id"
    LIMITED = "too_many_attempts"


MESSAGES = {
    Problem.EMPTY: "The file is empty. Please choose a photo of the label.",
    Problem.TOO_LARGE: (
        f"That file is too large (the limit is {MAX_BYTES // (1024 * 1024)} MB). "
        "Please send a smaller photo, or type the Device ID instead."
    ),
    Problem.NOT_AN_IMAGE: (
        "That file is not a photo I can read. Please send a JPEG, PNG or WebP picture "
        "of the label."
    ),
    Problem.TOO_MANY_PIXELS: (
        f"That photo has more pixels than I can read (the limit is "
        f"{MAX_DECODED_PIXELS // 1_000_000} megapixels). Please send a smaller photo, or type the "
        "Device ID instead."
    ),
    Problem.LIMITED: (
        "I can't check any more Device IDs for now: too many didn't match a registered "
        "recorder, and to protect owners' recorders I stop after that. Please try again later, "
        "or ask in the chat for a support agent, who can look up your recorder with you."
    ),
    Problem.NO_QR_CODE: (
        "I couldn't read a QR code in that photo. Take it again close up, in good light and "
        "in focus, or type the Device ID printed beside the QR code."
    ),
    Problem.NO_DEVICE_ID: (
        "I read a code in that photo, but it holds no Device ID. Please photograph the QR code "
        "beside the Device ID, or type the Device ID instead."
    ),
}


class LabelPhotoError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(MESSAGES[problem])
        self.problem = problem
        self.message = MESSAGES[problem]


@dataclass(frozen=True)
class LabelReading:
    """The Device ID read from the label (normalised) and what the checks said about it."""

    device_id: str
    outcome: Outcome
    grouped: str

    def as_json(self) -> dict[str, str | bool]:
        return {
            "device_id": self.device_id,
            "grouped": self.grouped,
            "outcome": self.outcome.value,
            "ok": self.outcome is Outcome.OK,
        }


def check_size(size: int) -> None:
    """Raise for a size out of bounds; called before the body is read, and again after."""
    if size <= 0:
        raise LabelPhotoError(Problem.EMPTY)
    if size > MAX_BYTES:
        raise LabelPhotoError(Problem.TOO_LARGE)


@contextmanager
def _opened_photo(data: bytes) -> Iterator[Image.Image]:
    """The photo ``data`` with only its header read, checked: size, type and pixel count.

    Raises :class:`LabelPhotoError`, before anything is decoded, for a photo out of bounds.
    """
    check_size(len(data))
    if not data.startswith(SIGNATURES) and not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        raise LabelPhotoError(Problem.NOT_AN_IMAGE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.format not in ACCEPTED_FORMATS:
                    raise LabelPhotoError(Problem.NOT_AN_IMAGE)
                if opened.width * opened.height > MAX_PIXELS:
                    raise LabelPhotoError(Problem.TOO_MANY_PIXELS)
                if opened.format == "JPEG":
                    opened.draft("L", (DECODE_SIDE, DECODE_SIDE))
                if opened.width * opened.height > MAX_DECODED_PIXELS:
                    raise LabelPhotoError(Problem.TOO_MANY_PIXELS)
                yield opened
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise LabelPhotoError(Problem.NOT_AN_IMAGE) from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise LabelPhotoError(Problem.TOO_LARGE) from error


def check_photo_header(data: bytes) -> None:
    """Raise :class:`LabelPhotoError` for a photo that would be refused, from its header alone:
    cheap enough for the event loop, so a photo out of bounds never waits for a decoder."""
    with _opened_photo(data):
        pass


def decode_qr_texts(data: bytes) -> list[str]:
    """The text of every QR code in the photo ``data``, in the decoder's order."""
    with _opened_photo(data) as opened:
        image = ImageOps.exif_transpose(opened).convert("L")
    image.thumbnail((DECODE_SIDE, DECODE_SIDE))
    barcodes = zxingcpp.read_barcodes(image, formats=QR_FORMATS)
    return [barcode.text for barcode in barcodes]


def read_label(
    data: bytes,
    lookup: DeviceLookup,
    formats: DeviceIdFormats,
    extractor: DeviceIdExtractor,
    limiter: FailedCheckLimiter | None = None,
    subjects: Sequence[Subject] = (),
) -> LabelReading:
    """The Device ID on the label in the photo ``data``.

    Raises :class:`LabelPhotoError` for an empty, too large or unreadable file, a photo without
    a QR code, or QR codes that hold no Device ID.
    """
    return check_label_texts(decode_qr_texts(data), lookup, formats, extractor, limiter, subjects)


def check_label_texts(
    texts: Sequence[str],
    lookup: DeviceLookup,
    formats: DeviceIdFormats,
    extractor: DeviceIdExtractor,
    limiter: FailedCheckLimiter | None = None,
    subjects: Sequence[Subject] = (),
) -> LabelReading:
    """The Device ID in the decoded QR codes ``texts``, checked (and counted against
    ``subjects`` when a ``limiter`` is given; :class:`LabelPhotoError` ``LIMITED`` past it)."""
    if not texts:
        raise LabelPhotoError(Problem.NO_QR_CODE)
    readings = []
    candidates = [found for found in map(extractor.find, texts) if found is not None]
    for found in candidates[:MAX_CODES_CHECKED]:
        value = found.value

        def check(value: str = value) -> CheckResult:
            return check_device_id(value, lookup, formats)

        if limiter is None:
            result = check()
        else:
            limited = limited_check(limiter, subjects, check)
            if limited is None:
                raise LabelPhotoError(Problem.LIMITED)
            result = limited
        reading = LabelReading(
            result.value, result.outcome, str(result.details.get("grouped", result.value))
        )
        if result.ok:
            return reading
        readings.append(reading)
    if not readings:
        raise LabelPhotoError(Problem.NO_DEVICE_ID)
    return readings[0]

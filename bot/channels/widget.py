"""The embeddable web chat widget: its files, the demo support page, and the label-photo reader.

Registered in credentials.yml as ``bot.channels.widget.WidgetChannel``; Rasa mounts it at
``/webhooks/widget/``. The chat itself goes over the socket.io channel; this channel only serves

- ``widget.js`` (the one script a page embeds), ``widget.css``, the vendored socket.io client and
  the step pictures, straight from ``widget/`` (no build step); ``pictures/<name>.svg?lang=es``
  is the picture with its annotations in that language (:mod:`bot.web.pictures`; English without
  ``lang`` or for a language the assistant does not speak), the language being in the URL;
- ``demo``: a plain support page that embeds the widget;
- ``POST label-photo``: a photo of the recorder's label (the raw file as the body); answers
  ``{"device_id", "grouped", "outcome", "ok"}`` or ``{"error", "message"}`` with a 4xx status
  (429 past the failed-check limits), or 503 when busy (with Retry-After) or when something
  behind it fails (the database, say): always JSON. The limits are looked at and the size
  enforced while the body streams in, before anything is decoded; a few photos decode at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import DBAPIError

from bot.bootstrap import rasa_process
from bot.channels.client import client_address
from bot.content import REPO_ROOT
from bot.devices.check_limits import FailedCheckLimiter, Subject, subjects_for
from bot.devices.extraction import DeviceIdExtractor
from bot.devices.formats import load_formats
from bot.devices.registry import DeviceRegistry
from bot.localisation import ENGLISH, language_or_none
from bot.web.decode_queue import Busy, DecodeQueue
from bot.web.label_photo import (
    LabelPhotoError,
    LabelReading,
    Problem,
    check_label_texts,
    check_photo_header,
    check_size,
    decode_qr_texts,
)
from bot.web.pictures import localised_picture

logger = logging.getLogger(__name__)

WIDGET_DIR = REPO_ROOT / "widget"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
STATUS = {
    Problem.EMPTY: 400,
    Problem.TOO_LARGE: 413,
    Problem.NOT_AN_IMAGE: 415,
    Problem.TOO_MANY_PIXELS: 413,
    Problem.NO_QR_CODE: 422,
    Problem.NO_DEVICE_ID: 422,
    Problem.LIMITED: 429,
}
# Seconds a client should wait: for a free decoder, and for the limit's next ten-minute bucket.
BUSY_RETRY_AFTER = 5
LIMITED_RETRY_AFTER = 600
BUSY_MESSAGE = (
    "Many photos are being read right now. Please try again in a moment, or type the Device ID."
)
UNAVAILABLE_MESSAGE = (
    "I can't read photos right now. Please try again in a moment, or type the Device ID "
    "printed beside the QR code."
)


def served_files(folder: Path = WIDGET_DIR) -> dict[str, Path]:
    """Every file the widget may serve, by URL path: a fixed list, so no path escapes it."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix in CONTENT_TYPES and path.name != "demo.html"
    }


class LabelChecks:
    """Checking what a label photo says against the registry: the Rasa process's registry and
    Device ID check limiter (:func:`bot.bootstrap.rasa_process`)."""

    def __init__(self, registry: DeviceRegistry, limiter: FailedCheckLimiter) -> None:
        self._registry = registry
        self._limiter = limiter
        self._formats = load_formats()
        self._extractor = DeviceIdExtractor(self._formats)

    def limit_reached(self, subjects: Sequence[Subject]) -> bool:
        return self._limiter.limit_reached(subjects)

    def check_texts(self, texts: list[str], subjects: Sequence[Subject]) -> LabelReading:
        return check_label_texts(
            texts, self._registry, self._formats, self._extractor, self._limiter, subjects
        )


def _problem(problem: Problem) -> HTTPResponse:
    error = LabelPhotoError(problem)
    headers = {"Retry-After": str(LIMITED_RETRY_AFTER)} if problem is Problem.LIMITED else None
    return response.json(
        {"error": problem.value, "message": error.message},
        status=STATUS[problem],
        headers=headers,
    )


def _failure_summary(error: Exception) -> str:
    """What went wrong, for the log: the error's type and the driver's own message, never the
    SQL statement or its parameters (nor, since none is passed, the photo)."""
    if isinstance(error, DBAPIError):
        return f"{type(error).__name__}: {type(error.orig).__name__}: {error.orig}"
    return type(error).__name__


class WidgetChannel(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "widget"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        widget = Blueprint("widget_webhook", __name__)
        services = rasa_process()
        checks = LabelChecks(services.registry, services.limiter)
        files = served_files()
        decoders = DecodeQueue()

        @widget.route("/demo", methods=["GET"])
        async def demo(request: Request) -> HTTPResponse:
            return _file(WIDGET_DIR / "demo.html")

        @widget.route("/<path:path>", methods=["GET"])
        async def asset(request: Request, path: str) -> HTTPResponse:
            if path not in files:
                return response.json({"error": "not_found"}, status=404)
            if files[path].parent == WIDGET_DIR / "pictures" and files[path].suffix == ".svg":
                language = language_or_none(request.args.get("lang")) or ENGLISH
                return _picture(files[path], language)
            return _file(files[path])

        @widget.route("/label-photo", methods=["POST"], stream=True)
        async def label_photo(request: Request) -> HTTPResponse:
            try:
                return await read_label_photo(request)
            except Exception as error:  # any failure still gets the widget's JSON
                logger.error("label photo not read: %s", _failure_summary(error))
                return response.json(
                    {"error": "unavailable", "message": UNAVAILABLE_MESSAGE}, status=503
                )

        async def read_label_photo(request: Request) -> HTTPResponse:
            loop = asyncio.get_running_loop()
            subjects = subjects_for(client_address=client_address(request))
            if await loop.run_in_executor(None, checks.limit_reached, subjects):
                return _problem(Problem.LIMITED)
            declared = request.headers.get("content-length")
            too_large = declared is not None and declared.isdigit() and int(declared) > 0 and (
                _over_limit(int(declared))
            )
            body = bytearray()
            assert request.stream is not None
            while True:
                chunk = await request.stream.read()
                if chunk is None:
                    break
                # Past the limit the rest is read and dropped (never kept, never decoded), so
                # the browser gets the answer instead of a reset connection.
                if not too_large:
                    body.extend(chunk)
                    too_large = _over_limit(len(body))
            if too_large:
                return _problem(Problem.TOO_LARGE)
            try:
                photo = bytes(body)
                del body
                check_photo_header(photo)  # a photo out of bounds never waits for a decoder
                texts = await decoders.run(lambda: decode_qr_texts(photo))
                reading = await loop.run_in_executor(None, checks.check_texts, texts, subjects)
            except LabelPhotoError as error:
                return _problem(error.problem)
            except Busy:
                return response.json(
                    {"error": "busy", "message": BUSY_MESSAGE},
                    status=503,
                    headers={"Retry-After": str(BUSY_RETRY_AFTER)},
                )
            return response.json(reading.as_json())

        return widget


def _over_limit(size: int) -> bool:
    try:
        check_size(size)
    except LabelPhotoError as error:
        return error.problem is Problem.TOO_LARGE
    return False


def _file(path: Path, body: bytes | None = None, **headers: str) -> HTTPResponse:
    return response.raw(
        path.read_bytes() if body is None else body,
        content_type=CONTENT_TYPES[path.suffix],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", **headers},
    )


def _picture(path: Path, language: str) -> HTTPResponse:
    """A picture with its annotations in ``language``: each language has its own URL, so a cache
    keeps them apart without Vary."""
    body = localised_picture(path.stem, language, path.parent)
    return _file(path, body, **{"Content-Language": language})

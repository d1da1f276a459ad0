"""The embeddable web chat widget: its files, the demo support page, and the label-photo reader.

Registered in credentials.yml as ``bot.channels.widget.WidgetChannel``; Rasa mounts it at
``/webhooks/widget/``. The chat itself goes over the socket.io channel; this channel only serves

- ``widget.js`` (the one script a page embeds), ``widget.css``, the vendored socket.io client and
  the step pictures, straight from ``widget/`` (no build step);
- ``demo``: a plain support page that embeds the widget;
- ``POST label-photo``: a photo of the recorder's label (the raw file as the body); answers
  ``{"device_id", "grouped", "outcome", "ok"}`` or ``{"error", "message"}`` with a 4xx status.
  The size limit is enforced while the body streams in, before anything is decoded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.content import REPO_ROOT
from bot.db import Database
from bot.devices.extraction import DeviceIdExtractor
from bot.devices.formats import DeviceIdFormats, load_formats
from bot.devices.registry import DeviceRegistry
from bot.web.label_photo import LabelPhotoError, LabelReading, Problem, check_size, read_label

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
    Problem.NO_QR_CODE: 422,
    Problem.NO_DEVICE_ID: 422,
}


def served_files(folder: Path = WIDGET_DIR) -> dict[str, Path]:
    """Every file the widget may serve, by URL path: a fixed list, so no path escapes it."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix in CONTENT_TYPES and path.name != "demo.html"
    }


@cache
def _services() -> tuple[DeviceRegistry, DeviceIdFormats, DeviceIdExtractor]:
    formats = load_formats()
    return DeviceRegistry(Database(), formats), formats, DeviceIdExtractor(formats)


def _read_label(data: bytes) -> LabelReading:
    registry, formats, extractor = _services()
    return read_label(data, registry, formats, extractor)


def _problem(problem: Problem) -> HTTPResponse:
    error = LabelPhotoError(problem)
    return response.json({"error": problem.value, "message": error.message}, status=STATUS[problem])


class WidgetChannel(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "widget"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        widget = Blueprint("widget_webhook", __name__)
        files = served_files()

        @widget.route("/demo", methods=["GET"])
        async def demo(request: Request) -> HTTPResponse:
            return _file(WIDGET_DIR / "demo.html")

        @widget.route("/<path:path>", methods=["GET"])
        async def asset(request: Request, path: str) -> HTTPResponse:
            if path not in files:
                return response.json({"error": "not_found"}, status=404)
            return _file(files[path])

        @widget.route("/label-photo", methods=["POST"], stream=True)
        async def label_photo(request: Request) -> HTTPResponse:
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
                check_size(len(body))
                reading = await asyncio.get_running_loop().run_in_executor(
                    None, _read_label, bytes(body)
                )
            except LabelPhotoError as error:
                return _problem(error.problem)
            return response.json(reading.as_json())

        return widget


def _over_limit(size: int) -> bool:
    try:
        check_size(size)
    except LabelPhotoError as error:
        return error.problem is Problem.TOO_LARGE
    return False


def _file(path: Path) -> HTTPResponse:
    return response.raw(
        path.read_bytes(),
        content_type=CONTENT_TYPES[path.suffix],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )

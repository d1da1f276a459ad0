"""The action server: rasa_sdk's own app, on 127.0.0.1, answering only the Rasa server.

``rasa run actions`` listens on every interface and runs an action for any caller, and our
actions change cases in the product database. This entry module (``python -m actions.server``,
from the Procfile) runs the same app (``rasa_sdk.endpoint.create_app``: its action executor and
its routes) with three differences:

- it listens on 127.0.0.1 only;
- every route but ``/health`` needs ``Authorization: Bearer <ACTION_SERVER_TOKEN>``, the secret
  the Rasa server sends from endpoints.yml (``make run`` draws one per run). The check runs as
  soon as the route is known, before the body is read, and compares in constant time; anything
  else gets 401 with a JSON error;
- a body over ``MAX_BODY_BYTES`` is refused (413) from its ``Content-Length``, before it is read.

Errors are JSON (``{"error": ...}``), and a failing action is logged without the call's body
(rasa_sdk's own handler would echo the whole tracker back).
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
from typing import Any

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.bootstrap import start_action_server
from bot.settings import (
    ACTION_SERVER_TOKEN_PROBLEM,
    MIN_ACTION_SERVER_TOKEN,
    Settings,
    settings_from,
)

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# An action call is the events since the owner's latest message, plus the domain (about 14 kB)
# for the two actions that read it: a few kB to a few tens of kB.
MAX_BODY_BYTES = 1024 * 1024
OPEN_ROUTES = frozenset({"/health"})


class TokenMissing(ValueError):
    """The action server cannot start without its shared secret."""


def required_token(settings: Settings) -> str:
    """The shared secret; unlike the other processes, this one cannot start without it."""
    if len(settings.action_server_token) < MIN_ACTION_SERVER_TOKEN:
        raise TokenMissing(ACTION_SERVER_TOKEN_PROBLEM)
    return settings.action_server_token


def is_authorised(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant-time compare)."""
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


def build_app(token: str) -> Sanic:
    """rasa_sdk's app for the ``actions`` package, locked to the holder of ``token``."""
    app: Sanic = create_app("actions", cors_origins="")  # no browser has any business here
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES

    # "http.routing.after" runs before Sanic reads the body (request middleware runs after).
    @app.signal("http.routing.after")
    async def check_token(request: Request, **_: Any) -> None:
        if request.path not in OPEN_ROUTES and not is_authorised(
            request.headers.get("authorization"), token
        ):
            raise SanicException(
                "this server answers only the Rasa server (a bearer token)", status_code=401
            )

    async def refused(request: Request, exception: SanicException) -> HTTPResponse:
        return response.json({"error": str(exception)}, status=exception.status_code)

    async def failed(request: Request, exception: Exception) -> HTTPResponse:
        # The call's body holds the user's messages: it stays out of the log and the answer.
        logger.error("action call %s failed", request.path, exc_info=exception)
        return response.json({"error": "the action failed; see the action server's log"}, 500)

    app.error_handler.add(SanicException, refused)
    app.error_handler.add(Exception, failed)
    return app


def main() -> int:
    try:
        settings = settings_from(os.environ)
        token = required_token(settings)
    except ValueError as exc:
        print(f"action server: {exc}", file=sys.stderr)
        return 2
    start_action_server(settings)  # the actions' database and stores (actions/services.py)
    port = settings.actions_port
    utils.configure_colored_logging(logging.INFO)
    utils.update_sanic_log_level()
    app = build_app(token)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    logger.info("Action server on http://%s:%s (bearer token required)", HOST, port)
    app.run(HOST, port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

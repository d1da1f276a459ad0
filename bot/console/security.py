"""Cookies the console sets: the login session, the login form's CSRF token, and one-shot notices.

Every cookie is HttpOnly, SameSite=Strict and Path=/. The session cookie holds the random token
whose hash the database keeps (:mod:`bot.agents.accounts`); notices (what the last action did,
shown once after a redirect) are signed, so no other page can plant words in the console.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from sanic.request import Request
from sanic.response import HTTPResponse

from bot.db import utcnow

SESSION_COOKIE = "console_session"
LOGIN_CSRF_COOKIE = "console_login_csrf"
NOTICE_COOKIE = "console_notice"
NOTICE_SECONDS = 120


@dataclass(frozen=True)
class Notice:
    """Shown at the top of the next page: ``done`` as a success, ``problem`` as a warning."""

    done: str | None = None
    problem: str | None = None


def set_cookie(
    response: HTTPResponse, name: str, value: str, *, max_age: int | None = None
) -> None:
    response.cookies[name] = value
    cookie = response.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = "/"
    if max_age is not None:
        cookie["max-age"] = max(0, max_age)


def clear_cookie(response: HTTPResponse, name: str) -> None:
    set_cookie(response, name, "", max_age=0)


def set_session_cookie(response: HTTPResponse, token: str, expires_at: datetime) -> None:
    set_cookie(response, SESSION_COOKIE, token,
               max_age=int((expires_at - utcnow()).total_seconds()))


def new_token() -> str:
    return secrets.token_urlsafe(32)


class NoticeSigner:
    """Signs notices with a key made at start-up (a restart only drops notices in flight)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def attach(self, response: HTTPResponse, notice: Notice) -> None:
        payload = base64.urlsafe_b64encode(
            json.dumps({"done": notice.done, "problem": notice.problem}).encode()
        ).decode()
        set_cookie(response, NOTICE_COOKIE, f"{payload}.{self._sign(payload)}",
                   max_age=NOTICE_SECONDS)

    def read(self, request: Request) -> Notice | None:
        raw = request.cookies.get(NOTICE_COOKIE) or ""
        payload, _, signature = raw.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        except ValueError:
            return None
        return Notice(_text(data.get("done")), _text(data.get("problem")))

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

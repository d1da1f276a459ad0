"""What keeps the console's pages and cookies safe in a browser: response headers and cookies.

Every response carries :func:`security_headers`: a Content-Security-Policy that lets a page load
scripts, styles and connections from the console only (its one script and stylesheet are files
under ``/static``; no inline code anywhere), refuses framing, and sends no referrer.

Every cookie is HttpOnly, SameSite=Strict and Path=/, and Secure when the console is served over
HTTPS (``CONSOLE_PUBLIC_URL``). The session cookie holds the random token whose hash the database
keeps (:mod:`bot.agents.accounts`); notices (what the last action did, shown once after a
redirect) are signed, so no other page can plant words in the console; a known-browser cookie
(signed) marks a browser an agent has logged in with, so that its logins are throttled on their
own (:mod:`bot.agents.throttle`).
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

# The console's pages use their own /static/console.js and /static/console.css, forms that post
# to the console, and the live stream (/events); nothing else is allowed.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HSTS_SECONDS = 365 * 24 * 3600


def security_headers(*, https: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if https:
        headers["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}"
    return headers


SESSION_COOKIE = "console_session"
LOGIN_CSRF_COOKIE = "console_login_csrf"
NOTICE_COOKIE = "console_notice"
KNOWN_BROWSER_COOKIE = "console_known_browser"
NOTICE_SECONDS = 120
KNOWN_BROWSER_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Notice:
    """Shown at the top of the next page: ``done`` as a success, ``problem`` as a warning."""

    done: str | None = None
    problem: str | None = None


class Cookies:
    """Sets and clears the console's cookies, Secure when it is served over HTTPS."""

    def __init__(self, *, secure: bool = False) -> None:
        self.secure = secure

    def set(
        self, response: HTTPResponse, name: str, value: str, *, max_age: int | None = None
    ) -> None:
        response.cookies[name] = value
        cookie = response.cookies[name]
        cookie["httponly"] = True
        cookie["samesite"] = "Strict"
        cookie["path"] = "/"
        if self.secure:
            cookie["secure"] = True
        if max_age is not None:
            cookie["max-age"] = max(0, max_age)

    def clear(self, response: HTTPResponse, name: str) -> None:
        self.set(response, name, "", max_age=0)

    def set_session(self, response: HTTPResponse, token: str, expires_at: datetime) -> None:
        self.set(response, SESSION_COOKIE, token,
                 max_age=int((expires_at - utcnow()).total_seconds()))


def new_token() -> str:
    return secrets.token_urlsafe(32)


class NoticeSigner:
    """Signs notices with a key made at start-up (a restart only drops notices in flight)."""

    def __init__(self, cookies: Cookies, key: bytes | None = None) -> None:
        self._cookies = cookies
        self._key = key or secrets.token_bytes(32)

    def attach(self, response: HTTPResponse, notice: Notice) -> None:
        payload = base64.urlsafe_b64encode(
            json.dumps({"done": notice.done, "problem": notice.problem}).encode()
        ).decode()
        self._cookies.set(response, NOTICE_COOKIE, f"{payload}.{self._sign(payload)}",
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


@dataclass(frozen=True)
class KnownBrowser:
    """A browser ``username`` logged in with; ``id`` names it to the login throttle."""

    id: str
    username: str


class KnownBrowsers:
    """Marks the browser of a successful login with a signed cookie naming the agent.

    The key is made at start-up, like the login throttle's counts a restart forgets: after a
    restart every browser counts as new again until its next login.
    """

    def __init__(self, cookies: Cookies, key: bytes | None = None) -> None:
        self._cookies = cookies
        self._key = key or secrets.token_bytes(32)

    def remember(self, response: HTTPResponse, request: Request, username: str) -> None:
        known = self.read(request)
        browser_id = known.id if known else secrets.token_urlsafe(16)
        self._cookies.set(
            response, KNOWN_BROWSER_COOKIE,
            f"{browser_id}.{self._sign(browser_id, username)}.{username}",
            max_age=KNOWN_BROWSER_SECONDS,
        )

    def read(self, request: Request) -> KnownBrowser | None:
        parts = (request.cookies.get(KNOWN_BROWSER_COOKIE) or "").split(".", 2)
        if len(parts) != 3:
            return None
        browser_id, signature, username = parts
        if not hmac.compare_digest(signature, self._sign(browser_id, username)):
            return None
        return KnownBrowser(browser_id, username)

    def _sign(self, browser_id: str, username: str) -> str:
        message = f"{browser_id}\n{username}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

"""Starting the product: the environment every process shares, and the "ready" announcement.

``make run`` ends in :func:`run`, which fills in defaults for every setting that is not already in
the environment and hands over to honcho (``Procfile``): the action server, the Rasa server, the
agent console, and a small process that waits until all of them answer and then prints where
everything is.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from bot.content import REPO_ROOT
from bot.db import database_url, display_url

DEFAULT_RASA_PORT = 5005
DEFAULT_ACTIONS_PORT = 5055
DEFAULT_CONSOLE_PORT = 5006


@dataclass(frozen=True)
class Settings:
    rasa_port: int
    actions_port: int
    console_port: int
    rasa_api_token: str
    database_url: str
    tracker_store_url: str

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    @property
    def action_server_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}/webhook"

    def environment(self) -> dict[str, str]:
        """The variables the Procfile and endpoints.yml read."""
        return {
            "RASA_PORT": str(self.rasa_port),
            "ACTIONS_PORT": str(self.actions_port),
            "CONSOLE_PORT": str(self.console_port),
            "RASA_API_TOKEN": self.rasa_api_token,
            "DATABASE_URL": self.database_url,
            "TRACKER_STORE_URL": self.tracker_store_url,
            "ACTION_SERVER_URL": self.action_server_url,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }


def settings_from(environ: Mapping[str, str]) -> Settings:
    """Settings from ``environ``, with defaults for what is missing.

    Raises ValueError with the variable's name for a value that cannot be used.
    """
    return Settings(
        rasa_port=_port(environ, "RASA_PORT", DEFAULT_RASA_PORT),
        actions_port=_port(environ, "ACTIONS_PORT", DEFAULT_ACTIONS_PORT),
        console_port=_port(environ, "CONSOLE_PORT", DEFAULT_CONSOLE_PORT),
        # Rasa's HTTP API can replace the model and rewrite conversations: never run it open.
        rasa_api_token=environ.get("RASA_API_TOKEN") or secrets.token_urlsafe(24),
        database_url=environ.get("DATABASE_URL") or database_url(),
        tracker_store_url=environ.get("TRACKER_STORE_URL")
        or f"sqlite:///{REPO_ROOT / 'var' / 'tracker.db'}",
    )


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError(f"{name} must be a port number from 1 to 65535, not {raw!r}")
    return int(raw)


def run(environ: Mapping[str, str] | None = None) -> None:
    """Replace this process with honcho running the Procfile (Ctrl-C stops everything)."""
    settings = settings_from(os.environ if environ is None else environ)
    env = {**os.environ, **settings.environment()}
    honcho = shutil.which("honcho", path=str(REPO_ROOT / ".venv" / "bin")) or "honcho"
    os.chdir(REPO_ROOT)
    os.execvpe(honcho, [honcho, "start", "--procfile", "Procfile"], env)


def wait_until_ready(settings: Settings, timeout: float = 300.0) -> bool:
    """Poll the servers (Rasa, actions, console) until they answer, or ``timeout`` seconds pass."""
    checks = [
        f"{settings.rasa_url}/status?token={settings.rasa_api_token}",
        f"http://127.0.0.1:{settings.actions_port}/health",
        f"{settings.console_url}/health",
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_answers(url) for url in checks):
            return True
        time.sleep(1.0)
    return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def announcement(settings: Settings) -> str:
    rasa = settings.rasa_url
    return "\n".join(
        [
            "",
            "The Lorex reset assistant is ready.",
            f"  Web chat demo:    {rasa}/webhooks/widget/demo",
            f"  Chat (REST):      POST {rasa}/webhooks/rest/webhook",
            f"                    curl -s {rasa}/webhooks/rest/webhook "
            f'-d \'{{"sender": "me", "message": "hi"}}\'',
            f"  Chat (socket.io): {rasa}/socket.io",
            f"  Rasa HTTP API:    {rasa}/status?token={settings.rasa_api_token}",
            f"  Action server:    http://127.0.0.1:{settings.actions_port}/health",
            f"  Product database: {display_url(settings.database_url)}",
            f"  Agent console:    {settings.console_url}",
            "                    create an agent with: "
            ".venv/bin/python -m bot.cli agent add alice --name Alice",
            "Press Ctrl-C to stop.",
            "",
        ]
    )


def announce(environ: Mapping[str, str] | None = None) -> int:
    """The Procfile's ``ready`` process: print the URLs once the servers answer, then idle
    (honcho stops every process when one of them exits)."""
    settings = settings_from(os.environ if environ is None else environ)
    if not wait_until_ready(settings):
        print("The servers did not answer within 5 minutes; see the log above.", file=sys.stderr)
        return 1
    print(announcement(settings), flush=True)
    while True:
        time.sleep(3600)

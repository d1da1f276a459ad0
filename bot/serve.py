"""Starting the product: the environment every process shares, and the "ready" announcement.

``make run`` ends in :func:`run`, which fills in defaults for every setting that is not already in
the environment and runs the ``Procfile`` under :mod:`bot.supervisor` (the action server, the
Rasa server and the agent console; one that dies is started again), then prints where everything
is once all of them answer.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.content import REPO_ROOT
from bot.db import database_url, display_url

DEFAULT_RASA_PORT = 5005
DEFAULT_ACTIONS_PORT = 5055
DEFAULT_CONSOLE_PORT = 5006
# A case still collecting details with no message from the owner for this long is abandoned.
DEFAULT_CASE_COLLECTING_TIMEOUT = timedelta(minutes=30)

if TYPE_CHECKING:
    from sanic import Sanic


@dataclass(frozen=True)
class Settings:
    rasa_port: int
    actions_port: int
    console_port: int
    rasa_api_token: str
    action_server_token: str
    database_url: str
    tracker_store_url: str
    case_collecting_timeout: timedelta = DEFAULT_CASE_COLLECTING_TIMEOUT

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
            "ACTION_SERVER_TOKEN": self.action_server_token,
            "DATABASE_URL": self.database_url,
            "TRACKER_STORE_URL": self.tracker_store_url,
            "CASE_COLLECTING_TIMEOUT_MINUTES": str(
                round(self.case_collecting_timeout.total_seconds() / 60)
            ),
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
        # The action server runs actions that change cases: it answers only the holder of this.
        action_server_token=environ.get("ACTION_SERVER_TOKEN") or secrets.token_urlsafe(32),
        database_url=environ.get("DATABASE_URL") or database_url(),
        tracker_store_url=environ.get("TRACKER_STORE_URL")
        or f"sqlite:///{REPO_ROOT / 'var' / 'tracker.db'}",
        case_collecting_timeout=_minutes(
            environ, "CASE_COLLECTING_TIMEOUT_MINUTES", DEFAULT_CASE_COLLECTING_TIMEOUT
        ),
    )


def _minutes(environ: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of minutes of at least 1, not {raw!r}")
    return timedelta(minutes=int(raw))


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError(f"{name} must be a port number from 1 to 65535, not {raw!r}")
    return int(raw)


def sweep_stale_cases_in(app: Sanic, settings: Settings, interval: timedelta | None = None) -> None:
    """Run the stale-case sweeper (:mod:`bot.cases.stale`) while ``app`` (the agent console)
    serves: started once the server is up, cancelled when it stops."""
    from bot.cases.stale import SWEEP_INTERVAL, sweep_cases_periodically
    from bot.cases.store import CaseStore
    from bot.db import Database

    database = Database(settings.database_url)
    sweeper: dict[str, asyncio.Task[None]] = {}

    async def start(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        sweeper["task"] = asyncio.create_task(
            sweep_cases_periodically(
                CaseStore(database), settings.case_collecting_timeout, interval or SWEEP_INTERVAL
            )
        )

    async def stop(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        task = sweeper.pop("task", None)
        if task is not None:
            task.cancel()
        database.dispose()

    app.register_listener(start, "after_server_start")
    app.register_listener(stop, "before_server_stop")


def run(environ: Mapping[str, str] | None = None) -> int:
    """Run the Procfile's programs until Ctrl-C or SIGTERM, starting again any that dies, and
    announce once that everything answers. The exit code: 128 + the stopping signal's number."""
    from bot.supervisor import Supervisor, programs_from_procfile

    settings = settings_from(os.environ if environ is None else environ)
    supervisor = Supervisor(
        programs_from_procfile(REPO_ROOT / "Procfile"),
        env={**os.environ, **settings.environment()},
        cwd=REPO_ROOT,
        when_started=lambda say: announce_when_ready(settings, say),
    )
    return asyncio.run(supervisor.run())


def _health_checks(settings: Settings) -> list[str]:
    return [
        f"{settings.rasa_url}/status?token={settings.rasa_api_token}",
        f"http://127.0.0.1:{settings.actions_port}/health",
        f"{settings.console_url}/health",
    ]


def _all_answer(settings: Settings) -> bool:
    return all(_answers(url) for url in _health_checks(settings))


def wait_until_ready(settings: Settings, timeout: float = 300.0) -> bool:
    """Poll the servers (Rasa, actions, console) until they answer, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _all_answer(settings):
            return True
        time.sleep(1.0)
    return False


async def announce_when_ready(
    settings: Settings, say: Callable[[str], None], timeout: float = 300.0
) -> None:
    """Say where everything is once the servers answer (polled off the event loop, so stopping
    the product never waits for a poll longer than one request's timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(_all_answer, settings):
            for line in announcement(settings).splitlines():
                say(line)
            return
        await asyncio.sleep(1.0)
    say(f"The servers did not answer within {timeout / 60:.0f} minutes; see the log above.")


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
    """Print the URLs once the servers answer (for scripts waiting on a running product)."""
    settings = settings_from(os.environ if environ is None else environ)
    if not wait_until_ready(settings):
        print("The servers did not answer within 5 minutes; see the log above.", file=sys.stderr)
        return 1
    print(announcement(settings), flush=True)
    return 0

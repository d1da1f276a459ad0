"""Starting the product: the environment every process shares, and the "ready" announcement.

``make run`` ends in :func:`run`, which fills in defaults for every setting that is not already in
the environment and runs the ``Procfile`` under :mod:`bot.supervisor` (the action server, the
Rasa server and the agent console; one that dies is started again), then prints where everything
is once all of them answer.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.db import display_url
from bot.settings import REPO_ROOT, Settings
from bot.settings import settings_from as parsed_settings_from

if TYPE_CHECKING:
    from sanic import Sanic

    from bot.db import Database

__all__ = ["Settings", "announce", "announcement", "run", "settings_from", "wait_until_ready"]


def settings_from(environ: Mapping[str, str]) -> Settings:
    """The settings ``make run`` starts the product with: ``environ``'s (see :mod:`bot.settings`),
    with a fresh secret drawn for each token left unset.

    Raises ValueError with the variable's name for a value that cannot be used.
    """
    settings = parsed_settings_from(environ)
    return replace(
        settings,
        # Rasa's HTTP API can replace the model and rewrite conversations: never run it open.
        rasa_api_token=settings.rasa_api_token or secrets.token_urlsafe(24),
        # The action server runs actions that change cases: it answers only the holder of this.
        action_server_token=settings.action_server_token or secrets.token_urlsafe(32),
    )


def sweep_stale_cases_in(
    app: Sanic, database: Database, timeout: timedelta, interval: timedelta | None = None
) -> None:
    """Run the stale-case sweeper (:mod:`bot.cases.stale`) on ``database`` while ``app`` (the
    agent console) serves: started once the server is up, cancelled when it stops. A case still
    collecting details with no word from its owner for ``timeout`` is closed."""
    from bot.cases.stale import SWEEP_INTERVAL, sweep_cases_periodically
    from bot.cases.store import CaseStore

    sweeper: dict[str, asyncio.Task[None]] = {}

    async def start(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        sweeper["task"] = asyncio.create_task(
            sweep_cases_periodically(
                CaseStore(database), timeout, interval or SWEEP_INTERVAL
            )
        )

    async def stop(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        task = sweeper.pop("task", None)
        if task is not None:
            task.cancel()

    app.register_listener(start, "after_server_start")
    app.register_listener(stop, "before_server_stop")


def run(environ: Mapping[str, str]) -> int:
    """Run the Procfile's programs until Ctrl-C or SIGTERM, starting again any that dies, and
    announce once that everything answers. The exit code: 128 + the stopping signal's number."""
    from bot.supervisor import Supervisor, programs_from_procfile

    settings = settings_from(environ)
    health = {
        "rasa": f"{settings.rasa_url}/",
        "actions": f"http://127.0.0.1:{settings.actions_port}/health",
        "console": f"{settings.console_url}/health",
    }
    supervisor = Supervisor(
        [
            replace(program, health_url=health.get(program.name))
            for program in programs_from_procfile(REPO_ROOT / "Procfile")
        ],
        # The whole environment (PATH, HOME, ...) with the settings: each program reads them back.
        env={**environ, **settings.environment()},
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


def _all_answer(settings: Settings, checks: Sequence[str] | None = None) -> bool:
    return all(_answers(url) for url in checks or _health_checks(settings))


def wait_until_ready(
    settings: Settings, timeout: float = 300.0, checks: Sequence[str] | None = None
) -> bool:
    """Poll the servers (Rasa, actions, console; or the ``checks`` URLs) until they answer, or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _all_answer(settings, checks):
            return True
        time.sleep(1.0)
    return False


async def announce_when_ready(
    settings: Settings,
    say: Callable[[str], None],
    timeout: float = 300.0,
    *,
    checks: Sequence[str] | None = None,
    more: Sequence[str] = (),
) -> None:
    """Say where everything is once the servers answer (polled off the event loop, so stopping
    the product never waits for a poll longer than one request's timeout). ``checks``: the
    health URLs (default: `make run`'s servers); ``more``: lines the announcement adds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(_all_answer, settings, checks):
            for line in announcement(settings, more).splitlines():
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


def announcement(settings: Settings, more: Sequence[str] = ()) -> str:
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
            *more,
            "Press Ctrl-C to stop.",
            "",
        ]
    )


def announce(environ: Mapping[str, str]) -> int:
    """Print the URLs once the servers answer (for scripts waiting on a running product)."""
    settings = settings_from(environ)
    if not wait_until_ready(settings):
        print("The servers did not answer within 5 minutes; see the log above.", file=sys.stderr)
        return 1
    print(announcement(settings), flush=True)
    return 0

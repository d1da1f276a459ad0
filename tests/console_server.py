"""A real agent console for tests: the Sanic app served on a free port in a background thread,
over a test database, with a Rasa address where nothing listens (so every push to the user fails
the way it does when the assistant is down), or a running product's assistant."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from argon2 import PasswordHasher
from sanic import Sanic

from bot.agents.accounts import AgentAccounts
from bot.agents.throttle import MemoryThrottle
from bot.console.app import Console, create_app
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.delivery import Outbox
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords, PasswordProvider, SecretHasher

# Real argon2id, with parameters cheap enough for a test suite on a busy machine.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RunningConsole:
    url: str
    console: Console
    clock: FakeClock
    _stop: Callable[[], None] = field(repr=False)

    def stop(self) -> None:
        self._stop()


def start_console(
    database: Database,
    *,
    provider: PasswordProvider | None = None,
    poll_seconds: float = 0.2,
    hasher: PasswordHasher = CHEAP_HASHER,
    public_url: str = "",
    rasa_url: str | None = None,
    api_token: str = "no-token",
) -> RunningConsole:
    clock = FakeClock()
    desk = SupportDesk(
        database,
        centre=load_support_centre(),
        provider=provider or GeneratedPasswords(),
        hasher=SecretHasher(CHEAP_HASHER),
    )
    console = Console(
        accounts=AgentAccounts(database, hasher=hasher),
        agent_desk=AgentDesk(
            desk, RasaBridge(rasa_url or f"http://127.0.0.1:{free_port()}", api_token)
        ),
        outbox=Outbox(database),
        throttle=MemoryThrottle(clock=clock),
        poll_seconds=poll_seconds,
        public_url=public_url,
    )
    port = free_port()
    # Sanic rewrites its HTTP class when an app starts; test mode keeps the original, so that
    # several apps can start in one process.
    Sanic.test_mode = True
    app = create_app(console, name=f"console_test_{port}", configure_logging=False)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(
            app.create_server(
                host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
            )
        )
        loop.run_until_complete(server.startup())
        loop.run_until_complete(server.before_start())
        loop.run_until_complete(server.after_start())
        holder["server"] = server
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name=f"console-{port}", daemon=True)
    thread.start()
    if not ready.wait(20):
        raise RuntimeError("the console did not start within 20 seconds")

    def stop() -> None:
        async def shut_down() -> None:
            server = holder["server"]
            await server.before_stop()
            await server.close()
            await server.after_stop()
            current = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not current:
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shut_down(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)
        loop.close()

    return RunningConsole(f"http://127.0.0.1:{port}", console, clock, stop)


class Browser:
    """An agent's browser, minus JavaScript: a cookie jar that knows the page's CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.page = ""

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.get(self.base + path, timeout=30, **kwargs)
        self.page = response.text
        return response

    def csrf(self) -> str:
        found = CSRF.search(self.page)
        assert found, "no CSRF token on the last page"
        return found.group(1)

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
             **kwargs: Any) -> requests.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf())
        response = self.http.post(self.base + path, data=form, timeout=30, **kwargs)
        self.page = response.text
        return response

    def log_in(self, username: str, password: str = PASSWORD) -> requests.Response:
        self.get("/login")
        return self.post("/login", {"username": username, "password": password})

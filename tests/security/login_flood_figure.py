# mypy: disable-error-code="import-untyped"
"""The figure for the login throttle: how many passwords a parallel login flood gets checked.

``python -m tests.security.login_flood_figure`` serves the real console on a temporary SQLite
file with argon2id at its production parameters (no probe holding the checks, unlike the test),
sends 30 and then 60 logins for one account at once (all wrong but the last one sent), and
prints how many passwords argon2 checked and whether the flood got in.
"""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.agents.accounts import AgentAccounts
from bot.db import Database, migrate
from tests.console_server import PASSWORD, start_console
from tests.security.test_console import (
    WRONG,
    CountingHasher,
    logged_in,
    login_form_token,
    post_login,
)


def flood(size: int, folder: Path) -> str:
    url = f"sqlite:///{folder / f'flood-{size}.db'}"
    migrate(url)
    database = Database(url)
    hasher = CountingHasher()  # argon2id's defaults: what the console runs with
    AgentAccounts(database, hasher=hasher).create("alice", "Alice", PASSWORD)
    running = start_console(database, hasher=hasher)
    try:
        csrf = login_form_token(running.url)
        start = threading.Barrier(size)
        passwords = [WRONG.format(number) for number in range(size - 1)] + [PASSWORD]

        def attempt(password: str) -> bool:
            start.wait()
            return logged_in(post_login(running.url, csrf, "alice", password))

        with ThreadPoolExecutor(max_workers=size) as pool:
            got_in = any(pool.map(attempt, passwords))
    finally:
        running.stop()
        database.dispose()
    return (f"flood of {size}: {hasher.checks} passwords checked, "
            f"{'got in' if got_in else 'kept out'}")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for size in (30, 60):
            print(flood(size, Path(folder)))


if __name__ == "__main__":
    main()

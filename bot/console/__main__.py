"""``python -m bot.console``: the agent console on 127.0.0.1:$CONSOLE_PORT (default 5006).

Reads ``DATABASE_URL``, ``RASA_PORT``, ``RASA_API_TOKEN`` (to reach the assistant),
``TEMP_PASSWORD_PROVIDER`` / ``TEMP_PASSWORD_LENGTH`` / ``TEMP_PASSWORD_ALPHABET`` (where temporary
passwords come from) and ``CONSOLE_SESSION_HOURS`` (how long a login lasts, default 8). A setting
that cannot be used stops it with one line naming the variable (exit code 2).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import timedelta

from bot.agents.accounts import DEFAULT_SESSION_LIFETIME, AgentAccounts
from bot.console.app import Console, create_app
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import provider_from
from bot.serve import Settings, settings_from

EXIT_BAD_SETTING = 2


def session_lifetime(environ: Mapping[str, str]) -> timedelta:
    raw = environ.get("CONSOLE_SESSION_HOURS", "").strip()
    if not raw:
        return DEFAULT_SESSION_LIFETIME
    try:
        hours = float(raw)
    except ValueError:
        hours = 0.0
    if not 0 < hours <= 24 * 7:
        raise ValueError(f"CONSOLE_SESSION_HOURS must be a number of hours up to 168, not {raw!r}")
    return timedelta(hours=hours)


def build_console(environ: Mapping[str, str]) -> tuple[Console, Settings]:
    """The console's parts from ``environ``; ValueError names a variable that cannot be used."""
    settings = settings_from(environ)
    provider = provider_from(environ)
    database = Database(settings.database_url)
    desk = SupportDesk(database, centre=load_support_centre(), provider=provider)
    bridge = RasaBridge(settings.rasa_url, settings.rasa_api_token)
    accounts = AgentAccounts(database, session_lifetime=session_lifetime(environ))
    return Console(accounts=accounts, agent_desk=AgentDesk(desk, bridge)), settings


def main() -> int:
    try:
        console, settings = build_console(os.environ)
    except ValueError as exc:
        print(f"python -m bot.console: error: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTING
    if not os.environ.get("RASA_API_TOKEN"):
        print(
            "python -m bot.console: warning: RASA_API_TOKEN is not set, so the console cannot "
            "reach the assistant; start it with `python -m bot.cli run`",
            file=sys.stderr,
        )
    app = create_app(console)
    app.run(host="127.0.0.1", port=settings.console_port, access_log=True, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

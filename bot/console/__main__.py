"""``python -m bot.console``: the agent console on 127.0.0.1:$CONSOLE_PORT (default 5006).

Reads ``DATABASE_URL``, ``RASA_PORT``, ``RASA_API_TOKEN`` (to reach the assistant),
``TEMP_PASSWORD_PROVIDER`` / ``TEMP_PASSWORD_LENGTH`` / ``TEMP_PASSWORD_ALPHABET`` (where temporary
passwords come from), ``CONSOLE_SESSION_HOURS`` (how long a login lasts, default 8) and
``CONSOLE_PUBLIC_URL`` (where agents open it; ``https://`` makes its cookies Secure). A setting
that cannot be used stops it with one line naming the variable (exit code 2).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlsplit

from bot.agents.accounts import DEFAULT_SESSION_LIFETIME, AgentAccounts
from bot.console.app import Console, create_app
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.delivery import Outbox
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import provider_from
from bot.serve import Settings, settings_from, sweep_stale_cases_in

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


def public_url(environ: Mapping[str, str]) -> str:
    """``CONSOLE_PUBLIC_URL``: the address agents open the console at (a proxy in front of
    it), without a path; empty when unset (the console is only opened on this machine)."""
    raw = environ.get("CONSOLE_PUBLIC_URL", "").strip()
    if not raw:
        return ""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parts = urlsplit("")
    if parts.username or parts.password:  # never echo a password into the log
        raise ValueError("CONSOLE_PUBLIC_URL must not carry a user name or password")
    if not (
        parts.scheme in ("http", "https")
        and parts.hostname
        and parts.path in ("", "/")
        and not (parts.query or parts.fragment)
    ):
        raise ValueError(
            "CONSOLE_PUBLIC_URL must be the console's address starting with https:// (or "
            f"http://), such as https://console.example.com, not {raw!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def build_console(environ: Mapping[str, str]) -> tuple[Console, Settings]:
    """The console's parts from ``environ``; ValueError names a variable that cannot be used."""
    settings = settings_from(environ)
    provider = provider_from(environ)
    database = Database(settings.database_url)
    desk = SupportDesk(database, centre=load_support_centre(), provider=provider)
    bridge = RasaBridge(settings.rasa_url, settings.rasa_api_token)
    accounts = AgentAccounts(database, session_lifetime=session_lifetime(environ))
    console = Console(
        accounts=accounts,
        agent_desk=AgentDesk(desk, bridge),
        outbox=Outbox(database),
        public_url=public_url(environ),
    )
    return console, settings


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
    sweep_stale_cases_in(app, settings)  # closes cases the owner walked away from
    app.run(host="127.0.0.1", port=settings.console_port, access_log=True, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bot.console``: the agent console on 127.0.0.1:$CONSOLE_PORT (default 5006).

Reads its settings once (:mod:`bot.settings`): ``DATABASE_URL``, ``RASA_PORT``,
``RASA_API_TOKEN`` (to reach the assistant), ``TEMP_PASSWORD_PROVIDER`` /
``TEMP_PASSWORD_LENGTH`` / ``TEMP_PASSWORD_ALPHABET`` (where temporary passwords come from),
``CONSOLE_SESSION_HOURS`` (how long a login lasts, default 8), ``CONSOLE_PUBLIC_URL`` (where
agents open it; ``https://`` makes its cookies Secure) and ``CASE_COLLECTING_TIMEOUT_MINUTES``
(the stale-case sweeper). Its parts are built by :func:`bot.bootstrap.build_console_process`. A
setting that cannot be used stops it with one line naming the variable (exit code 2).
"""

from __future__ import annotations

import os
import sys

from bot.bootstrap import console_from
from bot.console.app import create_app
from bot.serve import sweep_stale_cases_in

EXIT_BAD_SETTING = 2


def main() -> int:
    try:
        process = console_from(os.environ)
    except ValueError as exc:
        print(f"python -m bot.console: error: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTING
    settings = process.settings
    if not settings.rasa_api_token:
        print(
            "python -m bot.console: warning: RASA_API_TOKEN is not set, so the console cannot "
            "reach the assistant; start it with `python -m bot.cli run`",
            file=sys.stderr,
        )
    app = create_app(process.console)
    # Closes cases the owner walked away from, on the console's one database.
    sweep_stale_cases_in(app, process.database, settings.case_collecting_timeout)
    app.run(host="127.0.0.1", port=settings.console_port, access_log=True, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

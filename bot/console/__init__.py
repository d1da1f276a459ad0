"""The agent console: the web app support agents use to work the handoff queue.

Run it with ``python -m bot.console`` (the Procfile does): it serves the live queue, each case's
conversation, registry record, verification card, release history and audit trail, and the
actions (claim, release a temporary password, reject, message the user, take over, hand back,
put back) on 127.0.0.1 at ``$CONSOLE_PORT``. See :mod:`bot.console.app`.
"""

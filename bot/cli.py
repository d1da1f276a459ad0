"""Maintenance commands: ``python -m bot.cli <command>``.

    migrate             bring the database schema up to date (alembic upgrade head)
    seed [--csv PATH]   add or update registered devices from a CSV (default data/devices.csv)
    run                 start the action server, the Rasa server and the agent console, and
                        start again any that dies (what `make run` ends in; Ctrl-C stops)
    cluster             as run, with several Rasa instances behind HAProxy, on PostgreSQL and
                        Redis (what `make cluster` ends in; see bot/cluster/deployment.py)
    announce            wait until the servers answer, then print their URLs (for scripts)
    agent add USERNAME --name "Display Name" [--password-stdin]
                        create a support agent's console account (asks for the password twice)
    report [--days N]   the support queue and its outcomes over the last N days (default 7)
    sweep-cases         close cases still collecting details whose owner has not written for
                        $CASE_COLLECTING_TIMEOUT_MINUTES (default 30); the console does this
                        every minute, this is for cron when the console is not running

Each command prints one line saying what it did (``report`` prints the report). Problems print
one line on stderr, no traceback: exit code 2 for bad input (a missing or malformed file, a bad
username or password), 1 for a database that cannot be used.

To add a command: write ``_add_<name>(subcommands)`` that adds its parser and sets ``run`` to a
function taking the parsed arguments and returning the exit code, and list it in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError  # type: ignore[import-untyped]

from bot.content import DATA_DIR, REPO_ROOT, ContentError
from bot.db import Database, database_url, display_url, migrate, schema_revision

EXIT_OK = 0
EXIT_UNUSABLE_DATABASE = 1
EXIT_BAD_INPUT = 2

DEFAULT_DEVICES_CSV = DATA_DIR / "devices.csv"


class CommandError(Exception):
    """A problem the user can fix; its message is printed as it is, on one line."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _run_migrate(args: argparse.Namespace) -> int:
    url: str = args.database_url
    before = schema_revision(url)
    after = migrate(url)
    if before == after:
        print(f"Database at {display_url(url)}: schema up to date (revision {after})")
    else:
        start = f"revision {before}" if before else "an empty database"
        print(f"Database at {display_url(url)}: schema upgraded from {start} to revision {after}")
    return EXIT_OK


def _add_migrate(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("migrate", help="bring the database schema up to date")
    parser.set_defaults(run=_run_migrate)


def _run_seed(args: argparse.Namespace) -> int:
    # Imported here: the registry loads the Device ID formats, which `migrate` does not need.
    from bot.devices.registry import DeviceRegistry

    csv_path: Path = args.csv
    if not csv_path.is_file():
        raise CommandError(f"{_shown(csv_path)}: no such file")
    database = Database(args.database_url)
    try:
        if not database.has_table("devices"):
            raise CommandError(
                f"Database at {display_url(database.url)} has no schema yet; "
                "run `python -m bot.cli migrate` first",
                EXIT_UNUSABLE_DATABASE,
            )
        registry = DeviceRegistry(database)
        result = registry.seed_from_csv(csv_path)
        total = registry.count()
    finally:
        database.dispose()
    print(f"Registry: {total} devices ({result.added} added, {result.updated} updated)")
    return EXIT_OK


def _add_seed(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "seed", help="add or update registered devices from a CSV file"
    )
    parser.add_argument(
        "--csv",
        type=Path,
        default=DEFAULT_DEVICES_CSV,
        metavar="PATH",
        help=f"the devices CSV (default: {_shown(DEFAULT_DEVICES_CSV)})",
    )
    parser.set_defaults(run=_run_seed)


def _run_run(args: argparse.Namespace) -> int:
    from bot import serve

    try:
        return serve.run({**os.environ, "DATABASE_URL": args.database_url})
    except ValueError as exc:  # a setting that cannot be used, named in the message
        raise CommandError(str(exc)) from exc


def _add_run(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "run", help="start the assistant's servers and the agent console (Ctrl-C stops)"
    )
    parser.set_defaults(run=_run_run)


def _run_cluster(args: argparse.Namespace) -> int:
    from bot.cluster import deployment

    environ = dict(os.environ)
    if args.database_url_given:
        environ["DATABASE_URL"] = args.database_url
    try:
        return deployment.run(environ)
    except ValueError as exc:  # a setting that cannot be used, named in the message
        raise CommandError(str(exc)) from exc


def _add_cluster(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "cluster",
        help="start several Rasa instances behind HAProxy on PostgreSQL and Redis (Ctrl-C stops)",
    )
    parser.set_defaults(run=_run_cluster)


def _run_announce(args: argparse.Namespace) -> int:
    from bot import serve

    try:
        return serve.announce({**os.environ, "DATABASE_URL": args.database_url})
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _add_announce(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("announce", help="print the URLs once the servers answer")
    parser.set_defaults(run=_run_announce)


def _require_schema(database: Database, table: str) -> None:
    if not database.has_table(table):
        raise CommandError(
            f"Database at {display_url(database.url)} has no {table} table yet; "
            "run `python -m bot.cli migrate` first",
            EXIT_UNUSABLE_DATABASE,
        )


def _new_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise CommandError("--password-stdin: no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password; use --password-stdin")
    password = getpass.getpass(f"Password for {args.username}: ")
    if getpass.getpass("The same password again: ") != password:
        raise CommandError("the two passwords differ; nothing was created")
    return password


def _run_agent_add(args: argparse.Namespace) -> int:
    from bot.agents.accounts import AccountError, AgentAccounts, normalise_username
    from bot.settings import settings_from

    try:
        normalise_username(args.username)  # before asking for a password
        console_url = settings_from(os.environ).console_url
    except (AccountError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    password = _new_password(args)
    database = Database(args.database_url)
    try:
        _require_schema(database, "agents")
        try:
            agent = AgentAccounts(database).create(args.username, args.name, password)
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
    finally:
        database.dispose()
    print(
        f"Agent {agent.username} ({agent.display_name}) created; "
        f"they can log in to the console at {console_url}"
    )
    return EXIT_OK


def _add_agent(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("agent", help="manage support agents' console accounts")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create an agent account")
    add.add_argument("username", metavar="USERNAME", help="what the agent logs in with")
    add.add_argument(
        "--name", required=True, metavar="NAME", help="the name users see in the chat"
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (for scripts)",
    )
    add.set_defaults(run=_run_agent_add)


def _run_report(args: argparse.Namespace) -> int:
    from bot.handoff.report import build_report, render_report

    if args.days < 1:
        raise CommandError(f"--days must be at least 1, not {args.days}")
    database = Database(args.database_url)
    try:
        _require_schema(database, "case_events")
        report = build_report(database, days=args.days)
    finally:
        database.dispose()
    print(render_report(report))
    return EXIT_OK


def _add_report(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "report", help="the support queue and its outcomes (time to claim, to release ...)"
    )
    parser.add_argument(
        "--days", type=int, default=7, metavar="N", help="the period, in days (default 7)"
    )
    parser.set_defaults(run=_run_report)


def _run_sweep_cases(args: argparse.Namespace) -> int:
    from bot.cases.stale import abandon_stale_cases, timeout_words
    from bot.cases.store import CaseStore
    from bot.settings import settings_from

    try:
        timeout = settings_from(os.environ).case_collecting_timeout
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    database = Database(args.database_url)
    try:
        _require_schema(database, "support_cases")
        closed = abandon_stale_cases(CaseStore(database), timeout)
    finally:
        database.dispose()
    cases = "case" if len(closed) == 1 else "cases"
    print(
        f"Closed {len(closed)} stale {cases} (collecting with no message from the owner for "
        f"{timeout_words(timeout)})"
    )
    return EXIT_OK


def _add_sweep_cases(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "sweep-cases",
        help="close cases still collecting details whose owner stopped writing (for cron)",
    )
    parser.set_defaults(run=_run_sweep_cases)


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (  # type: ignore[type-arg]
    _add_migrate,
    _add_seed,
    _add_run,
    _add_cluster,
    _add_announce,
    _add_agent,
    _add_report,
    _add_sweep_cases,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.cli", description="Maintenance commands for the Lorex assistant."
    )
    parser.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="the database (default: $DATABASE_URL, else SQLite at var/lorex.db)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_command in COMMANDS:
        add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.database_url_given = args.database_url is not None
    if args.database_url is None:
        args.database_url = database_url()
    try:
        exit_code: int = args.run(args)
    except CommandError as exc:
        return _fail(parser, str(exc), exc.exit_code)
    except ContentError as exc:
        return _fail(parser, str(exc), EXIT_BAD_INPUT)
    except OSError as exc:
        filename = f"{exc.filename}: " if exc.filename else ""
        return _fail(parser, f"{filename}{exc.strerror or exc}", EXIT_BAD_INPUT)
    except SQLAlchemyError as exc:
        # The driver's message can run over several lines; its first line says what failed.
        first_line = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return _fail(
            parser,
            f"database at {display_url(args.database_url)}: {first_line}",
            EXIT_UNUSABLE_DATABASE,
        )
    return exit_code


def _fail(parser: argparse.ArgumentParser, message: str, exit_code: int) -> int:
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

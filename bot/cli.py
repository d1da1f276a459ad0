"""Maintenance commands: ``python -m bot.cli <command>``.

    migrate             bring the database schema up to date (alembic upgrade head)
    seed [--csv PATH]   add or update registered devices from a CSV (default data/devices.csv)
    run                 start the action server and the Rasa server (what `make run` ends in)
    announce            wait until both servers answer, then print their URLs (a Procfile process)

Each command prints one line saying what it did. Problems print one line on stderr, no traceback:
exit code 2 for bad input (a missing or malformed file), 1 for a database that cannot be used.

To add a command: write ``_add_<name>(subcommands)`` that adds its parser and sets ``run`` to a
function taking the parsed arguments and returning the exit code, and list it in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
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
        serve.run({**os.environ, "DATABASE_URL": args.database_url})
    except ValueError as exc:  # a setting that cannot be used, named in the message
        raise CommandError(str(exc)) from exc
    return EXIT_OK  # not reached: run() replaces this process


def _add_run(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("run", help="start the assistant's servers (Ctrl-C stops)")
    parser.set_defaults(run=_run_run)


def _run_announce(args: argparse.Namespace) -> int:
    from bot import serve

    try:
        return serve.announce({**os.environ, "DATABASE_URL": args.database_url})
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _add_announce(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("announce", help="print the URLs once the servers answer")
    parser.set_defaults(run=_run_announce)


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (  # type: ignore[type-arg]
    _add_migrate,
    _add_seed,
    _add_run,
    _add_announce,
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

"""Command line: parse options, load the pathway and catalogues, open the database, start Qt.

Exit codes: 0 success; 2 bad command line; 3 the database cannot be opened; 4 the pathway
template or a catalogue is broken; 5 the screenshot could not be written; 6 sign-in failed or
is impossible without a screen; 7 the audit trail's hash chain is broken (``verify``); 8 a
backup or restore failed.

Subcommands (``verify``, ``backup``, ``restore``, ``create-admin``) run without a window; they
are in `pathway_app.commands`. Exit 10: ``migrate-data`` failed or its copy did not verify.

The database (issue 7): ``--db``, else ``$PATHWAY_DB``, else ``url`` in the ``[database]``
section of the settings file, else the SQLite file in the data folder. A PostgreSQL password
never goes on the command line (it stays in the shell's history and shows in the process
list): libpq reads it from ~/.pgpass (PGPASSFILE) or PGPASSWORD.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pathway_app import __version__

EXIT_DATABASE = 3
EXIT_CONFIGURATION = 4
EXIT_SCREENSHOT = 5
EXIT_SIGN_IN = 6
EXIT_AUDIT_BROKEN = 7
EXIT_BACKUP = 8
EXIT_MIGRATE_DATA = 10  # 9 is an export failure (export_command.EXIT_EXPORT)
PASSWORD_ENV = "PATHWAY_PASSWORD"
NOW_ENV = "PATHWAY_NOW"
USER_ENV = "PATHWAY_USER"


def _parse_now(text: str) -> datetime:
    from dateutil.parser import isoparse

    try:
        moment = isoparse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time such as 2026-11-26T09:30 or 2026-11-26T09:30Z"
        ) from exc
    # A time without a zone is the workstation's local time, as a nurse would mean it.
    return moment if moment.tzinfo else moment.astimezone()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pathway-app",
        description=(
            "Care Pathway Tracker: follows patients with a constant-flow implantable infusion "
            "pump from preparation to years of refills."
        ),
        epilog=(
            "Environment: PATHWAY_DB (database), PATHWAY_DATA_DIR (data folder), "
            "PATHWAY_NOW (fixed clock), PATHWAY_USER (user to sign in as), PATHWAY_PASSWORD "
            "(that user's password, for automation), PATHWAY_LOCK_MINUTES (idle lock), "
            "PATHWAY_RESOURCES_DIR (a clinic's own pathway and catalogue files)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        help="database file or SQLAlchemy URL (default: $PATHWAY_DB, else pathway.sqlite3 in "
        "the per-user data folder)",
    )
    where.add_argument(
        "--demo",
        action="store_true",
        help="open a separate demo database, recreated with about 30 synthetic patients",
    )
    parser.add_argument(
        "--screenshot",
        metavar="FILE",
        type=Path,
        help="build the main window, save it as a PNG without needing a screen, and exit",
    )
    parser.add_argument(
        "--now",
        metavar="DATETIME",
        type=_parse_now,
        help="fix the app's clock (ISO 8601; no zone means local time), for training and "
        "automation; a banner shows it",
    )
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="the user to sign in as (default: $PATHWAY_USER); with $PATHWAY_PASSWORD set, "
        "signs in without the sign-in dialog (automation)",
    )
    from pathway_app.commands import add_subcommands

    add_subcommands(parser)
    return parser


PASSWORD_ON_COMMAND_LINE = (
    "{option}: a password on the command line stays in the shell's history and shows in the "
    "process list. Remove it from the URL and put it in the PostgreSQL password file "
    "(~/.pgpass, or the file named by PGPASSFILE) or in PGPASSWORD."
)


def _has_password(path_or_url: str | None) -> bool:
    if not path_or_url or "://" not in path_or_url:
        return False
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(path_or_url).password is not None
    except ArgumentError:
        return False  # open_database says what is wrong with it


def _configured_database() -> str | None:
    """``url`` in the settings file's ``[database]`` section (the clinic's shared database)."""
    from pathway_app import paths

    settings = paths.settings_file()
    if not settings.is_file():
        return None
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(settings, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None  # a broken settings file must not stop the app; the default file is used
    value = parser.get("database", "url", fallback="").strip().strip('"')
    return value or None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for option, value in (
        ("--db", args.db),
        ("--from", getattr(args, "source", None)),
        ("--to", getattr(args, "target", None)),
    ):
        if _has_password(value):
            parser.error(PASSWORD_ON_COMMAND_LINE.format(option=option))
    if args.db is None and not args.demo and not os.environ.get("PATHWAY_DB"):
        args.db = _configured_database()
    if args.now is None and os.environ.get(NOW_ENV):
        try:
            args.now = _parse_now(os.environ[NOW_ENV])
        except argparse.ArgumentTypeError as exc:
            parser.error(f"{NOW_ENV}: {exc}")
    if getattr(args, "command", None):
        from pathway_app.commands import run_command

        return run_command(parser, args)
    if args.screenshot is not None:
        # A screenshot needs no screen: render offscreen unless a platform was chosen.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from pathway_app.app import AppOptions, run

    user = args.user or os.environ.get(USER_ENV) or None
    return run(
        AppOptions(
            database=args.db,
            demo=args.demo,
            screenshot=args.screenshot,
            now=args.now,
            actor=user or _login_name(),
            user=user,
            password=os.environ.get(PASSWORD_ENV) or None,
        )
    )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # getuser raises various errors when no login name is known
        return "unknown user"


if __name__ == "__main__":
    sys.exit(main())

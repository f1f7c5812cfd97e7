"""Command line: parse options, load the pathway and catalogues, open the database, start Qt.

Exit codes: 0 success; 2 bad command line; 3 the database cannot be opened; 4 the pathway
template or a catalogue is broken; 5 the screenshot could not be written; 6 sign-in failed or
is impossible without a screen; 7 the audit trail's hash chain is broken (``verify``); 8 a
backup or restore failed.

Subcommands (``verify``, ``backup``, ``restore``, ``create-admin``) run without a window; they
are in `pathway_app.commands`.
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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

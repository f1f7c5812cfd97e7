"""Subcommands that run without a window: ``verify``, ``backup``, ``restore``, ``create-admin``,
``add-user``, ``export``, ``generate``, ``migrate-data``.

They coexist with the top-level options (``pathway-app --db X verify`` and
``pathway-app verify --db X`` are the same). Anyone who can run them can already read and
write the database file, so they ask for no sign-in; ``restore`` needs ``--yes`` and what it
does is recorded in the audit trail.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path


def _add_db(sub: argparse.ArgumentParser) -> None:
    # SUPPRESS: when not given here, the top-level --db (or its default) stands.
    sub.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        default=argparse.SUPPRESS,
        help="database file or URL (default: as for the app: $PATHWAY_DB, the settings file, "
        "else the data folder)",
    )


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    verify = subs.add_parser(
        "verify",
        help="check the audit trail's hash chain; exit 7 naming the first broken entry",
        description="Check every link of the audit trail's hash chain. Exit 0 when intact, "
        "7 with the id of the first broken entry, 3 when the database cannot be opened.",
    )
    _add_db(verify)
    backup = subs.add_parser(
        "backup",
        help="copy the database consistently (SQLite backup API), keeping the newest N",
        description="Take a consistent copy of the database, even while the app runs.",
    )
    _add_db(backup)
    backup.add_argument(
        "--to", metavar="DIR", type=Path, help="backup folder (default: 'backups' beside the db)"
    )
    backup.add_argument(
        "--keep",
        metavar="N",
        type=int,
        default=None,
        help="keep this database's newest N backups in the folder (default 14)",
    )
    restore = subs.add_parser(
        "restore",
        help="replace the database by a backup (the replaced one is kept aside); needs --yes",
        description="Replace the database by a backup. The current database is first copied "
        "aside as <name>.replaced-<time>.sqlite3 next to it.",
    )
    restore.add_argument("backup_file", metavar="FILE", type=Path, help="the backup to restore")
    _add_db(restore)
    restore.add_argument("--yes", action="store_true", help="confirm replacing the database")
    admin = subs.add_parser(
        "create-admin",
        help="create the first administrator of a new database (password from "
        "$PATHWAY_PASSWORD, else asked twice)",
    )
    _add_db(admin)
    admin.add_argument("--username", metavar="NAME", help="user name (asked when missing)")
    admin.add_argument("--display-name", metavar="NAME", default="", help="full name")
    add_user = subs.add_parser(
        "add-user",
        help="add a user, signed in as an administrator (--admin NAME with "
        "$PATHWAY_ADMIN_PASSWORD; the new password from $PATHWAY_PASSWORD)",
    )
    _add_db(add_user)
    add_user.add_argument("--username", metavar="NAME", required=True, help="new user name")
    add_user.add_argument(
        "--role", choices=("coordinator", "viewer", "administrator"), required=True
    )
    add_user.add_argument("--display-name", metavar="NAME", default="", help="full name")
    add_user.add_argument(
        "--admin", metavar="NAME", required=True, help="the administrator who adds the user"
    )
    # --- Issue 8: export (pathway_app.export_command) ---
    from pathway_app.export_command import add_export_subcommand

    add_export_subcommand(subs, _add_db)
    # --- Issue 9: generate (pathway_app.generate_command) ---
    from pathway_app.generate_command import add_generate_subcommand

    add_generate_subcommand(subs, _add_db)
    # --- Issue 7: migrate-data (pathway_app.migrate_data_command) ---
    from pathway_app.migrate_data_command import add_migrate_data_subcommand

    add_migrate_data_subcommand(subs)


def _say(message: str) -> None:
    print(f"pathway-app: {message}", file=sys.stderr)


def _database_path(args: argparse.Namespace) -> str:
    from pathway_app import paths

    if args.db:
        return str(args.db)
    if args.demo:
        return str(paths.demo_database())
    return paths.default_database()


def _sqlite_file(where: str) -> Path | None:
    """The database file, or None (with the reason said) for a database server."""
    from pathway_app.storage.backup import NOT_A_FILE_MESSAGE
    from pathway_app.storage.database import _sqlite_path, database_url

    if "://" not in where:
        return Path(where).expanduser().resolve()
    path = _sqlite_path(database_url(where))
    if path is None:
        _say(NOT_A_FILE_MESSAGE)
    return path


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from pathway_app.cli import EXIT_AUDIT_BROKEN, EXIT_BACKUP, EXIT_DATABASE, EXIT_SIGN_IN
    from pathway_app.storage.database import DatabaseOpenError, open_database

    if args.command == "migrate-data":  # issue 7: names its own two databases
        from pathway_app.migrate_data_command import run_migrate_data

        return run_migrate_data(args)
    where = _database_path(args)
    if args.command == "generate":  # issue 9: creates a new file, opens nothing
        from pathway_app.generate_command import run_generate

        return run_generate(args, where)
    if args.command == "restore" and not args.yes:
        parser.error("restore replaces the whole database: add --yes to confirm")
    if args.command in ("backup", "restore"):
        from pathway_app.storage.backup import (
            DEFAULT_KEEP,
            BackupError,
            backup_database,
            default_backup_folder,
            restore_backup,
        )

        path = _sqlite_file(where)
        if path is None:
            return EXIT_BACKUP
        if args.command == "backup":
            keep = args.keep if args.keep is not None else DEFAULT_KEEP
            if keep < 1:
                parser.error("--keep must be at least 1")
            try:
                target = backup_database(path, args.to or default_backup_folder(path), keep=keep)
            except BackupError as exc:
                _say(str(exc))
                return EXIT_BACKUP
            print(f"Backed up {path} to {target}")
            return 0
        try:
            aside = restore_backup(args.backup_file.expanduser().resolve(), path)
        except BackupError as exc:
            _say(str(exc))
            return EXIT_BACKUP
        try:
            db = open_database(str(path))  # a backup of an older version is migrated now
        except DatabaseOpenError as exc:
            _say(str(exc))
            return EXIT_DATABASE
        try:
            _record_restore(db, args.backup_file, aside)
        finally:
            db.close()
        print(f"Restored {path} from {args.backup_file}; the replaced database is kept at {aside}")
        return 0

    try:
        db = open_database(where)
    except DatabaseOpenError as exc:
        _say(str(exc))
        return EXIT_DATABASE
    try:
        if args.command == "verify":
            from pathway_app.storage.audit import verify_chain
            from pathway_app.storage.database import integrity_problem

            # Large files skip the whole-file check when the app opens them (issue 9); here
            # every file gets it.
            file = db.engine.url.database if db.engine.dialect.name == "sqlite" else None
            problem = integrity_problem(Path(file)) if file else None
            if problem is not None:
                _say(
                    f"{db.info.display_name} fails SQLite's integrity check ({problem}). "
                    "Restore it from a backup and tell the clinic's IT contact."
                )
                return EXIT_DATABASE
            if file:
                print("Database file intact: SQLite's integrity check passes.")
            with db.reading() as session:
                report = verify_chain(session)
            if report.ok:
                print(f"Audit trail intact: {report.checked} entries, every link verifies.")
                return 0
            _say(
                f"the audit trail is broken at entry {report.first_broken_id}: {report.problem}. "
                f"The {report.checked - 1} entries before it verify. Keep this database and its "
                "backups as they are and tell the clinic's IT contact."
            )
            return EXIT_AUDIT_BROKEN
        if args.command == "create-admin":
            return _create_admin(db, args, EXIT_SIGN_IN)
        if args.command == "add-user":
            return _add_user(db, args, EXIT_SIGN_IN)
        # --- Issue 8: export ---
        if args.command == "export":
            from pathway_app.export_command import run_export

            return run_export(parser, args, db)
    finally:
        db.close()
    raise AssertionError(args.command)


def _command_line_actor() -> str:
    try:
        return f"command line ({getpass.getuser()})"
    except Exception:  # getuser raises various errors when no login name is known
        return "command line"


def _record_restore(db: object, backup: Path, aside: Path) -> None:
    from datetime import UTC, datetime

    from pathway_app.storage import repository as repo
    from pathway_app.storage.database import Database

    assert isinstance(db, Database)
    with db.writing() as session:
        repo.add_audit(
            session,
            at=datetime.now(UTC),
            actor=_command_line_actor(),
            action="database.restored",
            entity="database",
            entity_id=0,
            new={"backup": str(backup), "replaced_database_kept_at": str(aside)},
        )


def _create_admin(db: object, args: argparse.Namespace, failure: int) -> int:
    from pathway_app.cli import PASSWORD_ENV
    from pathway_app.domain.clock import SystemClock
    from pathway_app.domain.errors import DomainError, ValidationError
    from pathway_app.domain.users import UserDraft
    from pathway_app.services.users import create_first_administrator, has_users
    from pathway_app.storage.database import Database

    assert isinstance(db, Database)
    if has_users(db):
        _say("this database already has users; an administrator adds more in the app.")
        return failure
    username = args.username or input("User name of the first administrator: ").strip()
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        if not sys.stdin.isatty():
            _say(f"set {PASSWORD_ENV} or run this in a terminal to type the password.")
            return failure
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            _say("the two passwords differ; nothing was created.")
            return failure
    try:
        signed = create_first_administrator(
            db, SystemClock(), UserDraft(username, args.display_name, "administrator", password)
        )
    except ValidationError as exc:
        for message in exc.field_errors.values():
            _say(message)
        return 2
    except DomainError as exc:
        _say(str(exc))
        return failure
    print(f"Created the administrator {signed.username}.")
    return 0


ADMIN_PASSWORD_ENV = "PATHWAY_ADMIN_PASSWORD"


def _add_user(db: object, args: argparse.Namespace, failure: int) -> int:
    from pathway_app.cli import PASSWORD_ENV
    from pathway_app.domain.clock import SystemClock
    from pathway_app.domain.errors import DomainError, ValidationError
    from pathway_app.domain.users import UserDraft
    from pathway_app.services.users import authenticate, create_user
    from pathway_app.sign_in_context import context_for

    admin_password = os.environ.get(ADMIN_PASSWORD_ENV)
    password = os.environ.get(PASSWORD_ENV)
    if not admin_password or not password:
        _say(f"set {ADMIN_PASSWORD_ENV} (the administrator's) and {PASSWORD_ENV} (the new user's).")
        return failure
    clock = SystemClock()
    try:
        signed = authenticate(db, clock, args.admin, admin_password)  # type: ignore[arg-type]
        ctx = context_for(db, clock, signed)  # type: ignore[arg-type]
        create_user(ctx, UserDraft(args.username, args.display_name, args.role, password))
    except ValidationError as exc:
        for message in exc.field_errors.values():
            _say(message)
        return 2
    except DomainError as exc:
        _say(str(exc))
        return failure
    print(f"Added the {args.role} {args.username.strip()}.")
    return 0

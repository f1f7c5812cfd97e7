"""``pathway-app migrate-data``: copy a single-workstation database into a new shared one
(issue 7).

    pathway-app migrate-data --from old.sqlite3 --to postgresql+psycopg://clinic@dbhost/clinic

The target must be empty (it is created and migrated when new). The password of a server comes
from the PostgreSQL password file (~/.pgpass, or PGPASSFILE) or PGPASSWORD, never from the
command line. Exit 0 when every table's row count matches and the audit chain verifies.
"""

from __future__ import annotations

import argparse
import sys


def add_migrate_data_subcommand(
    subs: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    migrate = subs.add_parser(
        "migrate-data",
        help="copy a database (e.g. this workstation's file) into a new, empty shared "
        "PostgreSQL database, then verify row counts and the audit chain",
        description="Copy every table, with its ids, into an empty database in one "
        "transaction, then compare the row counts of every table and verify the audit trail's "
        "hash chain. Passwords come from ~/.pgpass (PGPASSFILE) or PGPASSWORD.",
    )
    migrate.add_argument(
        "--from",
        dest="source",
        metavar="PATH_OR_URL",
        required=True,
        help="the database to copy (a SQLite file or a URL)",
    )
    migrate.add_argument(
        "--to",
        dest="target",
        metavar="URL",
        required=True,
        help="the new, empty database, e.g. postgresql+psycopg://user@host/dbname",
    )


def run_migrate_data(args: argparse.Namespace) -> int:
    from pathway_app.cli import EXIT_DATABASE, EXIT_MIGRATE_DATA
    from pathway_app.storage.database import DatabaseOpenError
    from pathway_app.storage.migrate_data import MigrateDataError, migrate_data

    def say(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        report = migrate_data(args.source, args.target, progress=say)
    except DatabaseOpenError as exc:
        print(f"pathway-app: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except MigrateDataError as exc:
        print(f"pathway-app: {exc}", file=sys.stderr)
        return EXIT_MIGRATE_DATA
    print(f"Copied {report.source} to {report.target}:")
    width = max(len(table.name) for table in report.tables)
    for table in report.tables:
        mark = "ok" if table.source == table.target else "DIFFERENT"
        print(f"  {table.name:<{width}}  {table.source:>8} -> {table.target:>8}  {mark}")
    chain = report.target_chain
    if chain.ok:
        print(f"Audit trail intact in the target: {chain.checked} entries, every link verifies.")
    else:
        print(
            f"pathway-app: the target's audit trail is broken at entry {chain.first_broken_id}: "
            f"{chain.problem}.",
            file=sys.stderr,
        )
        if not report.source_chain.ok:
            print(
                "pathway-app: the source's audit trail was already broken at entry "
                f"{report.source_chain.first_broken_id}.",
                file=sys.stderr,
            )
    if not report.counts_match:
        print("pathway-app: the row counts differ (see above).", file=sys.stderr)
    return 0 if report.ok else EXIT_MIGRATE_DATA

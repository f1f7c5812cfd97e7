"""``pathway-app generate``: a synthetic clinic of any size, for benchmarks (issue 9).

    pathway-app generate --episodes 100000 --db /tmp/clinic.sqlite3 [--seed N] [--now ISO]

The file must not exist yet. Deterministic for a given seed, size and ``--now`` (default: the
current time). See `pathway_app.services.synthetic` for how the data is made.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

EXIT_GENERATE = 2


def add_generate_subcommand(
    subs: argparse._SubParsersAction[argparse.ArgumentParser],
    add_db: Callable[[argparse.ArgumentParser], None],
) -> None:
    from pathway_app.services.synthetic import DEFAULT_HISTORY_DAYS, DEFAULT_PROTOTYPES

    generate = subs.add_parser(
        "generate",
        help="create a new database holding a synthetic clinic of N episodes (benchmarks)",
        description="Create a synthetic clinic: patients across all stages, years of refills, "
        "follow-ups, complications and a verifying audit trail, made by the app's own rules. "
        "Deterministic for a seed, a size and --now.",
    )
    add_db(generate)
    generate.add_argument("--episodes", type=int, required=True, metavar="N")
    generate.add_argument("--seed", type=int, default=2026)
    generate.add_argument(
        "--prototypes",
        type=int,
        default=DEFAULT_PROTOTYPES,
        metavar="N",
        help=f"distinct episodes made through the services, then copied "
        f"(default {DEFAULT_PROTOTYPES})",
    )
    generate.add_argument(
        "--history-days",
        type=int,
        default=DEFAULT_HISTORY_DAYS,
        metavar="DAYS",
        help=f"how far back the oldest procedure is (default {DEFAULT_HISTORY_DAYS})",
    )


def run_generate(args: argparse.Namespace, where: str) -> int:
    from pathway_app.app import load_configuration
    from pathway_app.services.synthetic import generate_clinic

    if "://" in where:
        from pathway_app.storage.database import _sqlite_path, database_url

        path = _sqlite_path(database_url(where))
        if path is None:
            # Issue 7: the bulk loader writes SQLite files only.
            print(
                "pathway-app: generate writes a new SQLite file. To try a large clinic on "
                "PostgreSQL, generate a file, then copy it with: pathway-app migrate-data "
                "--from FILE --to URL",
                file=sys.stderr,
            )
            return EXIT_GENERATE
        where = str(path)
    now = args.now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.astimezone(UTC)
    template, catalogue = load_configuration()
    started = time.perf_counter()
    try:
        report = generate_clinic(
            Path(where),
            episodes=args.episodes,
            template=template,
            catalogue=catalogue,
            now=now,
            seed=args.seed,
            prototypes=args.prototypes,
            history_days=args.history_days,
            progress=lambda message: print(message, file=sys.stderr),
        )
    except ValueError as exc:
        print(f"pathway-app: {exc}", file=sys.stderr)
        return EXIT_GENERATE
    print(
        f"Generated {report.episodes} episodes ({report.audit_entries} audit entries) in "
        f"{where} in {time.perf_counter() - started:.1f} s"
    )
    return 0

"""Issue 8: ``pathway-app export KIND --out PATH`` — the exports of the window, without one.

Kinds: ``csv`` (the refill worklist), ``ics`` (one patient's refills and follow-ups with
``--mrn``, else the whole clinic's from ``--from`` to ``--to``), ``summary-pdf`` and
``refill-card`` (PDF, painted with Qt offscreen), ``fhir`` (an R4 Bundle, JSON). ``--mrn``
selects the patient's current episode (the newest open one, else the newest).

Reading patient data needs a signed-in user of any role: ``--user NAME`` (or $PATHWAY_USER)
with $PATHWAY_PASSWORD, as for the window's automation path. Every export is recorded in the
audit trail. Exit 0 on success; otherwise one line on stderr and: 2 bad command line, 3 the
database cannot be opened, 6 sign-in failed, 9 the export failed (nothing was written).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathway_app.services.context import ServiceContext

EXIT_EXPORT = 9
KINDS = ("summary-pdf", "refill-card", "ics", "csv", "fhir")
NEEDS_EPISODE = ("summary-pdf", "refill-card", "fhir")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-11-26") from exc


def add_export_subcommand(
    subs: argparse._SubParsersAction,
    add_db: Callable[[argparse.ArgumentParser], None],
) -> None:
    export = subs.add_parser(
        "export",
        help="write a PDF summary, a refill card, a calendar, the refill worklist as CSV or "
        "an episode as FHIR (signed in with --user and $PATHWAY_PASSWORD)",
        description="Export patient data to a file. Signs in as --user (or $PATHWAY_USER) with "
        "$PATHWAY_PASSWORD; any role may export. The file is written whole or not at all.",
    )
    add_db(export)
    export.add_argument("kind", choices=KINDS, metavar="KIND", help=" | ".join(KINDS))
    export.add_argument("--out", metavar="PATH", type=Path, required=True, help="file to write")
    export.add_argument("--mrn", metavar="MRN", help="the patient (their current episode)")
    export.add_argument("--from", dest="start", metavar="DATE", type=_day, help="ics: first day")
    export.add_argument("--to", dest="end", metavar="DATE", type=_day, help="ics: last day")
    export.add_argument("--overwrite", action="store_true", help="replace an existing file")
    export.add_argument(
        "--no-bom", action="store_true", help="csv: plain UTF-8 without a byte-order mark"
    )
    export.add_argument(
        "--user",
        dest="export_user",
        metavar="NAME",
        default=None,
        help="the user to sign in as (default: the top-level --user, else $PATHWAY_USER)",
    )


def _say(message: str) -> None:
    print(f"pathway-app: {message}", file=sys.stderr)


def run_export(parser: argparse.ArgumentParser, args: argparse.Namespace, db: object) -> int:
    from pathway_app.cli import EXIT_SIGN_IN, PASSWORD_ENV, USER_ENV
    from pathway_app.domain.clock import FixedClock, SystemClock
    from pathway_app.domain.errors import DomainError
    from pathway_app.services.export_files import ExportError, check_target
    from pathway_app.services.users import authenticate
    from pathway_app.sign_in_context import context_for
    from pathway_app.storage.database import Database

    assert isinstance(db, Database)
    if args.kind in NEEDS_EPISODE and not args.mrn:
        parser.error(f"export {args.kind} needs --mrn (the patient)")
    if args.start and args.end and args.end < args.start:
        parser.error("--to is before --from")
    out = args.out.expanduser()
    try:
        check_target(out, overwrite=args.overwrite)  # refuse before signing in or any work
    except ExportError as exc:
        _say(str(exc))
        return EXIT_EXPORT
    user = args.export_user or args.user or os.environ.get(USER_ENV)
    password = os.environ.get(PASSWORD_ENV)
    if not user or not password:
        _say(f"export reads patient data: give --user NAME and set {PASSWORD_ENV}.")
        return EXIT_SIGN_IN
    clock = FixedClock(args.now) if args.now is not None else SystemClock()
    try:
        signed = authenticate(db, clock, user, password)
    except DomainError as exc:
        _say(str(exc))
        return EXIT_SIGN_IN
    ctx = context_for(db, clock, signed)
    try:
        message = export(ctx, args.kind, out, mrn=args.mrn, start=args.start, end=args.end,
                         overwrite=args.overwrite, bom=not args.no_bom)  # fmt: skip
    except (ExportError, DomainError) as exc:
        _say(str(exc))
        return EXIT_EXPORT
    print(message)
    return 0


def export(
    ctx: ServiceContext,
    kind: str,
    out: Path,
    *,
    mrn: str | None = None,
    start: date | None = None,
    end: date | None = None,
    overwrite: bool = False,
    bom: bool = True,
) -> str:
    """Write one export and record it; returns the line to print. Raises ExportError or
    DomainError (nothing written)."""
    from pathway_app.services.export_files import record_export, write_atomic
    from pathway_app.services.exports_summary import current_episode_id

    episode_id = current_episode_id(ctx, mrn) if mrn else None
    left_out: tuple[str, ...] = ()
    if kind == "csv":
        from pathway_app.services.exports_csv import refill_worklist_csv
        from pathway_app.services.refill_views import refill_worklist

        rows = refill_worklist(ctx)
        if mrn:
            rows = [r for r in rows if r.mrn == mrn.strip()]
        write_atomic(out, refill_worklist_csv(rows, bom=bom), overwrite=overwrite)
        record_export(ctx, "csv", out, rows=len(rows))
        return f"Wrote {len(rows)} refill worklist rows to {out}"
    if kind == "ics":
        from pathway_app.services.exports_ics import calendar_bytes, clinic_events, patient_events

        if episode_id is not None:
            events = patient_events(ctx, episode_id, start=start, end=end)
            name = f"Pump care — {mrn}"
        else:
            events = clinic_events(ctx, start=start, end=end)
            name = "Pump clinic — refills and follow-ups"
        write_atomic(out, calendar_bytes(events, name=name, stamp=ctx.now()), overwrite=overwrite)
        record_export(ctx, "ics", out, episode_id=episode_id, events=len(events))
        return f"Wrote {len(events)} calendar events to {out}"
    assert episode_id is not None
    if kind == "fhir":
        from pathway_app.services.exports_fhir import episode_bundle_json

        data, left_out = episode_bundle_json(ctx, episode_id)
        write_atomic(out, data, overwrite=overwrite)
    else:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtWidgets import QApplication

        _app = QApplication.instance() or QApplication([sys.argv[0]])
        if kind == "summary-pdf":
            from pathway_app.ui.print_summary import summary_pdf_bytes

            data, left_out = summary_pdf_bytes(ctx, episode_id)
        else:
            from pathway_app.ui.print_card import card_pdf_bytes

            data, left_out = card_pdf_bytes(ctx, episode_id)
        write_atomic(out, data, overwrite=overwrite)
    record_export(ctx, kind, out, episode_id=episode_id, left_out=list(left_out))
    text = f"Wrote the {kind} of {mrn} to {out}"
    if left_out:
        text += "; left out: " + "; ".join(left_out)
    return text

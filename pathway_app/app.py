"""Composition root: builds the service context and the Qt application from the options."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pathway_app import paths
from pathway_app.domain.catalogues import Catalogue, load_catalogue
from pathway_app.domain.clock import Clock, FixedClock, SystemClock
from pathway_app.domain.errors import TemplateError
from pathway_app.domain.outcomes import OUTCOMES_FILE, load_outcomes  # issue 10
from pathway_app.domain.readiness import (
    HOLDS_FILE,
    READINESS_FILE,
    HoldRule,
    ReadinessConfig,
    check_against_template,
    load_holds,
    load_readiness,
)
from pathway_app.domain.recovery import RECOVERY_FILE, load_recovery
from pathway_app.domain.template import PathwayTemplate, load_template
from pathway_app.resources import resource_path, resources_dir
from pathway_app.services.context import ServiceContext
from pathway_app.storage.database import Database, DatabaseOpenError, open_database

TEMPLATE_FILE = ("pathways", "constant_flow_pump.toml")


@dataclass(frozen=True)
class AppOptions:
    database: str | None = None
    demo: bool = False
    screenshot: Path | None = None
    now: datetime | None = None
    actor: str = "unknown user"
    # Issue 4: who signs in. With both set, no sign-in dialog (automation); see sign_in.py.
    user: str | None = None
    password: str | None = None


def load_configuration() -> tuple[PathwayTemplate, Catalogue]:
    """Load and validate the pathway template and the catalogues (raises TemplateError).

    The preparation files (readiness.toml, holds.toml) are loaded and checked against the
    template here too, so a broken one stops the app at start; `load_preparation_configuration`
    returns them.
    """
    template = load_template(resource_path(*TEMPLATE_FILE))
    catalogue = load_catalogue(resources_dir())
    load_preparation_configuration(template)
    return template, catalogue


def load_preparation_configuration(
    template: PathwayTemplate,
) -> tuple[ReadinessConfig, dict[str, HoldRule]]:
    """Load readiness.toml and holds.toml and check the readiness gates and indications against
    the template's gate milestones (raises TemplateError naming the file and the key)."""
    readiness = load_readiness(resource_path(READINESS_FILE))
    holds = load_holds(resource_path(HOLDS_FILE))
    check_against_template(
        readiness,
        [i.key for i in template.indications],
        [m.key for stage in template.stages for m in stage.milestones if m.gate],
    )
    return readiness, holds


def make_clock(now: datetime | None) -> Clock:
    return FixedClock(now) if now is not None else SystemClock()


def open_demo_database(template: PathwayTemplate, catalogue: Catalogue, clock: Clock) -> Database:
    """Recreate the demo database so its dates are always relative to today."""
    from pathway_app.services.demo import seed_demo

    path = paths.demo_database()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_database(str(path))
    seed_demo(ServiceContext(db, template, catalogue, clock, "demo"))
    from pathway_app.services.users import seed_demo_users

    seed_demo_users(db, clock)  # issue 4: demo accounts with the documented demo password
    return db


def build_context(options: AppOptions) -> ServiceContext:
    """Everything but Qt. Raises TemplateError or DatabaseOpenError with readable messages."""
    template, catalogue = load_configuration()
    readiness, holds = load_preparation_configuration(template)
    # Issue 6: a broken recovery.toml stops the app at start with a message naming the key.
    recovery = load_recovery(resource_path(RECOVERY_FILE))
    outcomes = load_outcomes(resource_path(OUTCOMES_FILE))  # issue 10: refused at start if broken
    clock = make_clock(options.now)
    if options.demo:
        db = open_demo_database(template, catalogue, clock)
    else:
        db = open_database(options.database or paths.default_database())
    return ServiceContext(
        db,
        template,
        catalogue,
        clock,
        options.actor,
        readiness,
        holds,
        recovery=recovery,
        outcomes=outcomes,
    )


def _report(title: str, message: str) -> None:
    """Print the problem, and show it in a message box when there is a screen to show it on."""
    print(f"pathway-app: {message}", file=sys.stderr)
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if QGuiApplication.platformName() not in ("offscreen", "minimal"):
        QMessageBox.critical(None, title, message)
    del app


def run(options: AppOptions) -> int:
    from pathway_app.cli import EXIT_CONFIGURATION, EXIT_DATABASE, EXIT_SCREENSHOT

    try:
        ctx = build_context(options)
    except TemplateError as exc:
        _report("Care Pathway Tracker", f"The pathway configuration is broken: {exc}")
        return EXIT_CONFIGURATION
    except DatabaseOpenError as exc:
        _report("Care Pathway Tracker", str(exc))
        return EXIT_DATABASE

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from pathway_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Care Pathway Tracker")
    app.setOrganizationName("pathway-app")
    settings = None
    if options.screenshot is None:
        settings = QSettings(str(paths.settings_file()), QSettings.Format.IniFormat)
    # Issue 4: nobody sees patient data before signing in (a dialog, or --user with
    # $PATHWAY_PASSWORD for automation; the demo signs in its demo nurse).
    from pathway_app.ui.sign_in import SignInRequest, sign_in

    failure = sign_in(
        ctx,
        SignInRequest(
            user=options.user,
            password=options.password,
            demo=options.demo,
            interactive=options.screenshot is None,
        ),
        settings,
    )
    if failure is not None:
        ctx.db.close()
        return failure
    window = MainWindow(ctx, settings)
    if settings is not None and not options.demo:
        window.trust.start_automatic_backup()
    try:
        if options.screenshot is not None:
            return _screenshot(app, window, options.screenshot, EXIT_SCREENSHOT)
        from pathway_app.ui import error_hook

        error_hook.install(window)
        window.show()
        return app.exec()
    finally:
        ctx.db.close()


def _screenshot(app: object, window: object, target: Path, failure_code: int) -> int:
    from PySide6.QtWidgets import QApplication

    from pathway_app.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    window.show()
    # Open the most urgent refill on its pump page, so the picture shows what a coordinator
    # sees first: the refill worklist, the episode and its reservoir chart.
    window.refill_worklist.table.selectRow(0)
    window.refill_worklist.open_selected()
    window.episode_view.tabs.setCurrentWidget(window.pump_page)
    QApplication.processEvents()
    if not window.grab().save(str(target), "PNG"):
        print(f"pathway-app: the screenshot could not be written to {target}", file=sys.stderr)
        return failure_code
    window.close()
    return 0
